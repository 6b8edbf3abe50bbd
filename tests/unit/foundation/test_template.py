"""template.yaml declares the whole system, routes every incoming event, and names its resources."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from consent_sync.events import INCOMING

ROOT = Path(__file__).resolve().parents[3]


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        k: v["Properties"]
        for k, v in template["Resources"].items()
        if v["Type"] == "AWS::Serverless::Function"
    }


def test_every_handler_the_template_names_imports(template: dict[str, Any]) -> None:
    for name, props in functions(template).items():
        module_name, _, attribute = props["Handler"].rpartition(".")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, attribute)), name


def test_one_function_per_row_of_the_design(template: dict[str, Any]) -> None:
    assert set(functions(template)) == {
        "SettingsFunction",
        "ImportFunction",
        "ScheduledSyncFunction",
        "PresendFunction",
        "PlatformConsentFunction",
        "ReconcileFunction",
        # SuperOffice's webhooks: the receiver (a function URL) and the batcher of its pulls.
        "WebhookReceiverFunction",
        "WebhookPullFunction",
    }


def test_every_incoming_detail_type_reaches_exactly_one_function(template: dict[str, Any]) -> None:
    routed: dict[str, list[str]] = {}
    for name, props in functions(template).items():
        for event in props.get("Events", {}).values():
            if event["Type"] == "EventBridgeRule":
                assert event["Properties"]["EventBusName"] == {"Ref": "EventBus"}
                for detail_type in event["Properties"]["Pattern"]["detail-type"]:
                    routed.setdefault(detail_type, []).append(name)
    assert set(routed) == set(INCOMING)
    assert all(len(targets) == 1 for targets in routed.values()), routed


def test_schedule_and_queue(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    sync_events = functions(template)["ScheduledSyncFunction"]["Events"]
    assert sync_events["Every30Minutes"]["Properties"]["Schedule"] == "rate(30 minutes)"
    reconcile = functions(template)["ReconcileFunction"]
    sqs = reconcile["Events"]["Chunks"]["Properties"]
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumConcurrency" in sqs["ScalingConfig"]
    queue = resources["ReconcileQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * reconcile["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["ReconcileDeadLetterQueue", "Arn"]
    }


def test_globals(template: dict[str, Any]) -> None:
    function_globals = template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    variables = function_globals["Environment"]["Variables"]
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"} <= set(
        variables
    )


def _walk(value: Any) -> list[Any]:
    found = [value]
    if isinstance(value, dict):
        for v in value.values():
            found += _walk(v)
    elif isinstance(value, list):
        for v in value:
            found += _walk(v)
    return found


def test_policies_name_their_resources(template: dict[str, Any]) -> None:
    for name, props in functions(template).items():
        for policy in props["Policies"]:
            assert isinstance(policy, dict), f"{name}: managed policy names are too broad"
            ((kind, params),) = policy.items()
            if kind == "Statement":
                # Where no SAM policy template fits (creating secrets): actions named, resources named.
                for statement in params:
                    assert statement["Effect"] == "Allow"
                    assert all("*" not in action for action in statement["Action"]), name
                    assert statement["Resource"] != "*", f"{name}: a statement on every resource"
                continue
            assert kind.endswith("Policy"), f"{name}: {kind} is not a SAM policy template"
            assert params, f"{name}: {kind} names no resource"
            assert all(v != "*" for v in _walk(params)), f"{name}: {kind} uses a wildcard resource"


def test_tables_serve_the_access_patterns(template: dict[str, Any]) -> None:
    table = template["Resources"]["ConsentTable"]["Properties"]
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {
        "ChangedIndex",
        "PersonIndex",
        "PendingIndex",
        "DecisionIndex",
    }
    idempotency = template["Resources"]["IdempotencyTable"]["Properties"]
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


def test_bucket_is_private_encrypted_and_expires(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["ArtifactsBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == {
        "Ref": "ArtifactRetentionDays"
    }


def test_dead_letter_queues_have_alarms(template: dict[str, Any]) -> None:
    alarmed = {
        r["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    }
    assert alarmed == {
        "ReconcileDeadLetterQueue",
        "InteractiveDeadLetterQueue",
        "EventsDeadLetterQueue",
        "WebhookPullDeadLetterQueue",
    }
