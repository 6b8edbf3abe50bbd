"""boto3 clients for the local endpoint: fake credentials, the stack's region, quick failures."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

#: Moto accepts any credentials; these make sure nothing ever signs with a developer's real keys.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

# A local server either answers at once or is down; retrying only hides that.
_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)


def client(service: str, endpoint_url: str, region: str) -> Any:
    """A boto3 client of ``service`` bound to the local endpoint."""
    return boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
    ).client(service, endpoint_url=endpoint_url, config=_CONFIG)
