"""The sync commands end to end: `sync`, `consent set`, `contact show` and `audit` through the CLI against
`consent-sync local up` and the simulator (the push and the run need the reconcile worker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from devtools.simulator.testing import SimulatorHandle
from tests.e2e.conftest import Cli

ACCOUNT = "sync-e2e"
PERSON = 8  # seed 3: anders.o'brien8@example.com, the only person with that address
TYPED = "Anders.O'Brien8@Example.com"  # as an operator might type it
EMAIL = TYPED.lower()
COUNTS = ("reconciled", "pushed", "pulled", "unchanged", "failed")


@pytest.fixture(scope="module")
def account(cli: Cli, simulator: SimulatorHandle) -> str:
    # An account with sync on; e-marketing on for the person in SuperOffice since yesterday
    yesterday = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    simulator.control.set_consent(PERSON, "EMARKETING", "61A", source="WEBFORM", at=yesterday)
    cli.json(
        "account", "set", ACCOUNT, "--integration", "superoffice", "--legal-basis-sync",
        "--superoffice-url", simulator.api_url, "--allow-insecure",
        "--username", simulator.username, "--password", simulator.password,
    )  # fmt: skip
    return ACCOUNT


def test_sync_waits_for_the_run_and_prints_its_counts(cli: Cli, account: str) -> None:
    # One account: one document
    run = cli.json("sync", account, "--baseline", "--wait")
    assert run["account_id"] == account
    assert run["run_id"].startswith("cli-")
    assert (run["kind"], run["status"]) == ("baseline", "completed")
    assert all(isinstance(run[name], int) for name in COUNTS)
    # Every account with sync on: a list, one document each
    runs = cli.json("sync", "--wait")
    assert [(r["account_id"], r["kind"], r["status"]) for r in runs] == [(account, "requested", "completed")]


def test_a_platform_unsubscribe_is_shown_pushed_and_audited(
    cli: Cli, account: str, simulator: SimulatorHandle
) -> None:
    # When the operator records an unsubscribe as the platform would report it
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    recorded = cli.json(
        "consent", "set", account, TYPED, "--purpose", "EMARKETING", "--legal-base", "WITHDRAWN",
        "--source", "WEBFORM", "--comment", "Unsubscribed", "--changed-at", at.isoformat(),
    )  # fmt: skip
    assert (recorded["email"], recorded["status"], recorded["push"]) == (EMAIL, "recorded", True)

    # Then the contact shows the platform's state at once
    shown = cli.json("contact", "show", account, TYPED)
    assert (shown["account_id"], shown["email"]) == (account, EMAIL)
    assert shown["consents"]["EMARKETING"] == {
        "legal_base": "WITHDRAWN",
        "active": False,
        "source": "WEBFORM",
        "changed_at": at.isoformat(),
        "changed_in": "platform",
    }

    # And once a run has gone by (the push was queued at once; a run also retries a push still owed),
    # SuperOffice's person (found by the e-mail) has it, and the decision log shows the push
    cli.json("sync", account, "--wait")
    assert simulator.control.consent(PERSON, "EMARKETING")["LegalBaseKey"] == "WITHDRAWN"  # type: ignore[index]
    audit = cli.json("audit", account, EMAIL)
    assert [row["at"] for row in audit] == sorted((row["at"] for row in audit), reverse=True)
    pushes = [row for row in audit if row["action"] == "push" and row["purpose"] == "EMARKETING"]
    assert pushes, audit
    assert pushes[0]["winner"] == "platform"
    assert pushes[0]["platform"]["legal_base"] == "WITHDRAWN"
    assert pushes[0]["superoffice"]["person_id"] == PERSON
    # who made each side's change: the platform's source, the SuperOffice associate of the row decided on
    assert pushes[0]["updated_by"]["platform"] == "WEBFORM"
    assert isinstance(pushes[0]["updated_by"]["superoffice"], int)

    # And the human form is a table
    table = cli("contact", "show", account, EMAIL)
    assert table.returncode == 0
    assert "EMARKETING" in table.stdout
    assert "WITHDRAWN" in table.stdout


def test_consent_set_refuses_times_it_cannot_order(cli: Cli, account: str) -> None:
    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    for changed_at in (future, "2026-11-22T10:00:00"):
        result = cli(
            "consent", "set", account, EMAIL, "--purpose", "STORE", "--legal-base", "61F",
            "--changed-at", changed_at,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert "--changed-at" in result.stderr


def test_what_does_not_exist_is_exit_1_with_a_json_error(cli: Cli, account: str) -> None:
    result = cli("contact", "show", account, "nobody@example.com", "--json")
    assert (result.returncode, json.loads(result.stdout)["error"]) == (1, "unknown_contact")
    result = cli("sync", "no-such-account", "--json")
    assert (result.returncode, json.loads(result.stdout)["error"]) == (1, "unknown_account")


def test_a_consent_that_loses_to_a_superoffice_withdrawal_is_reported_overridden(
    cli: Cli, account: str, simulator: SimulatorHandle
) -> None:
    # Given a SuperOffice user's withdrawal of Store and process a moment ago
    withdrawn_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=4)
    simulator.control.set_consent(PERSON, "STORE", "WITHDRAWN", source="USER", at=withdrawn_at)
    # When the platform reports a consent 2 s later (inside the skew window)
    given = (withdrawn_at + timedelta(seconds=2)).isoformat()
    result = cli.json(
        "consent", "set", account, EMAIL, "--purpose", "STORE", "--legal-base", "61A", "--changed-at", given,
    )  # fmt: skip
    # Then it is recorded, and the sync keeps the withdrawal: the command says so, and succeeds
    assert (result["status"], result["rule"], result["push"]) == ("overridden", "skew_restrictive", False)
    shown = cli.json("contact", "show", account, EMAIL)
    assert shown["consents"]["STORE"]["legal_base"] == "WITHDRAWN"
    assert simulator.control.consent(PERSON, "STORE")["LegalBaseKey"] == "WITHDRAWN"  # type: ignore[index]
