"""`consent-sync audit export` end to end: after an import and a few changes, every decision of the
account once, as CSV that Python's `csv` reads and as JSON lines, against `consent-sync local up`."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from devtools.audit_export import COLUMNS
from devtools.simulator.testing import SimulatorHandle
from tests.e2e.conftest import Cli

ACCOUNT = "export-e2e"
SELECTION = 3  # the seeded selection of duplicates and persons without e-mail


def test_the_export_has_one_row_per_decision_with_both_sides(
    cli: Cli, simulator: SimulatorHandle, tmp_path: Path
) -> None:
    # Given an account with sync on, an imported selection, and a platform change on one contact
    started = datetime.now(UTC) - timedelta(seconds=1)
    cli.json(
        "account", "set", ACCOUNT, "--integration", "superoffice", "--legal-basis-sync",
        "--superoffice-url", simulator.api_url, "--allow-insecure",
        "--username", simulator.username, "--password", simulator.password,
    )  # fmt: skip
    imported = cli.json("import", ACCOUNT, "--selection", str(SELECTION), "--wait")
    assert imported["created"] > 0
    first = cli("audit", "export", ACCOUNT)
    assert first.returncode == 0, first.stderr
    email = next(csv.DictReader(io.StringIO(first.stdout)))["email"]
    at = (datetime.now(UTC) - timedelta(seconds=1)).replace(microsecond=0)
    changed = cli.json(
        "consent", "set", ACCOUNT, email, "--purpose", "EMARKETING", "--legal-base", "WITHDRAWN",
        "--source", "WEBFORM", "--changed-at", at.isoformat(),
    )  # fmt: skip
    assert changed["status"] == "recorded"

    # When the operator exports the account's decision log as CSV
    result = cli("audit", "export", ACCOUNT, "--format", "csv", "--since", started.isoformat())
    assert result.returncode == 0, result.stderr
    assert "decisions exported" in result.stderr  # the progress and the count go to stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))

    # Then a header row in the documented order, then one row per decision of the account
    assert tuple(rows[0]) == COLUMNS
    records = [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]
    per_email = Counter(r["email"] for r in records)
    for address in per_email:
        assert per_email[address] == len(cli.json("audit", ACCOUNT, address)), address
    assert {r["account_id"] for r in records} == {ACCOUNT}
    assert [r["at"] for r in records] == sorted(r["at"] for r in records)  # oldest first
    # and the platform change's push has both sides, the rule and who made each change
    push = next(r for r in records if r["email"] == email and r["action"] == "push")
    assert (push["platform_legal_base"], push["platform_source"], push["winner"]) == (
        "WITHDRAWN",
        "WEBFORM",
        "platform",
    )
    assert push["superoffice_legal_base"]
    assert push["superoffice_person_id"].isdigit()
    assert push["rule"]
    assert push["updated_by_platform_source"] == "WEBFORM"
    assert push["updated_by_superoffice_associate_id"].isdigit()

    # The same period as JSON lines into a file: one object per decision
    target = tmp_path / "export.jsonl"
    as_lines = cli(
        "audit",
        "export",
        ACCOUNT,
        "--since",
        started.isoformat(),
        "--format",
        "jsonl",
        "--output",
        str(target),
    )
    assert as_lines.returncode == 0, as_lines.stderr
    assert as_lines.stdout == ""
    objects = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(objects) == len(records)
    assert {"account_id", "email", "at", "superoffice", "platform", "rule", "updated_by"} <= set(objects[0])

    # A period after every decision holds the header only
    later = cli("audit", "export", ACCOUNT, "--since", (datetime.now(UTC) + timedelta(hours=1)).isoformat())
    assert later.stdout.splitlines() == [",".join(COLUMNS)]


def test_the_export_refuses_what_it_cannot_do(cli: Cli) -> None:
    unknown = cli("audit", "export", "nobody-here")
    assert unknown.returncode == 1
    assert "unknown_account" in unknown.stderr
    naive = cli("audit", "export", ACCOUNT, "--since", "2026-11-01T00:00:00")
    assert naive.returncode == 2
    backwards = cli("audit", "export", ACCOUNT, "--since", "2026-11-02", "--until", "2026-11-01")
    assert backwards.returncode == 2
