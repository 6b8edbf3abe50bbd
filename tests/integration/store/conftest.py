"""A moto server (module-scoped) and a fresh consent table per test, built from template.yaml."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import ThreadedMotoServer

from consent_sync.store import aws

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
# The CreateTable parameters a CloudFormation AWS::DynamoDB::Table shares with the API, by the same name.
_CREATE_TABLE_PROPERTIES = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")


def consent_table_properties() -> dict[str, Any]:
    """The ConsentTable's Properties from template.yaml, as plain JSON values."""
    template, matches = decode(str(TEMPLATE))
    assert template is not None, matches
    # cfn-lint returns its own node types (with line marks); plain values are what boto3 expects.
    properties: dict[str, Any] = json.loads(json.dumps(template["Resources"]["ConsentTable"]["Properties"]))
    return properties


def _one_request_at_a_time(patch: pytest.MonkeyPatch) -> None:
    """Make the moto server handle one request at a time.

    DynamoDB applies each conditional write atomically; moto's threaded server does not (two requests
    can both pass a condition before either writes), which would make the concurrency tests measure
    moto rather than our conditions. Clients still race freely; only the server's handling is serial.
    """
    lock = threading.Lock()
    dispatch = DomainDispatcherApplication.__call__

    def serialised(self: DomainDispatcherApplication, environ: Any, start_response: Any) -> Any:
        with lock:
            return dispatch(self, environ, start_response)

    patch.setattr(DomainDispatcherApplication, "__call__", serialised)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free port, with the environment every boto3 client follows pointing at it."""
    # One log line per request would bury a failing test's output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with pytest.MonkeyPatch.context() as patch:
        _one_request_at_a_time(patch)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        patch.setenv("AWS_ENDPOINT_URL", endpoint)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.setenv("AWS_REGION", "eu-west-1")
        patch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        # The cached clients were built for another endpoint (or none): rebuild them for this server.
        aws._client.cache_clear()
        aws._resource.cache_clear()
        try:
            yield endpoint
        finally:
            aws._client.cache_clear()
            aws._resource.cache_clear()
            server.stop()


@pytest.fixture
def table_name(moto_endpoint: str) -> str:
    """A new, empty consent table (unique name, so tests never see each other's items)."""
    properties = consent_table_properties()
    name = f"consent-{uuid.uuid4().hex[:8]}"
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(
        TableName=name, **{k: properties[k] for k in _CREATE_TABLE_PROPERTIES if k in properties}
    )
    ttl = properties["TimeToLiveSpecification"]
    dynamodb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": ttl["Enabled"]},
    )
    return name
