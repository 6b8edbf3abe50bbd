"""One boto3 session per process: every client and resource shares its loader (and what it parsed)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from consent_sync.store import aws


@pytest.fixture
def fresh_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[boto3.session.Session]]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never called: clients are only made
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    made: list[boto3.session.Session] = []
    real = boto3.session.Session

    def counting(*args: object, **kwargs: object) -> boto3.session.Session:
        session = real(*args, **kwargs)  # type: ignore[arg-type]
        made.append(session)
        return session

    monkeypatch.setattr(boto3.session, "Session", counting)
    _forget_clients()
    yield made
    _forget_clients()


def _forget_clients() -> None:
    for name in ("_session", "_client", "_resource", "_table"):
        cached = getattr(aws, name, None)
        if cached is not None:
            cached.cache_clear()


def test_every_client_and_resource_comes_from_one_session(fresh_clients: list[boto3.session.Session]) -> None:
    sqs = aws.client("sqs")
    events = aws.client("events")
    table = aws.dynamodb_table("consent")
    dynamodb = aws.client("dynamodb")

    # One session made them all, so each service model and the endpoint data were parsed once.
    assert len(fresh_clients) == 1
    assert aws.client("sqs") is sqs  # and each client is made once per endpoint
    assert {sqs.meta.region_name, events.meta.region_name, dynamodb.meta.region_name} == {"eu-west-1"}
    assert table.meta.client.meta.endpoint_url == "http://127.0.0.1:9"
