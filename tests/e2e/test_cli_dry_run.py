"""`consent-sync sync ACCOUNT --dry-run` end to end: changes on both sides, the report lists them, nothing
is written anywhere, and the real run then pushes and pulls exactly those."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consent_sync.domain.contact import StoredConsent
from consent_sync.domain.vocabulary import Purpose, Side
from consent_sync.store.contacts import ContactStore
from devtools.simulator.testing import SimulatorHandle
from tests.e2e.conftest import Cli, set_onsite_account

ACCOUNT = "dry-run-e2e"
COUNTS = ("reconciled", "pushed", "pulled", "unchanged")


def table_name(cli: Cli) -> str:
    (stack,) = cli.aws("cloudformation").describe_stacks(StackName=cli.stack)["Stacks"]
    return next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "ConsentTableName")


def table_items(cli: Cli) -> list[dict[str, Any]]:
    """The consent table's items, the tenants' request budgets aside (a dry run may take from them)."""
    pages = cli.aws("dynamodb").get_paginator("scan").paginate(TableName=table_name(cli))
    items = [item for page in pages for item in page["Items"] if not item["pk"]["S"].startswith("BUDGET#")]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def unique_persons(simulator: SimulatorHandle, count: int, start: int = 40) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for person_id in range(start, 200):
        email = (simulator.control.person(person_id) or {}).get("primary_email")
        if email and len(simulator.control.persons_by_email(email)) == 1:
            found.append((person_id, email.lower()))
            if len(found) == count:
                return found
    raise LookupError("not enough persons with an e-mail of their own")


def test_the_dry_run_lists_both_sides_writes_nothing_and_the_run_does_it(
    cli: Cli, simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an account with sync on and two imported contacts, e-marketing on since yesterday
    (a, a_email), (b, b_email) = unique_persons(simulator, 2)
    yesterday = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    for person in (a, b):
        simulator.control.set_consent(person, "EMARKETING", "61A", source="WEBFORM", at=yesterday)
    set_onsite_account(cli, ACCOUNT, simulator.api_url, simulator.username, simulator.password)
    selection = simulator.control.create_selection([a, b])
    cli.json("import", ACCOUNT, "--selection", str(selection), "--wait")
    cli.json("sync", ACCOUNT, "--wait")
    # And then a SuperOffice user withdraws A (its webhook delivery lost, as SuperOffice may drop one:
    # else the webhook would pull it at once), and B's withdrawal on the platform is still owed
    now = datetime.now(UTC).replace(microsecond=0)
    simulator.control.set_webhook_settings(drop_all=True)
    try:
        simulator.control.set_consent(
            a, "EMARKETING", "WITHDRAWN", source="USER", at=now - timedelta(seconds=20)
        )
        simulator.control.wait_webhooks_idle()
    finally:
        simulator.control.clear_webhook_settings()
    for name, value in cli.env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    contacts = ContactStore(table_name(cli))
    contact = contacts.get(ACCOUNT, b_email)
    assert contact is not None
    owed = StoredConsent(
        legal_base="WITHDRAWN",
        source="WEBFORM",
        changed_at=now - timedelta(seconds=10),
        changed_in=Side.PLATFORM,
    )
    contact.consents[Purpose.EMARKETING] = owed
    contact.pending[Purpose.EMARKETING] = owed
    contacts.save(contact, expected_version=contact.version)
    before = table_items(cli)
    simulator.control.reset_counts()

    # When the operator asks for a dry run
    report = cli.json("sync", ACCOUNT, "--dry-run")

    # Then it lists A's pull and B's push with both sides' states and the rule
    assert (report["account_id"], report["dry_run"], report["kind"]) == (ACCOUNT, True, "requested")
    assert {name: report[name] for name in COUNTS} == {
        "reconciled": 2,
        "pushed": 1,
        "pulled": 1,
        "unchanged": 0,
    }
    samples = report["purposes"]["EMARKETING"]["samples"]
    assert [(s["email"], s["superoffice"]["legal_base"]) for s in samples["pull"]] == [(a_email, "WITHDRAWN")]
    assert [(s["email"], s["platform"]["legal_base"], s["rule"]) for s in samples["push"]] == [
        (b_email, "WITHDRAWN", "later_wins")
    ]
    # And nothing was written: no SuperOffice write, the table as it was
    writes = [key for key in simulator.control.counts() if key.startswith(("PUT", "POST", "DELETE"))]
    assert writes == []
    assert table_items(cli) == before
    # And the human form says so too
    human = cli("sync", ACCOUNT, "--dry-run")
    assert human.returncode == 0, human.stderr
    assert "nothing was written" in human.stdout
    assert b_email in human.stdout

    # When the real run follows
    run = cli.json("sync", ACCOUNT, "--wait")
    # Then it pushed and pulled exactly those
    assert {name: run[name] for name in COUNTS} == {name: report[name] for name in COUNTS}
    assert simulator.control.consent(b, "EMARKETING")["LegalBaseKey"] == "WITHDRAWN"  # type: ignore[index]
    assert (
        cli.json("contact", "show", ACCOUNT, a_email)["consents"]["EMARKETING"]["legal_base"] == "WITHDRAWN"
    )


def test_dry_run_usage_and_unknown_accounts(cli: Cli) -> None:
    assert cli("sync", "--dry-run").returncode == 2
    result = cli("sync", "no-such-account", "--dry-run", "--json")
    assert (result.returncode, json.loads(result.stdout)["error"]) == (1, "unknown_account")
