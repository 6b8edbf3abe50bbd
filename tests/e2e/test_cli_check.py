"""`consent-sync check` end to end: the CLI against `consent-sync local up`, the simulator, and small
loopback servers that answer what a broken SuperOffice would (403)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from devtools.simulator.testing import SimulatorHandle
from tests.e2e.conftest import Cli, set_onsite_account
from tests.loopback import loopback_server


def check(cli: Cli, account: str, *extra: str) -> tuple[int, dict[str, Any]]:
    result = cli("check", account, "--json", *extra)
    return result.returncode, json.loads(result.stdout)


def test_a_healthy_connection_reports_its_calls(cli: Cli, simulator: SimulatorHandle) -> None:
    # Given an account with the simulator's credentials
    set_onsite_account(cli, "check-ok", simulator.api_url, simulator.username, simulator.password)
    # When the operator checks it
    status, report = check(cli, "check-ok")
    # Then it is healthy, with what was read and how long each call took
    assert status == 0, report
    assert report["healthy"] is True
    assert "error" not in report
    assert report["api_base"] == simulator.api_url
    assert report["purposes"] == {"STORE": True, "EMARKETING": True}
    assert report["person_read"] is True
    assert report["lists"]["legal_bases"] > 0
    assert report["lists"]["consent_sources"] > 0
    endpoints = [call["endpoint"] for call in report["calls"]]
    assert endpoints[:4] == [
        "GET /List/LegalBase/Items",
        "GET /List/ConsentPurpose/Items",
        "GET /List/ConsentSource/Items",
        "GET /Archive/Person",
    ]
    assert all(call["latency_ms"] >= 0 for call in report["calls"])
    # And the webhook the settings function registered, as recorded and as SuperOffice has it now
    assert report["webhook"]["status"] == "active"
    assert report["webhook"]["live"] == {"state": "Active", "status": "active"}
    # And the password is nowhere in what it prints, in either form
    human = cli("check", "check-ok")
    assert human.returncode == 0
    assert "healthy" in human.stdout
    assert simulator.password * 2 not in human.stdout + json.dumps(report)


def test_a_wrong_password_is_auth_failed(cli: Cli, simulator: SimulatorHandle) -> None:
    set_onsite_account(cli, "check-badpw", simulator.api_url, simulator.username, "not-the-password")
    status, report = check(cli, "check-badpw")
    assert (status, report["error"], report["healthy"]) == (1, "auth_failed", False)
    assert report["calls"][0]["status"] == 401
    assert "not-the-password" not in json.dumps(report)


def test_a_host_that_does_not_resolve_is_dns(cli: Cli) -> None:
    # Sync off: with it on, `account set` would first wait for the settings function's webhook
    # registration to give up on the host (its retries take ~13 s); `check` tests the connection either way.
    cli.json(
        "account", "set", "check-dns", "--integration", "superoffice", "--no-legal-basis-sync",
        "--superoffice-url", "https://nothing.invalid/Cust1/api/v1", "--username", "sync", "--password", "secret-pw",
    )  # fmt: skip
    status, report = check(cli, "check-dns")
    assert (status, report["error"]) == (1, "dns"), report


def test_a_server_slower_than_the_timeout_is_timeout(cli: Cli, simulator: SimulatorHandle) -> None:
    set_onsite_account(cli, "check-slow", simulator.api_url, simulator.username, simulator.password)
    simulator.control.set_faults(latency_ms=3000)
    try:
        status, report = check(cli, "check-slow", "--timeout", "1")
    finally:
        simulator.control.clear_faults()
    assert (status, report["error"]) == (1, "timeout"), report
    assert report["calls"][0]["error"] == "ReadTimeout"


class _Forbidding(BaseHTTPRequestHandler):
    """Answers every request 403 with a SuperOffice-like error body."""

    def do_GET(self) -> None:
        body = json.dumps({"Error": True, "ErrorType": "Forbidden", "Message": "Access denied"}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def forbidding_server() -> Iterator[str]:
    with loopback_server(_Forbidding) as url:
        yield url


def test_a_403_is_forbidden(cli: Cli, forbidding_server: str) -> None:
    set_onsite_account(cli, "check-403", forbidding_server, "sync", "secret-pw")
    status, report = check(cli, "check-403")
    assert (status, report["error"]) == (1, "forbidden"), report
    assert "Access denied" in report["message"]


def test_unknown_and_unintegrated_accounts(cli: Cli) -> None:
    status, report = check(cli, "check-nobody")
    assert (status, report["error"]) == (1, "unknown_account")
    cli.json("account", "set", "check-none", "--integration", "none")
    status, report = check(cli, "check-none")
    assert (status, report["error"]) == (1, "integration_none")
