"""S3 artifacts: recipient lists in, verdict files out (large lists never travel inside events)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
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


def read_lines(
    uri: str,
    *,
    max_bytes: int,
    max_line_bytes: int,
    max_lines: int,
    chunk_bytes: int = 64 * 1024,
) -> Iterator[str]:
    """The non-blank lines of a text object, trimmed, streamed within limits.

    The object is read `chunk_bytes` at a time, never whole: at most `max_bytes` in all (refused at
    once when the object says it is larger), lines of at most `max_line_bytes` (whitespace included),
    at most `max_lines` non-blank ones. Beyond a limit it raises :class:`ListRefused` (reason
    ``recipients_too_large``, ``recipients_line_too_long`` or ``recipients_too_many``).
    """
    bucket, key = split_uri(uri)
    try:
        answer = client("s3").get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        raise ArtifactMissing(f"cannot read the recipient list: {exc.response['Error']['Code']}") from exc
    body = answer["Body"]
    try:
        size = answer.get("ContentLength")
        if isinstance(size, int) and size > max_bytes:
            raise _too_large(max_bytes)
        read = 0
        lines = 0
        pending = b""
        for chunk in body.iter_chunks(chunk_bytes):
            read += len(chunk)
            if read > max_bytes:
                raise _too_large(max_bytes)
            *complete, pending = (pending + chunk).split(b"\n")
            if len(pending) > max_line_bytes:
                raise _line_too_long(max_line_bytes)
            for raw in complete:
                line = _line(raw, max_line_bytes)
                if line:
                    lines += 1
                    if lines > max_lines:
                        raise ListRefused(
                            "recipients_too_many", f"the list has more than {max_lines:,} recipients"
                        )
                    yield line
        line = _line(pending, max_line_bytes)
        if line:
            if lines + 1 > max_lines:
                raise ListRefused("recipients_too_many", f"the list has more than {max_lines:,} recipients")
            yield line
    finally:
        body.close()


class ListRefused(ValueError):
    """A list beyond a limit; `reason` is the rejection reason (docs/events.md)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _line(raw: bytes, max_line_bytes: int) -> str:
    if len(raw) > max_line_bytes:
        raise _line_too_long(max_line_bytes)
    return raw.decode("utf-8", errors="replace").strip()


def _too_large(max_bytes: int) -> ListRefused:
    return ListRefused("recipients_too_large", f"the list is larger than {max_bytes:,} bytes")


def _line_too_long(max_line_bytes: int) -> ListRefused:
    return ListRefused(
        "recipients_line_too_long", f"a line of the list is longer than {max_line_bytes:,} bytes"
    )


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


def put_lines(bucket: str, key: str, rows: Iterable[Any]) -> str:
    """Write JSON lines (one document per line); return the s3:// URI. Writing the same rows to the
    same key again leaves the same object (what makes a chunk's part safe to write on redelivery)."""
    body = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
    client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/x-ndjson")
    return f"s3://{bucket}/{key}"


def read_json_lines(bucket: str, key: str) -> Iterator[Any]:
    """The documents of a JSON-lines object, streamed line by line."""
    body = client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    try:
        for line in body.iter_lines():
            if line.strip():
                yield json.loads(line)
    finally:
        body.close()


def upload_lines(bucket: str, key: str, rows: Iterable[Any], *, spool_bytes: int = 8 * 1024 * 1024) -> str:
    """Write JSON lines of any length: spooled to a temporary file past `spool_bytes`, then uploaded
    (multipart for large files), so the rows are never all in memory. Returns the s3:// URI."""
    with tempfile.SpooledTemporaryFile(max_size=spool_bytes, mode="w+b") as spool:
        for row in rows:
            spool.write(json.dumps(row, separators=(",", ":")).encode() + b"\n")
        spool.seek(0)
        client("s3").upload_fileobj(spool, bucket, key, ExtraArgs={"ContentType": "application/x-ndjson"})
    return f"s3://{bucket}/{key}"
