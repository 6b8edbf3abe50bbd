"""`consent-sync local env-json` end to end: the file `sam local invoke --env-vars` takes, checked against
what `consent-sync local up` created (every variable of every function, none left as a logical id)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devtools.local.template import load_template_document
from tests.e2e.conftest import ROOT, Cli

CONTAINER_ENDPOINT = "http://172.17.0.1:4566"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template_document(ROOT / "template.yaml")


def declared_variables(template: dict[str, Any]) -> dict[str, set[str]]:
    """Function logical id → the variables the template declares for it (Globals and its own)."""
    shared = set(template["Globals"]["Function"]["Environment"]["Variables"])
    return {
        logical_id: shared | set(((resource["Properties"].get("Environment") or {}).get("Variables")) or {})
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def test_env_json_gives_every_function_the_local_stacks_real_values(
    cli: Cli, template: dict[str, Any], tmp_path: Path
) -> None:
    # When the operator writes env.json for a container that reaches the host on the bridge's gateway
    target = tmp_path / "env.json"
    result = cli("local", "env-json", "--output", str(target), "--container-endpoint", CONTAINER_ENDPOINT)
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(target.read_text())

    # Then every function of the template has every variable it declares, and no value is a logical id
    declared = declared_variables(template)
    assert set(document) == set(declared)
    logical_ids = set(template["Resources"])
    for function, variables in document.items():
        assert set(variables) == declared[function], function
        assert all(isinstance(value, str) for value in variables.values()), function
        assert not logical_ids & set(variables.values()), (function, logical_ids & set(variables.values()))
        assert variables["AWS_ENDPOINT_URL"] == CONTAINER_ENDPOINT

    # And the values name what `local up` created: tables, queues, bus, bucket, secret prefix
    variables = document["ReconcileFunction"]
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cli.aws("cloudformation").describe_stacks(StackName=cli.stack)["Stacks"][0]["Outputs"]
    }
    assert variables["TABLE_NAME"] == outputs["ConsentTableName"]
    assert variables["IDEMPOTENCY_TABLE_NAME"] == outputs["IdempotencyTableName"]
    assert variables["ARTIFACTS_BUCKET"] == outputs["ArtifactsBucketName"]
    assert variables["EVENT_BUS_NAME"] == outputs["EventBusName"]
    assert variables["SECRET_PREFIX"] == outputs["SecretPrefix"]
    for name, output in (
        ("RECONCILE_QUEUE_URL", "ReconcileQueueUrl"),
        ("INTERACTIVE_QUEUE_URL", "InteractiveQueueUrl"),
        ("EVENTS_DLQ_URL", "EventsDeadLetterQueueUrl"),
    ):
        # The same queue, addressed through the container's view of the host
        assert variables[name] == outputs[output].replace(cli.endpoint_url, CONTAINER_ENDPOINT), name
    dynamodb = cli.aws("dynamodb")
    for table in (variables["TABLE_NAME"], variables["IDEMPOTENCY_TABLE_NAME"]):
        assert dynamodb.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"
    cli.aws("s3").head_bucket(Bucket=variables["ARTIFACTS_BUCKET"])
    cli.aws("events").describe_event_bus(Name=variables["EVENT_BUS_NAME"])


def test_env_json_prints_to_stdout_with_the_default_endpoint(cli: Cli) -> None:
    result = cli("local", "env-json", "--output", "-")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert {variables["AWS_ENDPOINT_URL"] for variables in document.values()} == {
        "http://host.docker.internal:4566"
    }
