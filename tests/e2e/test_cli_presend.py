"""`consent-sync presend` end to end: import a selection, check its members and strangers, read the verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.simulator.testing import SimulatorHandle
from tests.e2e.conftest import Cli

ACCOUNT = "presend-e2e"


@pytest.fixture(scope="module")
def imported(cli: Cli, simulator: SimulatorHandle) -> list[str]:
    """An account with sync on whose contacts came from a selection; their e-mails."""
    cli.json(
        "account", "set", ACCOUNT, "--integration", "superoffice", "--legal-basis-sync",
        "--superoffice-url", simulator.api_url, "--allow-insecure",
        "--username", simulator.username, "--password", simulator.password,
    )  # fmt: skip
    selection = simulator.control.selection_ids()[0]
    summary = cli.json("import", ACCOUNT, "--selection", str(selection), "--wait")
    assert summary["status"] == "completed"
    emails = []
    for person_id, _ in simulator.control.selection_members(selection):
        person = simulator.control.person(person_id) if person_id else None
        if person and person["primary_email"] and "@" in person["primary_email"]:
            emails.append(person["primary_email"])
    return emails[:20]


def test_presend_prints_one_verdict_per_recipient(cli: Cli, imported: list[str], tmp_path: Path) -> None:
    # Given a recipient file with the imported contacts (one of them twice, in capitals) and a stranger
    recipients = [*imported, imported[0].upper(), "stranger@example.org"]
    listing = tmp_path / "recipients.txt"
    listing.write_text("\n".join(recipients) + "\n")
    # When the send-out is checked at the Checklist stage and we wait for the verdicts
    result = cli(
        "presend", ACCOUNT, "spring", "--channel", "email", "--recipients", str(listing), "--wait", "--json"
    )
    assert result.returncode == 0, result.stderr
    verdicts = json.loads(result.stdout)
    # Then every recipient appears once, allowed or blocked with a reason
    assert (verdicts["sendout_id"], verdicts["stage"], verdicts["channel"]) == (
        "spring",
        "checklist",
        "email",
    )
    judged = verdicts["allowed"] + [b["email"] for b in verdicts["blocked"]]
    assert sorted(judged) == sorted({r.lower() for r in recipients})
    assert {"email": "stranger@example.org", "reason": "unknown_contact"} in verdicts["blocked"]
    assert {b["reason"] for b in verdicts["blocked"]} <= {
        "unknown_contact", "store_withdrawn", "emarketing_withdrawn", "no_emarketing_basis",
    }  # fmt: skip


def test_presend_reads_stdin_for_sms(cli: Cli, imported: list[str]) -> None:
    result = cli(
        "presend", ACCOUNT, "spring-sms", "--channel", "sms", "--stage", "sending", "--recipients", "-",
        "--wait", "--json", input_text=imported[0] + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    verdicts = json.loads(result.stdout)
    assert (verdicts["stage"], verdicts["channel"]) == ("sending", "sms")
    assert len(verdicts["allowed"]) + len(verdicts["blocked"]) == 1


def test_presend_for_an_unknown_account_is_exit_1(cli: Cli, tmp_path: Path) -> None:
    listing = tmp_path / "one.txt"
    listing.write_text("a@example.com\n")
    result = cli("presend", "nobody", "x", "--channel", "email", "--recipients", str(listing), "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"] == "unknown_account"
