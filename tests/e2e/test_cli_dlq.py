"""`consent-sync dlq list|show|redrive` end to end: an event a function really rejected, listed, shown
(masked, left in place) and redriven once its cause is fixed, against `consent-sync local up`."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import Cli

ACCOUNT = "dlq-e2e"
ADDRESS = "dead.letter@example.com"


def _events_depth(cli: Cli) -> int:
    queues = {row["queue"]: row for row in cli.json("dlq", "list")}
    return int(queues["events"]["messages"])


def test_a_rejected_event_is_listed_shown_and_redriven(cli: Cli) -> None:
    # Given a platform change for an account without settings: the function rejects it
    bus = cli.aws("cloudformation").describe_stacks(StackName=cli.stack)["Stacks"][0]["Outputs"]
    bus_name = next(o["OutputValue"] for o in bus if o["OutputKey"] == "EventBusName")
    detail = {
        "account_id": ACCOUNT, "email": ADDRESS, "purpose": "EMARKETING", "legal_base": "WITHDRAWN",
        "source": "WEBFORM", "comment": "Unsubscribed", "changed_at": "2026-11-30T10:00:00+00:00",
    }  # fmt: skip
    cli.aws("events").put_events(
        Entries=[
            {"EventBusName": bus_name, "Source": "marketing.platform", "DetailType": "Contact Consent Changed",
             "Detail": json.dumps(detail)}
        ]
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while _events_depth(cli) == 0:
        assert time.monotonic() < deadline, "the rejection never reached the events dead-letter queue"
        time.sleep(0.5)

    # When the operator lists the dead-letter queues: every queue, the events one with its reason
    queues = {row["queue"]: row for row in cli.json("dlq", "list")}
    assert set(queues) == {"reconcile", "interactive", "events", "webhook-pulls"}
    assert (queues["webhook-pulls"]["messages"], queues["webhook-pulls"]["top_reasons"]) == (0, [])
    assert queues["events"]["top_reasons"] == [{"reason": "unknown_account", "count": 1}]

    # And shows the message: the address masked, and the message still there
    shown = cli.json("dlq", "show", "events", "--index", "0")
    assert shown["reason"] == "unknown_account"
    assert ADDRESS not in json.dumps(shown)
    assert shown["body"]["event"]["detail"]["email"] == "d***@e***.com"
    assert (
        cli.json("dlq", "show", "events", "--message-id", shown["message_id"])["reason"] == "unknown_account"
    )
    human = cli("dlq", "show", "events")
    assert human.returncode == 0, human.stderr
    assert "unknown_account" in human.stdout
    assert ADDRESS not in human.stdout
    assert _events_depth(cli) == 1

    # When the account is set up and the queue redriven
    cli.json("account", "set", ACCOUNT, "--integration", "none")
    redriven = cli.json("dlq", "redrive", "events")
    assert redriven == {"queue": "events", "redriven": 1, "kept": {}}

    # Then the change is recorded on the contact, and the queue is empty
    deadline = time.monotonic() + 30
    while (shown_contact := cli("contact", "show", ACCOUNT, ADDRESS, "--json")).returncode != 0:
        assert time.monotonic() < deadline, shown_contact.stdout
        time.sleep(0.5)
    assert json.loads(shown_contact.stdout)["consents"]["EMARKETING"]["legal_base"] == "WITHDRAWN"
    assert _events_depth(cli) == 0


def test_an_unknown_queue_or_message_is_exit_1(cli: Cli) -> None:
    unknown = cli("dlq", "show", "nowhere", "--json")
    assert unknown.returncode == 1
    assert json.loads(unknown.stdout)["error"] == "unknown_queue"
    missing = cli("dlq", "show", "reconcile", "--index", "5", "--json")
    assert (missing.returncode, json.loads(missing.stdout)["error"]) == (1, "unknown_message")
    empty = cli("dlq", "show", "webhook-pulls", "--json")
    assert (empty.returncode, json.loads(empty.stdout)["error"]) == (1, "unknown_message")
    both = cli("dlq", "show", "events", "--index", "0", "--message-id", "x")
    assert both.returncode == 2
