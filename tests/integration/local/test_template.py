"""Template loading and intrinsic resolution, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.local.sam import read_routing
from devtools.local.template import Template, TemplateError

from .conftest import FIXTURE_TEMPLATE

pytestmark = pytest.mark.xdist_group("local-runtime")


def _fixture(**overrides: str) -> Template:
    return Template.load(
        FIXTURE_TEMPLATE,
        stack_name="Unit",
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:1",
        parameter_overrides=overrides,
    )


def test_refs_follow_cloudformation_semantics() -> None:
    # Given the fixture template bound to stack "Unit"
    template = _fixture()

    # Then Ref gives a table's name, a queue's URL, a bus's (explicit) name, a bucket's lower-case name
    assert template.ref("Table") == "Unit-Table"
    assert template.ref("WorkQueue") == "http://127.0.0.1:1/123456789012/Unit-WorkQueue"
    assert template.ref("Bus") == "Unit-bus"
    assert template.ref("Bucket") == "unit-bucket"
    assert template.ref("RecordFunction") == "Unit-RecordFunction"
    assert template.ref("AWS::AccountId") == "123456789012"
    assert template.ref("WorkBatchSize") == "3"
    # And GetAtt the usual attributes
    assert template.get_att("WorkQueue", "Arn") == "arn:aws:sqs:eu-west-1:123456789012:Unit-WorkQueue"
    assert template.get_att("WorkQueue", "QueueName") == "Unit-WorkQueue"
    assert template.get_att("Table", "Arn") == "arn:aws:dynamodb:eu-west-1:123456789012:table/Unit-Table"
    assert template.get_att("RecordFunctionRole", "Arn").endswith(":role/Unit-RecordFunctionRole")
    with pytest.raises(TemplateError):
        template.get_att("Table", "NoSuchAttribute")


def test_sub_join_if_and_conditions() -> None:
    # Given the default stage (test) and an override to prod
    test, prod = _fixture(), _fixture(Stage="prod")

    # When the functions' environments are read
    environment = read_routing(test).functions["RecordFunction"].environment

    # Then Sub (with its ${!literal} escape), Join and If resolve as CloudFormation does
    assert environment["PREFIX"] == "Unit/test/${literal}"
    assert (
        environment["JOINED"]
        == "eu-west-1:Unit-WorkQueue:arn:aws:events:eu-west-1:123456789012:event-bus/Unit-bus"
    )
    assert environment["MODE"] == "testing"
    assert read_routing(prod).functions["RecordFunction"].environment["MODE"] == "production"
    # And resources and outputs under a false condition do not exist
    assert "ProdOnlyQueue" not in test.resources
    assert "ProdOnlyQueue" in prod.resources
    assert "ProdQueueUrl" not in test.outputs()


def test_globals_merge_and_routes() -> None:
    # Given the fixture's functions and events
    routing = read_routing(_fixture())
    other, batch = routing.functions["OtherFunction"], routing.functions["BatchFunction"]

    # Then function values override Globals, maps merge, and async settings come from Globals
    assert (other.timeout_s, other.memory_mb, other.environment["MODE"]) == (5, 256, "other")
    assert other.environment["TABLE_NAME"] == "Unit-Table"
    assert other.max_retry_attempts == 1
    assert other.on_failure is not None
    assert other.on_failure.arn.endswith(":Unit-FailedEventsQueue")
    assert batch.code_dir == (FIXTURE_TEMPLATE.parent / "app").resolve()
    # And every event became a route
    rules = {route.key: route for route in routing.rules}
    assert rules["RecordFunction.ThingHappened"].pattern == {
        "source": ["fixture.app"],
        "detail-type": ["Thing Happened"],
    }
    assert rules["RecordFunction.ThingHappened"].bus_name == "Unit-bus"
    assert rules["TickFunction.EveryFiveMinutes"].schedule == "rate(5 minutes)"
    assert rules["TickFunction.EveryFiveMinutes"].bus_name == "default"
    source, filtered = routing.queues
    assert filtered.batch_size == 10  # Lambda's default
    assert (source.batch_size, source.report_batch_item_failures, source.maximum_concurrency) == (3, True, 2)


def test_bad_parameters_and_missing_template_are_reported(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="not one of"):
        _fixture(Stage="staging").parameter("Stage")
    with pytest.raises(TemplateError, match="unknown parameter"):
        _fixture(Nope="1")
    with pytest.raises(TemplateError, match="not found"):
        Template.load(tmp_path / "absent.yaml", stack_name="s", region="eu-west-1")
