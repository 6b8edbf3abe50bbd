"""S3 artifacts: recipient lists in, verdict files out (large lists never travel inside events)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from consent_sync.store.aws import client


class ArtifactMissing(LookupError):
    """The object a URI names does not exist (or cannot be read)."""


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` → (bucket, key)."""
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc or not parts.path.strip("/"):
        raise ValueError("not an s3://bucket/key URI")
    return parts.netloc, parts.path.lstrip("/")


def read_lines(uri: str) -> Iterator[str]:
    """The non-blank lines of a text object, streamed (a list of any size fits in memory line by line)."""
    bucket, key = split_uri(uri)
    try:
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        raise ArtifactMissing(f"cannot read the recipient list: {exc.response['Error']['Code']}") from exc
    for raw in body.iter_lines():
        line = raw.decode("utf-8", errors="replace").strip()
        if line:
            yield line


def put_json(bucket: str, key: str, document: Any) -> str:
    """Write a JSON document; return its s3:// URI."""
    client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(document, separators=(",", ":")).encode(),
        ContentType="application/json",
    )
    return f"s3://{bucket}/{key}"


def get_json(uri: str) -> Any:
    """Read a JSON document written by `put_json`."""
    bucket, key = split_uri(uri)
    try:
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        raise ArtifactMissing(f"cannot read {key}: {exc.response['Error']['Code']}") from exc
    return json.loads(body)


def list_keys(bucket: str, prefix: str) -> list[str]:
    """Every key under a prefix, in key order."""
    keys: list[str] = []
    paginator = client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


def verdicts_prefix(account_id: str, job_id: str) -> str:
    """Where a send-out check's chunk verdict files are kept."""
    return f"verdicts/{account_id}/{job_id}/"
