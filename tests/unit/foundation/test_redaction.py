"""Scrubbing free text (consent_sync.domain.redaction): addresses masked, credentials redacted."""

from __future__ import annotations

import time

import pytest

from consent_sync.domain.redaction import REDACTED, mask_emails, redact_credentials, scrub_text


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("write to ann@example.com.", "ann@example.com"),
        ("Ann.O+tag@Example.COM", "Ann.O+tag@Example.COM"),
        ("o'neil@example.ie", "neil@example.ie"),
        ("a%40b.com", "a%40b.com"),
        ("$filter=email eq 'ann%40example.com'", "ann%40example.com"),
        ("ann%2540example.com", "ann%2540example.com"),
        ("ann%2Btag%40example.com", "%2Btag"),
        ('"ann smith"@example.com', "ann smith"),
        ('"a\\"b"@example.com', 'a\\"b'),
        ("jörg@exämple.se", "jörg"),
        ("用户@例子.广告", "用户"),
        ("j%C3%B6rg%40ex%C3%A4mple.se", "j%C3%B6rg"),
    ],
)
def test_every_form_of_address_is_masked(text: str, hidden: str) -> None:
    masked = mask_emails(text)
    assert hidden not in masked
    assert "***" in masked


def test_masking_keeps_the_text_around_an_address() -> None:
    assert mask_emails("ask ann@example.com, then bob@example.org.") == (
        "ask a***@e***.com, then b***@e***.org."
    )
    assert mask_emails("no address: 12:30, v1.2, 50% off") == "no address: 12:30, v1.2, 50% off"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        ("Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("SOTicket 7T:abcDEF==", "7T:abcDEF=="),
        ("Authorization%3A+Bearer%20abc123", "abc123"),
        ('{"Ticket": "7T:abc def", "x": 1}', "7T:abc def"),
        ("password=hunter2&user=x", "hunter2"),
        ("client_secret: s3cr3t-value", "s3cr3t-value"),
        ("'SignedSystemToken': 'tok.sig'", "tok.sig"),
    ],
)
def test_credentials_are_redacted(text: str, secret: str) -> None:
    redacted = redact_credentials(text)
    assert secret not in redacted
    assert REDACTED in redacted


def test_ordinary_words_next_to_key_names_are_kept() -> None:
    for text in (
        "the system-user token failed verification: InvalidSignatureError",
        "ReturnTokenType: JWT",
        "credentials for auth 'basic' are incomplete",
    ):
        assert redact_credentials(text) == text
    assert redact_credentials("Authorization: SOTicket 7T:x") == f"Authorization: SOTicket {REDACTED}"


def test_scrub_text_does_both() -> None:
    text = scrub_text('{"Message": "a@b.com sent Bearer abc", "Email": "a%40b.com"}')
    for kept in ("a@b.com", "a%40b.com", "abc"):
        assert kept not in text


def test_long_text_without_an_at_sign_is_fast() -> None:
    started = time.perf_counter()
    scrub_text("A" * 200_000)
    scrub_text("x" * 20_000 + "@")
    assert time.perf_counter() - started < 2.0
