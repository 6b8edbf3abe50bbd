"""What operators and tests write into a stack: account credentials (Secrets Manager) and recipient
lists (S3). The functions only read these."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from consent_sync.store.aws import client
from consent_sync.store.secrets import forget_credentials


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
    forget_credentials()  # the functions run in this process locally: drop what they cached
    return str(sm.describe_secret(SecretId=name)["ARN"])


def put_text_lines(bucket: str, key: str, lines: list[str]) -> str:
    """Write a text object of one item per line; return its s3:// URI."""
    client("s3").put_object(
        Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode(), ContentType="text/plain"
    )
    return f"s3://{bucket}/{key}"
