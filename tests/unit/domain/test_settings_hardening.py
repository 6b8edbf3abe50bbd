"""Which endpoints a stack accepts, the settings' version, and when a baseline run is owed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from consent_sync.domain.settings import (
    AccountSettings,
    EndpointRefused,
    SuperOfficeConnection,
    baseline_owed,
    check_endpoints,
    is_internal_host,
)

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stack/accounts/acme-AbCdEf"
ONSITE = {"kind": "onsite", "base_url": "https://crm.acme.example/api/v1", "auth": "basic"}
ONLINE = {"kind": "online", "context_id": "Cust12345", "environment": "sod", "auth": "system_user"}


def connection(**fields: Any) -> SuperOfficeConnection:
    return SuperOfficeConnection.model_validate(fields)


def refused(conn: SuperOfficeConnection) -> str:
    with pytest.raises(EndpointRefused) as caught:
        check_endpoints(conn, allow_test_endpoints=False)
    return caught.value.code


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        # plain http towards a customer's CRM
        (
            {**ONSITE, "base_url": "http://crm.acme.example/api/v1", "allow_insecure": True},
            "allow_insecure_not_allowed",
        ),
        # the flag alone, even with https
        ({**ONSITE, "allow_insecure": True}, "allow_insecure_not_allowed"),
        # a login root of the sender's choosing: the credentials and the JWKS would both come from there
        ({**ONLINE, "login_root": "https://attacker.example"}, "login_root_not_allowed"),
        ({**ONLINE, "login_root": "https://online.superoffice.com"}, "login_root_not_allowed"),  # not sod's
        # on-site hosts that are no customer's CRM on the internet
        ({**ONSITE, "base_url": "https://127.0.0.1/api/v1"}, "superoffice_host_not_allowed"),
        ({**ONSITE, "base_url": "https://2130706433/api/v1"}, "superoffice_host_not_allowed"),
        ({**ONSITE, "base_url": "https://169.254.169.254/api/v1"}, "superoffice_host_not_allowed"),
        ({**ONSITE, "base_url": "https://10.1.2.3:8443/api/v1"}, "superoffice_host_not_allowed"),
        ({**ONSITE, "base_url": "https://[::1]/api/v1"}, "superoffice_host_not_allowed"),
        ({**ONSITE, "base_url": "https://localhost/api/v1"}, "superoffice_host_not_allowed"),
        ({**ONSITE, "base_url": "https://crm.internal/api/v1"}, "superoffice_host_not_allowed"),
    ],
)
def test_a_production_stack_refuses_test_endpoints(fields: dict[str, Any], code: str) -> None:
    assert refused(connection(**fields)) == code


@pytest.mark.parametrize(
    "fields",
    [
        ONSITE,
        {**ONSITE, "base_url": "https://93.184.216.34/SuperOffice/api/v1"},
        ONLINE,
        {**ONLINE, "login_root": "https://sod.superoffice.com/"},  # SuperOffice's own for the environment
    ],
)
def test_a_production_stack_accepts_real_endpoints(fields: dict[str, Any]) -> None:
    check_endpoints(connection(**fields), allow_test_endpoints=False)


def test_a_test_stack_accepts_the_simulator() -> None:
    simulator = connection(**{**ONSITE, "base_url": "http://127.0.0.1:8080/api/v1", "allow_insecure": True})
    check_endpoints(simulator, allow_test_endpoints=True)
    online = connection(**{**ONLINE, "login_root": "http://127.0.0.1:8080", "allow_insecure": True})
    check_endpoints(online, allow_test_endpoints=True)


@pytest.mark.parametrize(
    ("host", "internal"),
    [
        ("crm.acme.example", False),
        ("8.8.8.8", False),
        ("127.1", True),
        ("0x7f000001", True),
        ("0177.0.0.1", True),
        ("::ffff:10.0.0.1", True),
        ("100.64.0.1", True),
        ("CRM.LOCAL.", True),
        ("", True),
    ],
)
def test_internal_hosts_are_recognised_in_every_spelling(host: str, internal: bool) -> None:
    assert is_internal_host(host) is internal


def _settings(**overrides: Any) -> AccountSettings:
    base: dict[str, Any] = {
        "account_id": "acme",
        "integration": "superoffice",
        "legal_basis_sync": True,
        "superoffice": {**ONSITE, "credentials_secret_arn": ARN},
    }
    return AccountSettings.model_validate({**base, **overrides})


def test_settings_may_carry_a_positive_version() -> None:
    assert _settings().settings_version is None
    assert _settings(settings_version=7).settings_version == 7
    for bad in (0, -1, "seven"):
        with pytest.raises(ValidationError, match="settings_version"):
            _settings(settings_version=bad)


def test_a_baseline_is_owed_when_sync_switches_on_or_an_earlier_one_was_never_requested() -> None:
    on, off = _settings(), _settings(legal_basis_sync=False)
    assert baseline_owed(None, on, pending=False)  # a new account with sync on
    assert baseline_owed(off, on, pending=False)  # switched on
    assert not baseline_owed(on, on, pending=False)  # unchanged: nothing owed...
    assert baseline_owed(on, on, pending=True)  # ...unless the switch-on's run was never requested
    assert not baseline_owed(on, off, pending=True)  # sync is off again: nothing to run
