"""The dry run of a sync (`flows.drift_report`) on the local stack and the simulator: it selects and
decides what the real run then does, and writes nothing on either side."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from consent_sync.domain.contact import StoredConsent
from consent_sync.domain.vocabulary import Purpose, Side
from consent_sync.flows.drift_report import dry_run
from consent_sync.superoffice import clear_caches
from devtools.stack import Stack
from tests.integration.sync.conftest import People, SyncWorld, superoffice_state


def table_items(world: SyncWorld) -> list[dict[str, Any]]:
    """Every item of the consent table but the tenants' request budgets (a dry run may take from them)."""
    dynamodb = boto3.client("dynamodb", endpoint_url=world.stack.endpoint_url, region_name="eu-west-1")
    items = [
        item
        for page in dynamodb.get_paginator("scan").paginate(TableName=world.table)
        for item in page["Items"]
        if not item["pk"]["S"].startswith("BUDGET#")
    ]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def test_the_dry_run_reports_what_the_run_then_does(world: SyncWorld, people: People) -> None:
    # Given an account in step, then a SuperOffice user's withdrawal of A and a platform-side
    # withdrawal of B that the platform has not pushed yet (it is owed: pending)
    account = "dry-both-sides"
    (a, a_email), (b, b_email), _ = world.account_in_step(account, people, 3)
    now = datetime.now(UTC).replace(microsecond=0)
    world.simulator.control.set_consent(
        a, "EMARKETING", "WITHDRAWN", source="USER", at=now - timedelta(seconds=30)
    )
    contact = world.contact(account, b_email)
    withdrawn = StoredConsent(
        legal_base="WITHDRAWN",
        source="WEBFORM",
        changed_at=now - timedelta(seconds=20),
        changed_in=Side.PLATFORM,
    )
    contact.consents[Purpose.EMARKETING] = withdrawn
    contact.pending[Purpose.EMARKETING] = withdrawn
    world.contacts.save(contact, expected_version=contact.version)
    before = table_items(world)
    world.simulator.control.reset_counts()

    # When the operator asks for a dry run
    clear_caches()
    report = dry_run(Stack.resolve(world.stack.template.stack_name).function_config(), account).document()

    # Then it lists A's pull and B's push, with the rules and both sides' states
    assert (report["kind"], report["reconciled"], report["pushed"], report["pulled"]) == (
        "requested",
        2,
        1,
        1,
    )
    emarketing = report["purposes"]["EMARKETING"]
    assert (emarketing["push"], emarketing["pull"], emarketing["none"]) == (1, 1, 0)
    (pull,) = emarketing["samples"]["pull"]
    assert (pull["email"], pull["rule"]) == (a_email, "same_clock")  # both times are SuperOffice's
    assert (pull["platform"]["legal_base"], pull["superoffice"]["legal_base"]) == ("61A", "WITHDRAWN")
    assert pull["superoffice"]["person_id"] == a
    (push,) = emarketing["samples"]["push"]
    assert (push["email"], push["rule"]) == (b_email, "later_wins")
    assert (push["platform"]["legal_base"], push["platform"]["changed_in"]) == ("WITHDRAWN", "platform")
    assert report["purposes"]["STORE"]["none"] == 2
    # And nothing was written: no SuperOffice write, the table as it was (budget items aside)
    counts = world.simulator.control.counts()
    assert not [key for key in counts if key.startswith(("PUT", "POST", "DELETE"))], counts
    assert report["superoffice_calls"]
    assert table_items(world) == before

    # When the real run follows
    run = world.run(account, world.request_sync(account))
    # Then it pushes and pulls exactly those
    assert {name: run.counters[name] for name in ("reconciled", "pushed", "pulled", "unchanged")} == {
        name: report[name] for name in ("reconciled", "pushed", "pulled", "unchanged")
    }
    assert superoffice_state(world.simulator, b, "EMARKETING").legal_base == "WITHDRAWN"  # type: ignore[union-attr]
    assert world.contact(account, a_email).consents[Purpose.EMARKETING].legal_base == "WITHDRAWN"
    # And a dry run now finds nothing more to do
    clear_caches()
    again = dry_run(Stack.resolve(world.stack.template.stack_name).function_config(), account).document()
    assert (again["pushed"], again["pulled"]) == (0, 0)


def test_an_account_without_a_watermark_is_dry_run_as_a_baseline(world: SyncWorld, people: People) -> None:
    account = "dry-baseline"
    world.store_settings(account)
    person, email = people.take()
    world.link(account, person, email, in_step=False)
    clear_caches()
    report = dry_run(Stack.resolve(world.stack.template.stack_name).function_config(), account).document()
    assert (report["kind"], report["watermark"], report["selected"]["emails"]) == ("baseline", None, 1)
    assert report["reconciled"] == 1
    # A contact that holds nothing yet takes SuperOffice's states
    assert report["pulled"] == 1
    assert world.contact(account, email).consents == {}


def test_an_account_without_sync_would_do_nothing(world: SyncWorld) -> None:
    world.store_settings("dry-off", legal_basis_sync=False)
    world.simulator.control.reset_counts()
    report = dry_run(Stack.resolve(world.stack.template.stack_name).function_config(), "dry-off").document()
    assert (report["syncs"], report["reconciled"], report["superoffice_calls"]) == (False, 0, {})
    assert world.superoffice_calls() == 0
