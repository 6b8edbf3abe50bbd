"""A stack that does not allow test endpoints (every deployed one by default, prod always) refuses
settings that would send a tenant's credentials to a host of the sender's choosing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consent_sync.store.accounts import AccountStore
from consent_sync.store.secrets import secret_name
from devtools.local import LocalStack, local_stack
from devtools.local.sam import read_routing
from devtools.local.template import Template
from devtools.uploads import write_credentials
from tests.integration.conftest import Platform

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def strict_stack() -> Iterator[LocalStack]:
    """template.yaml on moto as deployed: AllowTestEndpoints at its default (false)."""
    with local_stack(
        template=ROOT / "template.yaml",
        port=0,
        stack_name=f"strict-{uuid.uuid4().hex[:8]}",
        region="eu-west-1",
        parameters={"AllowTestEndpoints": "false"},
        failed_visibility_timeout_s=0,
    ) as stack:
        yield stack


@pytest.fixture
def strict(strict_stack: LocalStack) -> Platform:
    platform = Platform(strict_stack)
    platform.dead_letters()
    return platform


def _secret(platform: Platform, account_id: str) -> str:
    name = secret_name(platform.outputs["SecretPrefix"], account_id)
    return write_credentials(name, {"username": "sync", "password": "tenant-password"})


def _onsite(platform: Platform, account_id: str, **connection: Any) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "integration": "superoffice",
        "legal_basis_sync": False,
        "superoffice": {
            "kind": "onsite",
            "base_url": "https://crm.acme.example/SuperOffice/api/v1",
            "auth": "basic",
            "credentials_secret_arn": _secret(platform, account_id),
            **connection,
        },
    }


def _online(platform: Platform, account_id: str, **connection: Any) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "integration": "superoffice",
        "legal_basis_sync": False,
        "superoffice": {
            "kind": "online",
            "context_id": "Cust12345",
            "environment": "online",
            "auth": "system_user",
            "credentials_secret_arn": _secret(platform, account_id),
            **connection,
        },
    }


def _refusal(stack: LocalStack, platform: Platform, settings: dict[str, Any]) -> str:
    platform.send("Integration Settings Updated", settings)
    stack.runtime.drain()
    assert AccountStore(stack.outputs["ConsentTableName"]).get(settings["account_id"]) is None
    (letter,) = platform.dead_letters()
    return str(letter["reason"])


def test_the_issues_example_is_refused(strict_stack: LocalStack, strict: Platform) -> None:
    # Settings for acme naming another account's secret and a login root at the attacker
    settings = _online(strict, "acme", login_root="https://attacker.example")
    settings["superoffice"]["credentials_secret_arn"] = _secret(strict, "globex")
    assert _refusal(strict_stack, strict, settings) == "credentials_secret_not_this_account"
    # With its own secret, the login root alone is refused
    assert (
        _refusal(strict_stack, strict, _online(strict, "acme", login_root="https://attacker.example"))
        == "login_root_not_allowed"
    )


@pytest.mark.parametrize(
    ("connection", "reason"),
    [
        (
            {"base_url": "http://crm.acme.example/api/v1", "allow_insecure": True},
            "allow_insecure_not_allowed",
        ),
        ({"allow_insecure": True}, "allow_insecure_not_allowed"),
        ({"base_url": "https://127.0.0.1:9001/api/v1"}, "superoffice_host_not_allowed"),
        ({"base_url": "https://169.254.169.254/api/v1"}, "superoffice_host_not_allowed"),
    ],
)
def test_test_endpoints_are_refused(
    strict_stack: LocalStack, strict: Platform, connection: dict[str, Any], reason: str
) -> None:
    account = f"strict-{uuid.uuid4().hex[:6]}"
    assert _refusal(strict_stack, strict, _onsite(strict, account, **connection)) == reason


def test_real_endpoints_are_stored(strict_stack: LocalStack, strict: Platform) -> None:
    table = AccountStore(strict_stack.outputs["ConsentTableName"])
    for settings in (_onsite(strict, "real-onsite"), _online(strict, "real-online")):
        strict.send("Integration Settings Updated", settings)
        strict_stack.runtime.drain()
        assert table.get(settings["account_id"]) is not None
    assert strict.dead_letters() == []


def _allowed(**parameters: str) -> dict[str, str]:
    template = Template.load(
        ROOT / "template.yaml",
        stack_name="gate",
        region="eu-west-1",
        parameter_overrides=parameters,
        local_defaults=True,
    )
    return {
        name: spec.environment["ALLOW_TEST_ENDPOINTS"]
        for name, spec in read_routing(template).functions.items()
    }


def test_only_a_non_prod_stack_that_asks_allows_test_endpoints() -> None:
    assert set(_allowed().values()) == {"true"}  # the local stack (the template's LocalStack metadata)
    assert set(_allowed(AllowTestEndpoints="false").values()) == {"false"}  # a deployed stack's default
    assert set(_allowed(Stage="prod", AllowTestEndpoints="true").values()) == {"false"}  # never prod
    deployed = Template.load(ROOT / "template.yaml", stack_name="gate", region="eu-west-1")
    assert {s.environment["ALLOW_TEST_ENDPOINTS"] for s in read_routing(deployed).functions.values()} == {
        "false"
    }
