"""The account settings model: what a valid configuration is, and when a save switches sync on."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from consent_sync.domain.settings import AccountSettings, sync_switched_on

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stack/accounts/acme-AbCdEf"


def settings(**overrides: Any) -> AccountSettings:
    base: dict[str, Any] = {
        "account_id": "acme",
        "integration": "superoffice",
        "legal_basis_sync": True,
        "superoffice": {
            "kind": "onsite",
            "base_url": "https://crm.example.com/api/v1",
            "auth": "basic",
            "credentials_secret_arn": ARN,
        },
    }
    base.update(overrides)
    return AccountSettings.model_validate(base)


def test_defaults() -> None:
    s = settings()
    assert s.presend_on_superoffice_failure == "use_last_known"
    assert s.skew_seconds == 5
    assert s.syncs


@pytest.mark.parametrize(
    ("superoffice", "problem"),
    [
        ({"kind": "onsite", "base_url": "http://crm.example.com/api/v1", "auth": "basic"}, "https"),
        ({"kind": "onsite", "auth": "basic"}, "needs base_url"),
        (
            {"kind": "onsite", "base_url": "https://u:p@crm.example.com/api/v1", "auth": "basic"},
            "credentials",
        ),
        (
            {"kind": "onsite", "base_url": "https://crm.example.com/api/v1", "auth": "system_user"},
            "basic or ticket",
        ),
        ({"kind": "online", "environment": "sod", "auth": "system_user"}, "context_id and environment"),
        ({"kind": "online", "context_id": "Cust1", "environment": "sod", "auth": "basic"}, "system_user"),
        ({"kind": "online", "context_id": "Acme", "environment": "sod", "auth": "system_user"}, "context_id"),
    ],
)
def test_invalid_connections_are_rejected(superoffice: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        settings(superoffice={**superoffice, "credentials_secret_arn": ARN})


def test_http_allowed_only_when_insecure_is_asked_for() -> None:
    s = settings(
        superoffice={
            "kind": "onsite",
            "base_url": "http://127.0.0.1:8080/Cust1/api/v1",
            "auth": "basic",
            "credentials_secret_arn": ARN,
            "allow_insecure": True,
        }
    )
    assert s.superoffice is not None
    assert s.superoffice.allow_insecure


def test_secret_must_be_an_arn() -> None:
    with pytest.raises(ValidationError, match="Secrets Manager secret ARN"):
        settings(
            superoffice={
                "kind": "onsite",
                "base_url": "https://x.example/api/v1",
                "auth": "basic",
                "credentials_secret_arn": "my-password",
            }
        )


def test_superoffice_integration_needs_a_connection() -> None:
    with pytest.raises(ValidationError, match="superoffice settings are required"):
        settings(superoffice=None)
    assert not settings(integration="none", superoffice=None).talks_to_superoffice


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        (None, {"legal_basis_sync": True}, True),
        (None, {"legal_basis_sync": False}, False),
        ({"legal_basis_sync": False}, {"legal_basis_sync": True}, True),
        ({"legal_basis_sync": True}, {"legal_basis_sync": True}, False),
        ({"integration": "none", "superoffice": None}, {"legal_basis_sync": True}, True),
        ({"legal_basis_sync": True}, {"integration": "none", "superoffice": None}, False),
    ],
)
def test_sync_switched_on(previous: dict[str, Any] | None, current: dict[str, Any], expected: bool) -> None:
    before = None if previous is None else settings(**previous)
    assert sync_switched_on(before, settings(**current)) is expected
