"""The CloudWatch dashboard names every function, both queues and the dead-letter queues, and charts
only metrics the code emits (Powertools metrics in the functions' namespace)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.unit.foundation.test_template import functions

ROOT = Path(__file__).resolve().parents[3]
_EMITTED = re.compile(r'add_metric\(\s*name=f?"([A-Za-z{}.()]+)"')


@pytest.fixture(scope="module")
def dashboard(template: dict[str, Any]) -> dict[str, Any]:
    resource = template["Resources"]["Dashboard"]
    assert resource["Type"] == "AWS::CloudWatch::Dashboard"
    body = resource["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(body, str)
    parsed: dict[str, Any] = json.loads(body)  # valid JSON before and after the substitutions
    return parsed


def metrics(dashboard: dict[str, Any]) -> list[list[Any]]:
    return [line for widget in dashboard["widgets"] for line in widget["properties"]["metrics"]]


def dimension_values(dashboard: dict[str, Any], namespace: str, metric: str, dimension: str) -> set[str]:
    values = set()
    for line in metrics(dashboard):
        names = [part for part in line if not isinstance(part, dict)]
        if names[:2] == [namespace, metric]:
            pairs = dict(zip(names[2::2], names[3::2], strict=True))
            values.add(pairs[dimension])
    return values


def test_errors_and_throttles_of_every_function(template: dict[str, Any], dashboard: dict[str, Any]) -> None:
    expected = {f"${{{name}}}" for name in functions(template)}
    assert dimension_values(dashboard, "AWS/Lambda", "Errors", "FunctionName") == expected
    assert dimension_values(dashboard, "AWS/Lambda", "Throttles", "FunctionName") == expected


def test_every_queues_age_and_every_dead_letter_queues_depth(
    template: dict[str, Any], dashboard: dict[str, Any]
) -> None:
    queues = {name for name, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    dead_letters = {name for name in queues if name.endswith("DeadLetterQueue")}
    assert queues - dead_letters == {"ReconcileQueue", "InteractiveQueue", "WebhookPullQueue"}
    assert dimension_values(dashboard, "AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName") == {
        f"${{{name}.QueueName}}" for name in queues - dead_letters
    }
    assert dimension_values(dashboard, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName") == {
        f"${{{name}.QueueName}}" for name in dead_letters
    }


def test_application_metrics_are_ones_the_code_emits_in_its_namespace(
    template: dict[str, Any], dashboard: dict[str, Any]
) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    namespace, service = variables["POWERTOOLS_METRICS_NAMESPACE"], variables["POWERTOOLS_SERVICE_NAME"]
    charted = {line[1] for line in metrics(dashboard) if line[0] == namespace}
    emitted = {
        name
        for path in (ROOT / "functions" / "consent_sync").rglob("*.py")
        for name in _EMITTED.findall(path.read_text())
    }
    assert charted <= emitted, charted - emitted
    # runs, pushes, pulls, failures, send-out check latency, rejected events
    assert {
        "SyncRunsQueued", "SyncRunsCompleted", "ContactsPushed", "ContactsPulled", "ContactsFailed",
        "ChunksDeadLettered", "SendoutCheckLatency", "RejectedEvents",
    } <= charted  # fmt: skip
    # Powertools adds the service dimension to every metric it emits
    for line in metrics(dashboard):
        if line[0] == namespace:
            assert line[2:4] == ["service", service], line


def test_every_substitution_names_a_resource_or_pseudo_parameter(
    template: dict[str, Any], dashboard: dict[str, Any]
) -> None:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for reference in re.findall(r"\$\{([^}]+)\}", body):
        name = reference.split(".")[0]
        assert name in template["Resources"] or name.startswith("AWS::"), reference
