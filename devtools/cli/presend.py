"""`consent-sync presend`: the send-out gate for a recipient list and, with `--wait`, its verdicts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from devtools import operator
from devtools.cli.output import JsonFlag, err, failures, out, print_json, resolve, usage
from devtools.progress import progress_bars


def presend(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument()],
    sendout: Annotated[str, typer.Argument()],
    channel: Annotated[operator.ChannelName, typer.Option()],
    recipients: Annotated[
        str, typer.Option(help="A file of e-mail addresses, one per line, or - for stdin.")
    ],
    stage: Annotated[operator.StageName, typer.Option()] = "checklist",
    wait: Annotated[bool, typer.Option(help="Wait for the verdicts.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Check a send-out's recipients (after syncing them) and print the verdicts."""
    from devtools import presend as checks

    source = sys.stdin if recipients == "-" else None
    try:
        lines = (source.read() if source else Path(recipients).read_text()).splitlines()
    except OSError as exc:
        usage(f"cannot read the recipients: {exc.strerror}")
    addresses = [line.strip() for line in lines if line.strip()]
    with failures(as_json):
        stack = resolve(ctx)
        check_id = checks.request_check(stack, account, sendout, channel, stage, addresses)
        if not wait:
            document: dict[str, Any] = {
                "sendout_id": sendout,
                "stage": stage,
                "channel": channel,
                "check_id": check_id,
                "status": "checking",
            }
            if as_json:
                print_json(document)
            else:
                out.print(f"check {check_id} started")
            return
        with progress_bars(err) as advance:
            results = checks.wait_for_verdicts(
                stack, account, check_id, lambda done, total: advance(f"check {sendout}", done, total)
            )
        if as_json:
            print_json(results)
            return
        out.print(
            f"[bold]{sendout}[/bold] {stage} ({channel}): {len(results['allowed'])} allowed, "
            f"{len(results['blocked'])} blocked, {len(results['stale'])} stale"
        )
        table = Table("recipient", "reason", title="blocked")
        for item in results["blocked"]:
            table.add_row(item["email"], item["reason"])
        if results["blocked"]:
            out.print(table)
