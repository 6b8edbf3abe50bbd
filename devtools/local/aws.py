"""boto3 clients for the local endpoint: fake credentials, the stack's region, quick failures."""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

#: Moto accepts any credentials; these make sure nothing ever signs with a developer's real keys.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

# A local server either answers at once or is down; retrying only hides that.
_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)


_SESSION_LOCK = threading.Lock()  # a session is not thread-safe; its clients are


@cache
def _session(region: str) -> boto3.session.Session:
    # One per region and process: its loader parses each service model once, not once per client.
    return boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
    )


@cache
def client(service: str, endpoint_url: str, region: str) -> Any:
    """A boto3 client of ``service`` bound to the local endpoint (one per service, endpoint and region)."""
    with _SESSION_LOCK:
        return _session(region).client(service, endpoint_url=endpoint_url, config=_CONFIG)
