"""template.yaml: alarms that can arrive and that cover failures, log retention, and the stage gate."""

from __future__ import annotations

from typing import Any

import pytest

from .test_template import functions


def _alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]


def test_the_alarm_topic_is_under_a_key_cloudwatch_may_use(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    key_ref = resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"]
    # Not the AWS-managed alias/aws/sns: CloudWatch cannot publish to a topic under it.
    assert key_ref == {"Fn::GetAtt": ["AlarmTopicKey", "Arn"]}
    key = resources[key_ref["Fn::GetAtt"][0]]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    cloudwatch = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s["Effect"] == "Allow" and s["Principal"].get("Service") == "cloudwatch.amazonaws.com"
    ]
    assert len(cloudwatch) == 1
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch[0]["Action"])


def test_every_alarm_notifies_the_topic(template: dict[str, Any]) -> None:
    alarms = _alarms(template)
    assert alarms
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_alarms_on_errors_and_throttles(template: dict[str, Any], metric: str) -> None:
    alarmed = {
        a["Dimensions"][0]["Value"]["Ref"]
        for a in _alarms(template)
        if a["Namespace"] == "AWS/Lambda" and a["MetricName"] == metric
    }
    assert alarmed == set(functions(template))


def test_the_reconcile_queue_alarms_on_its_oldest_message(template: dict[str, Any]) -> None:
    (age,) = [a for a in _alarms(template) if a["MetricName"] == "ApproximateAgeOfOldestMessage"]
    assert age["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["ReconcileQueue", "QueueName"]}
    assert age["Threshold"] == {"Ref": "ReconcileQueueAgeAlarmSeconds"}


def test_every_function_logs_to_its_own_group_with_a_retention(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 90
    groups = set()
    for name, function in functions(template).items():
        ref = function["LoggingConfig"]["LogGroup"]["Ref"]
        group = resources[ref]
        assert group["Type"] == "AWS::Logs::LogGroup", name
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        groups.add(ref)
    assert len(groups) == len(functions(template))


def test_the_functions_know_their_secrets_arn_and_whether_test_endpoints_are_allowed(
    template: dict[str, Any],
) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    arn_prefix = variables["SECRET_ARN_PREFIX"]["Fn::Sub"]
    for part in ("${AWS::Partition}", "${AWS::Region}", "${AWS::AccountId}", "${AWS::StackName}/accounts/"):
        assert part in arn_prefix
    assert variables["ALLOW_TEST_ENDPOINTS"] == {"Fn::If": ["AllowsTestEndpoints", "true", "false"]}
    # Off by default, and never in prod whatever the parameter says.
    assert template["Parameters"]["AllowTestEndpoints"]["Default"] == "false"
    condition = template["Conditions"]["AllowsTestEndpoints"]["Fn::And"]
    assert {"Fn::Not": [{"Condition": "IsProd"}]} in condition
    assert template["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    # The local stack (simulator on plain http) turns it on for itself.
    assert template["Metadata"]["LocalStack"]["ParameterOverrides"] == {"AllowTestEndpoints": "true"}
