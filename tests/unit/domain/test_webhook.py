"""The webhook's pure rules: SuperOffice's signature, the receiver's paths, SuperOffice's states."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_sync.domain.webhook import (
    WebhookStatus,
    account_in_path,
    signature,
    signature_matches,
    target_url,
    webhook_name,
)

SECRET = "s3cr3t-of-acme"


def test_the_signature_is_base64_of_hmac_sha256_over_the_raw_body() -> None:
    body = b'{"EventId":"e-1","Event":"person.consented","PrimaryKey":7}'
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert signature(SECRET, body) == expected
    assert signature_matches(SECRET, body, expected)
    assert signature_matches(SECRET, body, f"  {expected}\n")  # header whitespace is not the signature


@given(body=st.binary(max_size=512), other=st.text(min_size=1, max_size=40))
def test_another_secret_never_verifies(body: bytes, other: str) -> None:
    if other == SECRET:
        return
    assert not signature_matches(other, body, signature(SECRET, body))


@given(body=st.binary(min_size=1, max_size=512), data=st.data())
def test_any_changed_byte_breaks_the_signature(body: bytes, data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    flipped = bytes(b ^ 0x01 if i == index else b for i, b in enumerate(body))
    assert not signature_matches(SECRET, flipped, signature(SECRET, body))


@pytest.mark.parametrize("header", ["", "not base64", signature("other", b"{}")])
def test_a_wrong_or_empty_signature_does_not_verify(header: str) -> None:
    assert not signature_matches(SECRET, b"{}", header)


@pytest.mark.parametrize(
    ("path", "account"),
    [
        ("/accounts/acme", "acme"),
        ("/accounts/acme-2.eu_1/", "acme-2.eu_1"),
        ("/accounts/", None),
        ("/accounts/acme/extra", None),
        ("/accounts/../secrets", None),
        ("/accounts/-acme", None),
        ("/accounts/a%2Fb", None),
        ("/webhook/acme", None),
        ("/", None),
        ("/accounts/" + "a" * 65, None),
    ],
)
def test_only_an_account_path_names_an_account(path: str, account: str | None) -> None:
    assert account_in_path(path) == account


def test_the_target_url_and_name_are_per_deployment_and_account() -> None:
    assert target_url("https://abc.lambda-url.eu-west-1.on.aws/", "acme") == (
        "https://abc.lambda-url.eu-west-1.on.aws/accounts/acme"
    )
    assert target_url("http://127.0.0.1:9000", "acme") == "http://127.0.0.1:9000/accounts/acme"
    assert webhook_name("prod-stack", "acme") != webhook_name("dev-stack", "acme")
    assert account_in_path(target_url("https://x.on.aws/", "acme").removeprefix("https://x.on.aws")) == "acme"


@pytest.mark.parametrize(
    ("state", "status", "repair"),
    [
        ("Active", WebhookStatus.ACTIVE, False),
        ("TooManyErrors", WebhookStatus.TOO_MANY_ERRORS, True),
        ("Stopped", WebhookStatus.STOPPED, True),
        ("Unknown", WebhookStatus.UNKNOWN, True),
        ("something new", WebhookStatus.UNKNOWN, True),
        ("toomanyerrors", WebhookStatus.TOO_MANY_ERRORS, True),
    ],
)
def test_superoffice_states_map_to_statuses(state: str, status: WebhookStatus, repair: bool) -> None:
    assert WebhookStatus.from_superoffice(state) is status
    assert status.needs_repair is repair
