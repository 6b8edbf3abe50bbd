"""Provisioning: everything comes from the template's own properties."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.local import LocalStack, local_stack
from devtools.local.template import load_template_document

pytestmark = pytest.mark.xdist_group("local-runtime")

REPO_TEMPLATE = Path(__file__).parents[3] / "template.yaml"


def test_fixture_resources_match_the_template(stack: LocalStack, aws: Any) -> None:
    # Given the fixture template's own table definition
    table_properties = stack.template.document["Resources"]["Table"]["Properties"]

    # When the created table is described
    table = aws("dynamodb").describe_table(TableName=stack.resources["Table"])["Table"]

    # Then keys, attributes and indexes are the template's, and TTL is on
    assert table["KeySchema"] == table_properties["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(
        table_properties["AttributeDefinitions"], key=str
    )
    assert [(index["IndexName"], index["KeySchema"]) for index in table["GlobalSecondaryIndexes"]] == [
        (index["IndexName"], index["KeySchema"]) for index in table_properties["GlobalSecondaryIndexes"]
    ]
    ttl = aws("dynamodb").describe_time_to_live(TableName=stack.resources["Table"])["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")

    # And the work queue redrives to its dead-letter queue after the template's receive count
    attributes = aws("sqs").get_queue_attributes(
        QueueUrl=stack.resources["WorkQueue"], AttributeNames=["All"]
    )["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive == {
        "deadLetterTargetArn": stack.template.get_att("WorkDeadLetterQueue", "Arn"),
        "maxReceiveCount": 2,
    }
    assert attributes["VisibilityTimeout"] == "30"

    # And the bucket, its public access block and lifecycle exist
    bucket = stack.resources["Bucket"]
    assert bucket == bucket.lower()
    block = aws("s3").get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert aws("s3").get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["Expiration"] == {
        "Days": 7
    }

    # And the rules carry the template's patterns; the schedule sits on the default bus
    rule = aws("events").describe_rule(
        Name=stack.runtime.routing.rules[0].rule_name, EventBusName=stack.resources["Bus"]
    )
    assert json.loads(rule["EventPattern"]) == {"source": ["fixture.app"], "detail-type": ["Thing Happened"]}
    (tick,) = stack.runtime.schedule_routes("TickFunction")
    assert aws("events").describe_rule(Name=tick.rule_name)["ScheduleExpression"] == "rate(5 minutes)"

    # And what has no local meaning is listed, not created; conditional resources are absent
    assert stack.report.not_provisioned["FailedEventsAlarm"] == "AWS::CloudWatch::Alarm"
    assert "ProdOnlyQueue" not in stack.resources
    assert stack.outputs == {"BusName": stack.resources["Bus"], "WorkQueueUrl": stack.resources["WorkQueue"]}


@pytest.mark.skipif(not REPO_TEMPLATE.is_file(), reason="template.yaml not written yet")
def test_repository_template_provisions_fully() -> None:
    # Given the project's template
    document = load_template_document(REPO_TEMPLATE)
    kinds: dict[str, list[str]] = {}
    for logical_id, resource in document["Resources"].items():
        if "Condition" not in resource:
            kinds.setdefault(resource["Type"], []).append(logical_id)

    # When it is brought up locally
    with local_stack(template=REPO_TEMPLATE, port=0, stack_name=f"cs-{uuid.uuid4().hex[:8]}") as stack:
        region = stack.template.region

        def aws(service: str) -> Any:
            return boto3.client(service, endpoint_url=stack.endpoint_url, region_name=region)

        # Then every table, queue, bucket and bus of the template exists
        tables = set(aws("dynamodb").list_tables()["TableNames"])
        assert {stack.resources[name] for name in kinds.get("AWS::DynamoDB::Table", [])} <= tables
        queues = set(aws("sqs").list_queues(QueueNamePrefix=stack.template.stack_name).get("QueueUrls", []))
        assert {stack.resources[name] for name in kinds.get("AWS::SQS::Queue", [])} <= queues
        buckets = {bucket["Name"] for bucket in aws("s3").list_buckets()["Buckets"]}
        assert {stack.resources[name] for name in kinds.get("AWS::S3::Bucket", [])} <= buckets
        buses = {bus["Name"] for bus in aws("events").list_event_buses()["EventBuses"]}
        assert {stack.resources[name] for name in kinds.get("AWS::Events::EventBus", [])} <= buses

        # And every function event has its rule (or SQS source), each rule its tap queue
        rules = {
            (rule.get("EventBusName", "default"), rule["Name"])
            for bus in buses
            for rule in aws("events").list_rules(EventBusName=bus)["Rules"]
        }
        expected_events = sum(
            len(resource["Properties"].get("Events") or {})
            for resource in document["Resources"].values()
            if resource["Type"] == "AWS::Serverless::Function"
        )
        routing = stack.runtime.routing
        assert len(routing.rules) + len(routing.queues) == expected_events
        assert {(route.bus_name, route.rule_name) for route in routing.rules} <= rules
        assert {stack.template.queue_url(route.tap_queue_name) for route in routing.rules} <= queues
        assert {stack.template.queue_url(source.queue_name) for source in routing.queues} <= queues
        # And the dashboard is stored with every name in its body resolved to the local stack's
        (dashboard,) = kinds["AWS::CloudWatch::Dashboard"]
        body = aws("cloudwatch").get_dashboard(DashboardName=stack.outputs["DashboardName"])["DashboardBody"]
        assert stack.report.created[dashboard] == "AWS::CloudWatch::Dashboard"
        assert "${" not in body
        names = json.dumps(json.loads(body))
        for function in stack.runtime.functions.values():
            assert f'"FunctionName", "{function.name}"' in names, function.logical_id
        assert stack.resources["ReconcileQueue"].rsplit("/", 1)[-1] in names
        # And every output resolved
        assert set(stack.outputs) == {
            name for name, output in (document.get("Outputs") or {}).items() if "Condition" not in output
        }
