"""Account credentials in Secrets Manager: one JSON secret per account, named `<prefix><account_id>`."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from botocore.exceptions import ClientError

from consent_sync.store.aws import client


class CredentialsUnavailable(RuntimeError):
    """The account's secret could not be read (missing, not JSON, or access denied)."""


def secret_name(prefix: str, account_id: str) -> str:
    """The name of an account's secret."""
    return f"{prefix}{account_id}"


def arn_is_under(arn: str, prefix: str) -> bool:
    """True when a secret ARN names a secret under `prefix` (the only ones the functions may read)."""
    _, _, name = arn.partition(":secret:")
    return name.startswith(prefix)


# Every reconcile chunk needs its account's credentials; a warm container keeps them this long, so a
# rotated secret is picked up within that time.
CREDENTIALS_TTL_S = 300.0
_CACHE: dict[str, tuple[float, dict[str, Any]]] = {}
_CACHE_LOCK = threading.Lock()


def read_credentials(arn: str) -> dict[str, Any]:
    """The credentials stored in a secret (cached per container for `CREDENTIALS_TTL_S`).

    The error never contains the secret's value.
    """
    with _CACHE_LOCK:
        hit = _CACHE.get(arn)
    if hit is not None and time.monotonic() - hit[0] < CREDENTIALS_TTL_S:
        return dict(hit[1])
    data = _read(arn)
    with _CACHE_LOCK:
        _CACHE[arn] = (time.monotonic(), data)
    return dict(data)


def forget_credentials() -> None:
    """Drop cached credentials (after writing a secret in the same process; tests)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _read(arn: str) -> dict[str, Any]:
    try:
        value = client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
        data = json.loads(value)
    except ClientError as exc:
        raise CredentialsUnavailable(
            f"cannot read the credentials secret: {exc.response['Error']['Code']}"
        ) from exc
    except (KeyError, ValueError) as exc:
        raise CredentialsUnavailable("the credentials secret is not a JSON object") from exc
    if not isinstance(data, dict):
        raise CredentialsUnavailable("the credentials secret is not a JSON object")
    return data


def write_credentials(name: str, credentials: dict[str, Any], description: str = "") -> str:
    """Create or update the secret `name` with `credentials`; return its ARN."""
    sm = client("secretsmanager")
    body = json.dumps(credentials)
    try:
        return str(sm.create_secret(Name=name, SecretString=body, Description=description)["ARN"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceExistsException":
            raise
    sm.put_secret_value(SecretId=name, SecretString=body)
    forget_credentials()
    return str(sm.describe_secret(SecretId=name)["ARN"])
