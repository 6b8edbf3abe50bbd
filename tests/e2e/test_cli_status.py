"""`consent-sync status` end to end: after an import and a sync through the CLI, against `local up` and
the simulator; the `--json` document's shape (docs/cli.md), every account, the queues and dead letters."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from devtools.simulator.testing import SimulatorHandle
from tests.e2e.conftest import Cli

ACCOUNT = "status-e2e"
OTHER = "status-none"
EDGE_CASES = 3  # the seeded selection of duplicates and persons without e-mail
DOCUMENT = {"stack", "generated_at", "accounts", "queues"}
ACCOUNT_FIELDS = {
    "account_id", "integration", "legal_basis_sync", "last_run", "watermark", "pushes_owed", "contacts",
    "last_import", "webhook",
}  # fmt: skip
RUN_FIELDS = {
    "run_id", "kind", "status", "reconciled", "pushed", "pulled", "unchanged", "failed", "created_at",
    "completed_at",
}  # fmt: skip
QUEUE_FIELDS = {"name", "queue_name", "dead_letters", "visible", "in_flight", "oldest_age_s"}
QUEUES = [
    "bulk", "interactive", "webhook-pulls", "bulk-dlq", "interactive-dlq", "events-dlq", "webhook-pulls-dlq",
]  # fmt: skip


@pytest.fixture(scope="module")
def worked(cli: Cli, simulator: SimulatorHandle) -> dict[str, Any]:
    """An account with sync on, one import and one requested run done through the CLI."""
    cli.json(
        "account", "set", ACCOUNT, "--integration", "superoffice", "--legal-basis-sync",
        "--superoffice-url", simulator.api_url, "--allow-insecure",
        "--username", simulator.username, "--password", simulator.password,
    )  # fmt: skip
    imported = cli.json("import", ACCOUNT, "--selection", str(EDGE_CASES), "--wait")
    run = cli.json("sync", ACCOUNT, "--wait")
    return {"import": imported, "run": run}


def test_status_of_one_account_after_an_import_and_a_sync(cli: Cli, worked: dict[str, Any]) -> None:
    document = cli.json("status", ACCOUNT)
    assert set(document) == DOCUMENT
    assert document["stack"] == cli.stack
    (account,) = document["accounts"]
    assert set(account) == ACCOUNT_FIELDS
    assert (account["account_id"], account["integration"], account["legal_basis_sync"]) == (
        ACCOUNT,
        "superoffice",
        True,
    )

    # The last run is the one `sync` waited for, with its counts
    run, last_run = worked["run"], account["last_run"]
    assert set(last_run) == RUN_FIELDS
    assert (last_run["run_id"], last_run["kind"], last_run["status"]) == (
        run["run_id"],
        "requested",
        "completed",
    )
    for name in ("reconciled", "pushed", "pulled", "unchanged", "failed"):
        assert last_run[name] == run[name], name
    assert last_run["created_at"] <= last_run["completed_at"]

    # A clean run moved the watermark; nothing is owed; the imported contacts are counted
    assert account["watermark"] is not None
    assert datetime.fromisoformat(account["watermark"]) <= datetime.now(UTC)
    assert account["pushes_owed"] == 0
    imported = worked["import"]
    assert imported["created"] > 0
    assert account["contacts"] == {"total": imported["created"], "linked": imported["created"], "unlinked": 0}

    # The last import is the one `import` waited for, with its counts
    last_import = account["last_import"]
    assert (last_import["import_id"], last_import["status"]) == (imported["import_id"], "completed")
    for name in ("members", "created", "updated", "duplicates", "failed", "skipped"):
        assert last_import[name] == imported[name], name
    assert last_import["completed_at"] is not None

    # `account set` registered its SuperOffice webhook (the stack's webhooks are on)
    webhook = account["webhook"]
    assert set(webhook) == {"status", "webhook_id", "target_url", "checked_at", "detail"}
    assert webhook["target_url"].endswith(f"/accounts/{ACCOUNT}")

    # And the human form says as much
    shown = cli("status", ACCOUNT)
    assert shown.returncode == 0, shown.stderr
    for text in (ACCOUNT, "superoffice", "requested completed", webhook["status"], "webhook-pulls-dlq"):
        assert text in shown.stdout, text


def test_status_lists_every_account(cli: Cli, worked: dict[str, Any]) -> None:
    cli.json("account", "set", OTHER, "--integration", "none")
    document = cli.json("status")
    by_id = {account["account_id"]: account for account in document["accounts"]}
    assert list(by_id) == sorted([ACCOUNT, OTHER])
    other = by_id[OTHER]
    assert (other["integration"], other["legal_basis_sync"]) == ("none", False)
    assert (other["last_run"], other["last_import"], other["watermark"]) == (None, None, None)
    assert other["contacts"] == {"total": 0, "linked": 0, "unlinked": 0}
    assert other["webhook"]["status"] == "none"  # no SuperOffice, no webhook
    assert "not registered" in cli("status", OTHER).stdout
    assert by_id[ACCOUNT]["last_run"]["run_id"] == worked["run"]["run_id"]


def test_status_of_an_unknown_account_fails(cli: Cli) -> None:
    result = cli("status", "nobody-here", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"] == "unknown_account"


def test_queues_show_depth_age_and_dead_letter_reasons_without_consuming_them(cli: Cli) -> None:
    # Given three dead letters as their writers leave them: two rejections, one failed async invocation
    sqs = cli.aws("sqs")
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cli.aws("cloudformation").describe_stacks(StackName=cli.stack)["Stacks"][0]["Outputs"]
    }
    url = outputs["EventsDeadLetterQueueUrl"]
    for _ in range(2):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"reason": "unknown_account"}),
            MessageAttributes={"reason": {"DataType": "String", "StringValue": "unknown_account"}},
        )
    failed = {
        "requestContext": {"condition": "RetriesExhausted"},
        "responsePayload": {"errorType": "StoreBusy"},
    }
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(failed))

    # When status is asked once the local stack has sampled the queue's age
    deadline = time.monotonic() + 30
    while True:
        queues = {queue["name"]: queue for queue in cli.json("status")["queues"]}
        if (queues["events-dlq"]["oldest_age_s"] or 0) >= 1 or time.monotonic() > deadline:
            break
        time.sleep(1)

    # Then every queue is there with its figures, and the dead letters with their reasons
    assert list(queues) == QUEUES
    for name, queue in queues.items():
        assert set(queue) >= QUEUE_FIELDS, name
        assert queue["dead_letters"] == name.endswith("-dlq")
        assert queue["queue_name"] in outputs[_OUTPUTS[name]]
    events = queues["events-dlq"]
    assert (events["visible"], events["in_flight"], events["sampled"]) == (3, 0, 3)
    assert events["oldest_age_s"] >= 1
    assert events["top_reasons"] == [
        {"reason": "unknown_account", "count": 2},
        {"reason": "RetriesExhausted: StoreBusy", "count": 1},
    ]
    assert queues["webhook-pulls-dlq"]["top_reasons"] == []
    assert queues["bulk"]["visible"] == queues["bulk"]["in_flight"] == 0
    assert queues["bulk"]["oldest_age_s"] is not None  # sampled, as AWS publishes it for every queue

    # And reading them left them on the queue, visible
    again = {queue["name"]: queue for queue in cli.json("status")["queues"]}["events-dlq"]
    assert (again["visible"], again["in_flight"]) == (3, 0)


_OUTPUTS = {
    "bulk": "ReconcileQueueUrl",
    "interactive": "InteractiveQueueUrl",
    "bulk-dlq": "ReconcileDeadLetterQueueUrl",
    "interactive-dlq": "InteractiveDeadLetterQueueUrl",
    "events-dlq": "EventsDeadLetterQueueUrl",
    "webhook-pulls": "WebhookPullQueueUrl",
    "webhook-pulls-dlq": "WebhookPullDeadLetterQueueUrl",
}
