"""`make run`: the local stack and the SuperOffice simulator, a scripted story, a summary.

This version shows the foundation at work: the stack comes up from template.yaml, a sample account is
configured through the operator code path (credentials into Secrets Manager, settings through the
bus), and every sample event is delivered to the function its rule names.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from devtools import operator
from devtools.local import Invocation, LocalRuntime, local_stack
from devtools.simulator.testing import running_simulator
from devtools.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
STACK_NAME = "consent-sync-demo"
HANDLER_LOG = ROOT / "build" / "demo-handlers.log"


def run_demo(out: Console, err: Console) -> int:
    """Run the story; return the exit status (0 when every step did what it should)."""
    started = time.monotonic()
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    failures: list[str] = []
    # The handlers log JSON to stdout, as in Lambda; here they write to a file so the story stays readable.
    out = Console(file=sys.stdout, width=out.width)
    HANDLER_LOG.parent.mkdir(exist_ok=True)
    with (
        HANDLER_LOG.open("w") as handler_log,
        contextlib.redirect_stdout(handler_log),
        err.status("starting the SuperOffice simulator and the local stack…"),
        running_simulator(persons=2000, seed=1) as sim,
        local_stack(template=ROOT / "template.yaml", stack_name=STACK_NAME, background=True) as stack,
    ):
        out.print(
            f"[bold]local stack[/bold] {STACK_NAME} on {stack.endpoint_url}; simulator on {sim.api_url}"
        )
        account = json.loads((EVENTS / "integration-settings-updated.json").read_text())["detail"]
        settings = operator.set_account(
            Stack.resolve(STACK_NAME),
            account["account_id"],
            operator.AccountOptions(
                integration="superoffice",
                legal_basis_sync=True,
                superoffice_url=sim.api_url,
                auth="basic",
                allow_insecure=True,
                username=sim.username,
                password=sim.password,
                presend_on_superoffice_failure=account["presend_on_superoffice_failure"],
            ),
        )
        out.print(
            f"account [bold]{settings.account_id}[/bold] configured: integration {settings.integration}, "
            f"legal-basis sync {'on' if settings.legal_basis_sync else 'off'}, credentials in Secrets Manager"
        )
        table = Table(title="sample events → functions")
        for column in ("event", "function", "outcome"):
            table.add_column(column)
        for sample in sorted(EVENTS.glob("*.json")):
            event = json.loads(sample.read_text())
            if event["source"] != "marketing.platform" or "settings" in sample.name:
                continue
            (event_id,) = stack.runtime.put_events(
                [
                    {
                        "EventBusName": stack.outputs["EventBusName"],
                        "Source": event["source"],
                        "DetailType": event["detail-type"],
                        "Detail": event["detail"],
                    }
                ]
            )
            delivered = _wait_for_delivery(stack.runtime, event_id)
            if delivered is None:
                failures.append(f"{sample.name} reached no function")
                table.add_row(event["detail-type"], "-", "[red]not delivered[/red]")
                continue
            function, invocation = delivered
            table.add_row(event["detail-type"], function, _outcome(invocation))
        out.print(table)
    out.print(f"handler logs (JSON, e-mail addresses masked): {HANDLER_LOG.relative_to(ROOT)}")
    for failure in failures:
        err.print(f"[red]failed:[/red] {failure}")
    out.print(f"done in {time.monotonic() - started:.1f} s")
    return 1 if failures else 0


def _wait_for_delivery(
    runtime: LocalRuntime, event_id: str, timeout_s: float = 15.0
) -> tuple[str, Invocation] | None:
    """The function (and its invocation) that received the event `event_id`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for function in runtime.functions:
            for invocation in runtime.invocations(function):
                if isinstance(invocation.event, dict) and invocation.event.get("id") == event_id:
                    return function, invocation
        time.sleep(0.05)
    return None


def _outcome(invocation: Invocation) -> str:
    result = invocation.result
    if invocation.error is not None:
        return f"[red]failed: {invocation.error}[/red]"
    if isinstance(result, dict) and result.get("status") == "rejected":
        return f"kept in the events DLQ: {result['reason']}"
    return str(result.get("status") if isinstance(result, dict) else result)
