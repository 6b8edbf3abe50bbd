"""SuperOffice's webhooks through the CLI against `local up` and the simulator: `account set` registers
one active webhook at the local receiver, a SuperOffice withdrawal reaches `contact show` in seconds
with no sync run, a forged delivery changes nothing, sync off removes the webhook (docs/webhooks.md)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from consent_sync.domain.webhook import signature
from devtools.simulator.testing import SimulatorHandle
from tests.e2e.conftest import Cli, set_onsite_account
from tests.e2e.test_cli_dry_run import unique_persons

ACCOUNT = "hooks-e2e"
ARRIVAL_S = 10.0  # the design's target for a SuperOffice change on the platform


def _emarketing(cli: Cli, email: str) -> str | None:
    consents = cli.json("contact", "show", ACCOUNT, email)["consents"]
    return None if consents["EMARKETING"] is None else consents["EMARKETING"]["legal_base"]


def test_webhooks_end_to_end(cli: Cli, simulator: SimulatorHandle) -> None:
    # Given a contact imported with e-marketing on
    ((person, email),) = unique_persons(simulator, 1, start=150)
    yesterday = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    simulator.control.set_consent(person, "EMARKETING", "61A", source="WEBFORM", at=yesterday)
    # When the account is set with sync on
    set_onsite_account(cli, ACCOUNT, simulator.api_url, simulator.username, simulator.password)
    shown = cli.json("account", "show", ACCOUNT)
    # Then the tenant holds one active webhook for the account, at the local receiver
    webhook = shown["webhook"]
    assert webhook["status"] == "active"
    assert webhook["target_url"].startswith("http://127.0.0.1:")
    assert webhook["target_url"].endswith(f"/accounts/{ACCOUNT}")
    held = [hook for hook in simulator.control.webhooks() if hook["target_url"] == webhook["target_url"]]
    assert [(h["webhook_id"], h["state"]) for h in held] == [(webhook["webhook_id"], "Active")]
    selection = simulator.control.create_selection([person])
    cli.json("import", ACCOUNT, "--selection", str(selection), "--wait")
    assert _emarketing(cli, email) == "61A"

    # When a forged delivery names the person (unsigned, then signed with a key that is not the secret)
    simulator.control.reset_counts()
    body = json.dumps(
        {
            "EventId": str(uuid.uuid4()),
            "Event": "person.unconsented",
            "PrimaryKey": person,
            "Entity": "person",
        }
    ).encode()
    for headers in ({}, {"X-SuperOffice-Signature": signature("guessed", body)}):
        answer = httpx.post(webhook["target_url"], content=body, headers=headers, timeout=30)
        # Then it is refused with a 4xx, reads nothing from SuperOffice and changes nothing
        assert 400 <= answer.status_code < 500
    time.sleep(2)
    assert {k: v for k, v in simulator.control.counts().items() if not k.startswith("status:")} == {}
    assert _emarketing(cli, email) == "61A"

    # When a SuperOffice user withdraws the consent
    simulator.control.set_consent(person, "EMARKETING", "WITHDRAWN", source="USER")
    changed = time.monotonic()
    # Then `contact show` has it within 10 s, with no sync run
    while _emarketing(cli, email) != "WITHDRAWN" and time.monotonic() - changed < ARRIVAL_S:
        time.sleep(0.2)
    assert _emarketing(cli, email) == "WITHDRAWN"
    (latest, *_) = cli.json("audit", ACCOUNT, email)
    assert (latest["trigger"], latest["action"]) == ("webhook", "pull")

    # When sync is switched off
    cli.json("account", "set", ACCOUNT, "--integration", "superoffice", "--no-legal-basis-sync")
    # Then the webhook is gone from the tenant
    assert [h for h in simulator.control.webhooks() if h["target_url"] == webhook["target_url"]] == []
    assert cli.json("account", "show", ACCOUNT)["webhook"]["status"] == "none"
