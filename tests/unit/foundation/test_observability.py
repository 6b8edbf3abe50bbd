"""Logs never carry an e-mail address or a secret."""

from __future__ import annotations

import io
import json
import logging

from consent_sync.observability import logger, redact_secrets, scrub


def test_scrub_masks_addresses_and_secrets_anywhere() -> None:
    record = {
        "message": "could not push consent for Anna.Berg@example.com: 401",
        "email": "o'brien@example.com",
        "password": "hunter2",
        "client_secret": "s3cr3t",
        "credentials_secret_arn": "arn:aws:secretsmanager:eu-west-1:1:secret:x",
        "nested": [{"header": "Authorization: Basic c2ltOnNpbQ=="}, {"ticket": "7T:abc"}],
    }
    text = json.dumps(scrub(record))
    for raw in ("Anna.Berg@example.com", "brien@example.com", "hunter2", "s3cr3t", "c2ltOnNpbQ==", "7T:abc"):
        assert raw not in text
    assert "arn:aws:secretsmanager" in text  # an ARN is not a secret


def test_redact_secrets_keeps_addresses() -> None:
    assert redact_secrets({"email": "a@b.se", "password": "x"}) == {"email": "a@b.se", "password": "*****"}


def test_logger_output_is_scrubbed() -> None:
    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)  # type: ignore[attr-defined]
    try:
        logger.setLevel(logging.INFO)
        logger.info(
            "consent withdrawn for anna@example.com", extra={"email": "anna@example.com", "token": "abc"}
        )
    finally:
        logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]
    out = buffer.getvalue()
    assert "anna@example.com" not in out
    assert '"abc"' not in out
    assert json.loads(out.strip().splitlines()[-1])["message"].startswith("consent withdrawn for ")
