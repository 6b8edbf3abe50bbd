"""`consent-sync import` end to end: the CLI against `consent-sync local up` and the simulator."""

from __future__ import annotations

import json

from devtools.simulator.testing import SimulatorHandle
from tests.e2e.conftest import Cli

ACCOUNT = "import-e2e"
EDGE_CASES = 3  # the seeded selection of duplicates and persons without e-mail
SUMMARY_FIELDS = {"import_id", "status", "members", "created", "updated", "skipped", "duplicates", "failed"}


def configure(cli: Cli, simulator: SimulatorHandle, account: str) -> None:
    cli.json(
        "account", "set", account, "--integration", "superoffice", "--no-legal-basis-sync",
        "--superoffice-url", simulator.api_url, "--allow-insecure",
        "--username", simulator.username, "--password", simulator.password,
    )  # fmt: skip


def test_import_waits_and_prints_the_summary(cli: Cli, simulator: SimulatorHandle) -> None:
    configure(cli, simulator, ACCOUNT)
    members = [person for person, _ in simulator.control.selection_members(EDGE_CASES) if person]

    # When an operator imports a selection and waits
    result = cli("import", ACCOUNT, "--selection", str(EDGE_CASES), "--wait", "--json")

    # Then stdout holds the import document (README.md), every member accounted for
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert set(summary) >= SUMMARY_FIELDS
    assert summary["import_id"].startswith("imp-")
    assert (summary["status"], summary["members"], summary["failed"]) == ("completed", len(members), 0)
    assert set(summary["skipped"]) >= {"no_email", "invalid_email", "no_emarketing_consent"}
    assert summary["skipped"]["no_email"] > 0
    assert summary["duplicates"] > 0
    assert (
        summary["created"] + summary["updated"] + summary["duplicates"] + sum(summary["skipped"].values())
        == summary["members"]
    )
    # and the progress went to stderr, not into the JSON
    assert "import" in result.stderr

    # Without --wait, the import id comes back at once
    started = cli.json("import", ACCOUNT, "--project", str(EDGE_CASES), "--only-emarketing-consented")
    assert (started["status"], started["account_id"]) == ("running", ACCOUNT)
    assert started["source"] == {"kind": "project", "id": EDGE_CASES}


def test_import_refuses_what_it_can_tell_is_wrong(cli: Cli, simulator: SimulatorHandle) -> None:
    unknown = cli("import", "nobody-here", "--selection", "1", "--json")
    assert unknown.returncode == 1
    assert json.loads(unknown.stdout)["error"] == "unknown_account"

    cli.json("account", "set", "import-none", "--integration", "none")
    none = cli("import", "import-none", "--selection", "1", "--json")
    assert none.returncode == 1
    assert json.loads(none.stdout)["error"] == "integration_none"

    assert cli("import", ACCOUNT, "--json").returncode == 2  # neither --selection nor --project
