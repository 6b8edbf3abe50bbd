"""`consent-sync audit`: a contact's decision log (`audit ACCOUNT EMAIL`), and every decision of an
account in a period (`audit export ACCOUNT`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from devtools.cli.output import JsonFlag, err, failures, out, print_json, resolve, usage
from devtools.operator import ExportFormat


class _AuditGroup(TyperGroup):
    """`audit ACCOUNT EMAIL` stays a command of its own beside `audit export`: arguments that name no
    subcommand go to the contact's log (an account named `export` must use `audit contact`)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["contact", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_AuditGroup, help="The decision log: one contact's, or an account's for a period.")


@app.command("contact", hidden=True)
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


@app.command("export")
def export(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument()],
    since: Annotated[
        str | None, typer.Option(help="From this time (ISO 8601 with offset, or a date), inclusive.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Up to this time, exclusive.")] = None,
    form: Annotated[ExportFormat, typer.Option("--format", help="csv (a header row) or jsonl.")] = "csv",
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Every decision of ACCOUNT in the period, oldest first: CSV (header row) or JSON lines."""
    from devtools import audit_export
    from devtools.contacts import UsageProblem
    from devtools.progress import progress_bars

    with failures(False):
        try:
            start = audit_export.parse_bound(since, "--since")
            end = audit_export.parse_bound(until, "--until")
        except UsageProblem as exc:
            usage(str(exc))
        stack = resolve(ctx)
        sink: Any = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
        try:
            with progress_bars(err) as progress:
                rows = audit_export.export(
                    stack,
                    account,
                    sink,
                    since=start,
                    until=end,
                    form=form,
                    progress=lambda done: progress("decisions exported", done, None),
                )
        except UsageProblem as exc:
            usage(str(exc))
        finally:
            if output:
                sink.close()
        err.print(f"{rows} decisions exported", highlight=False)
