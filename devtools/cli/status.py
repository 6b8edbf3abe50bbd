"""`consent-sync status`: accounts (runs, watermark, pushes owed, contacts, imports, webhook) and queues."""

from __future__ import annotations

from typing import Annotated

import typer

from devtools.cli.output import JsonFlag, failures, out, print_json, resolve


def status(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Argument(help="One account (default: every account).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show how the accounts and the stack's queues stand (docs/cli.md describes --json)."""
    from devtools import status as report

    with failures(as_json):
        document = report.status(resolve(ctx), account)
        if as_json:
            print_json(document)
        else:
            report.render(out, document)
