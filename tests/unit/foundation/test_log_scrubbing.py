"""Logged exceptions (Powertools' `exception` and `stack_trace`) and every spelling of an address are scrubbed."""

from __future__ import annotations

import io
import json
import logging

import pytest

from consent_sync.observability import logger, scrub

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl"


def _log_failure(message: str) -> None:
    try:
        raise RuntimeError(message)
    except RuntimeError:
        logger.exception("push failed")


def test_a_logged_exception_is_scrubbed_in_exception_and_stack_trace() -> None:
    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)  # type: ignore[attr-defined]
    try:
        logger.setLevel(logging.INFO)
        _log_failure(f"401 for anna.berg@example.com with Authorization: Bearer {TOKEN}")
    finally:
        logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]
    out = buffer.getvalue()
    record = json.loads(out.strip().splitlines()[-1])
    assert "stack_trace" in record
    assert "exception" in record
    assert "anna.berg@example.com" not in out  # ...and neither carries the address
    assert TOKEN not in out  # ...or the token
    assert "Bearer *****" in record["stack_trace"]["value"]
    assert "a***@e***.com" in record["exception"]


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("contact a%40b.com not found", "a%40b.com"),
        ("GET /Person?$filter=email%20eq%20'anna.berg%40example.com'", "anna.berg%40example.com"),
        ('"john doe"@example.com withdrew', '"john doe"@example.com'),
        ("jöran@exämple.se withdrew", "jöran@exämple.se"),
        ("用户@例子.广告 withdrew", "用户@例子.广告"),
        ("o'neil+news@example.co.uk withdrew", "o'neil+news@example.co.uk"),
    ],
)
def test_every_spelling_of_an_address_is_masked(text: str, raw: str) -> None:
    assert raw not in json.dumps(scrub({"message": text}), ensure_ascii=False)


def test_objects_and_keys_are_scrubbed_as_they_would_be_written() -> None:
    record = {
        "error": ValueError("anna@example.com: Bearer abc"),
        "per_address": {"anna@example.com": 2},
        "when": 3,
        "ok": True,
    }
    text = json.dumps(scrub(record), default=str)
    assert "anna@example.com" not in text
    assert "abc" not in text
    assert scrub(record)["when"] == 3
    assert scrub(record)["ok"] is True
