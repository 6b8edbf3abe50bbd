"""The functions' configuration comes from their environment; tracing is decided from it once."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from consent_sync.config import FunctionConfig, tracing_enabled

REQUIRED = {
    "TABLE_NAME": "consent",
    "IDEMPOTENCY_TABLE_NAME": "idempotency",
    "ARTIFACTS_BUCKET": "artifacts",
    "EVENT_BUS_NAME": "bus",
    "RECONCILE_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/reconcile",
    "INTERACTIVE_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/interactive",
    "EVENTS_DLQ_URL": "https://sqs.eu-west-1.amazonaws.com/1/dlq",
    "SECRET_PREFIX": "stack/accounts/",
    "WEBHOOK_SECRET_PREFIX": "stack/webhooks/",
    "SECRET_ARN_PREFIX": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stack/accounts/",
}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for field in FunctionConfig.model_fields:
        monkeypatch.delenv(field.upper(), raising=False)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_reads_the_environment_typed(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("CHUNK_SIZE", "50")
    environment.setenv("SUPEROFFICE_REQUESTS_PER_SECOND", "2.5")
    environment.setenv("UNRELATED_VARIABLE", "ignored")
    config = FunctionConfig()
    assert config.table_name == "consent"
    assert config.secret_prefix == "stack/accounts/"
    assert config.chunk_size == 50
    assert config.superoffice_requests_per_second == 2.5
    assert config.stage == "dev"  # a default
    assert config.presend_superoffice_timeout_s == 20.0


def test_names_are_case_insensitive_and_arguments_win(environment: pytest.MonkeyPatch) -> None:
    environment.delenv("TABLE_NAME")
    environment.setenv("table_name", "lower")
    assert FunctionConfig().table_name == "lower"
    assert FunctionConfig(table_name="given", chunk_size=7).table_name == "given"


def test_it_is_frozen(environment: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError):
        FunctionConfig().chunk_size = 3  # type: ignore[misc]


@pytest.mark.parametrize(("name", "value"), [("CHUNK_SIZE", "0"), ("CHUNK_SIZE", "501"), ("CHUNK_SIZE", "x")])
def test_bad_values_are_rejected(environment: pytest.MonkeyPatch, name: str, value: str) -> None:
    environment.setenv(name, value)
    with pytest.raises(ValidationError, match=name.lower()):
        FunctionConfig()


def test_a_missing_variable_is_named(environment: pytest.MonkeyPatch) -> None:
    environment.delenv("EVENT_BUS_NAME")
    with pytest.raises(ValidationError, match="event_bus_name"):
        FunctionConfig()


LAMBDA = {"LAMBDA_TASK_ROOT": "/var/task", "AWS_LAMBDA_FUNCTION_NAME": "f"}


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        (LAMBDA, True),
        ({**LAMBDA, "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({**LAMBDA, "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({**LAMBDA, "POWERTOOLS_TRACE_DISABLED": "1"}, False),
        ({**LAMBDA, "AWS_SAM_LOCAL": "true"}, False),  # the local runtime and sam local
        ({**LAMBDA, "AWS_CHALICE_CLI_MODE": "true"}, False),
        ({}, False),  # outside Lambda: tests, scripts
        ({"AWS_LAMBDA_FUNCTION_NAME": "f"}, False),
    ],
)
def test_tracing_follows_powertools_rule(environ: dict[str, str], enabled: bool) -> None:
    assert tracing_enabled(environ) is enabled


def test_a_trace_switch_that_is_not_a_boolean_is_an_error() -> None:
    with pytest.raises(ValueError, match="POWERTOOLS_TRACE_DISABLED"):
        tracing_enabled({**LAMBDA, "POWERTOOLS_TRACE_DISABLED": "maybe"})


def test_test_endpoints_are_refused_unless_the_stack_allows_them(environment: pytest.MonkeyPatch) -> None:
    assert FunctionConfig().allow_test_endpoints is False  # the production default
    environment.setenv("ALLOW_TEST_ENDPOINTS", "true")
    assert FunctionConfig().allow_test_endpoints is True


@pytest.mark.parametrize(
    "arn_prefix",
    [
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:other/accounts/",  # another name prefix
        "arn:aws:secretsmanager:eu-west-1:1234:secret:stack/accounts/",  # not an AWS account id
        "stack/accounts/",  # no ARN at all
    ],
)
def test_the_secret_arn_prefix_must_be_an_arn_of_the_secret_prefix(
    environment: pytest.MonkeyPatch, arn_prefix: str
) -> None:
    environment.setenv("SECRET_ARN_PREFIX", arn_prefix)
    with pytest.raises(ValidationError, match="secret_arn_prefix"):
        FunctionConfig()
