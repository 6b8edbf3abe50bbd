"""`consent-sync audit`: a contact's decision log, newest first."""

from __future__ import annotations

from typing import Annotated

import typer

from devtools.cli.output import JsonFlag, failures, out, print_json, resolve, usage


def audit(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument()],
    email: Annotated[str, typer.Argument()],
    limit: Annotated[int, typer.Option(min=1, help="At most this many decisions, newest first.")] = 1000,
    as_json: JsonFlag = False,
) -> None:
    """Show a contact's decision log, newest first."""
    from devtools import contacts

    with failures(as_json):
        try:
            address = contacts.checked_email(email)
        except contacts.UsageProblem as exc:
            usage(str(exc))
        rows = contacts.audit(resolve(ctx), account, address, limit)
        if as_json:
            print_json(rows)
        else:
            out.print(contacts.audit_table(rows, title=address))
