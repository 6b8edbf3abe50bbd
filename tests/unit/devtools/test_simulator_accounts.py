"""The settings of an account on the SuperOffice simulator, built in one place."""

from __future__ import annotations

from typing import Any, cast

from consent_sync.domain.settings import AccountSettings
from devtools.simulator.accounts import simulator_connection, simulator_credentials, simulator_settings
from devtools.simulator.testing import SimulatorHandle

ARN = "arn:aws:secretsmanager:eu-west-1:000000000000:secret:cs-test/accounts/acc-AbCdEf"
SIM = SimulatorHandle(
    root_url="http://127.0.0.1:8080",
    api_url="http://127.0.0.1:8080/Cust12345/api/v1",
    cust_id="Cust12345",
    username="sim",
    password="sim",
    online=cast(Any, None),
    control=cast(Any, None),
)


def test_the_settings_are_an_onsite_basic_account_on_plain_http() -> None:
    settings = AccountSettings.model_validate(simulator_settings("acc", SIM, ARN))
    assert settings.account_id == "acc"
    assert settings.syncs
    assert settings.superoffice is not None
    assert settings.superoffice.kind == "onsite"
    assert settings.superoffice.base_url == SIM.api_url
    assert settings.superoffice.auth == "basic"
    assert settings.superoffice.allow_insecure
    assert settings.superoffice.credentials_secret_arn == ARN


def test_the_settings_take_sync_off_and_connection_extras() -> None:
    detail = simulator_settings("acc", SIM, ARN, legal_basis_sync=False, requests_per_second=25.0)
    assert detail["legal_basis_sync"] is False
    assert detail["superoffice"]["requests_per_second"] == 25.0
    settings = AccountSettings.model_validate(detail)
    assert settings.superoffice is not None
    assert settings.superoffice.requests_per_second == 25.0


def test_the_connection_and_credentials_for_a_client() -> None:
    connection = simulator_connection(SIM, auth="ticket")
    assert (connection.kind, connection.auth, connection.allow_insecure) == ("onsite", "ticket", True)
    assert simulator_connection(SIM).auth == "basic"
    credentials = simulator_credentials(SIM)
    assert credentials.username == "sim"
    assert credentials.password is not None
    assert credentials.password.get_secret_value() == "sim"
