"""boto3 clients, one per service and endpoint, created lazily and reused across invocations."""

from __future__ import annotations

import os
import threading
from functools import cache, lru_cache
from typing import Any

import boto3
from botocore.config import Config

# Lambda retries the whole invocation; inside it, a few quick SDK retries absorb throttling.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


def client(service: str) -> Any:
    """A boto3 client for `service`, honouring `AWS_ENDPOINT_URL` (moto locally, AWS when unset)."""
    return _client(service, *endpoint())


def dynamodb_table(name: str) -> Any:
    """A boto3 DynamoDB Table resource (one per table and endpoint: making one costs milliseconds)."""
    return _table(name, *endpoint())


def endpoint() -> tuple[str | None, str | None]:
    """Where clients made now go: `AWS_ENDPOINT_URL` (None: AWS itself) and the region.

    What the clients here are cached by; anything caching on top of a client keys on it too.
    """
    return os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION") or os.environ.get(
        "AWS_DEFAULT_REGION"
    )


#: A boto3 session is not thread-safe; the clients and resources it makes are.
_SESSION_LOCK = threading.Lock()


@cache
def _session() -> boto3.session.Session:
    # One per process: its loader keeps the endpoint data and service models it parsed, which every
    # new session would parse again for its first client (~10-30 ms each, the DynamoDB model twice:
    # once for the client, once for the resource).
    return boto3.session.Session()


@lru_cache(maxsize=32)
def _client(service: str, endpoint_url: str | None, region: str | None) -> Any:
    with _SESSION_LOCK:
        return _session().client(service, endpoint_url=endpoint_url, region_name=region, config=_CONFIG)


@lru_cache(maxsize=8)
def _resource(service: str, endpoint_url: str | None, region: str | None) -> Any:
    with _SESSION_LOCK:
        return _session().resource(service, endpoint_url=endpoint_url, region_name=region, config=_CONFIG)


@lru_cache(maxsize=32)
def _table(name: str, endpoint_url: str | None, region: str | None) -> Any:
    return _resource("dynamodb", endpoint_url, region).Table(name)
