"""`consent-sync`: the operator CLI (README.md, "The CLI"). Works on the local stack and on a deployed stack.

One module per command or command group; `devtools.cli.output` holds what they share (the consoles,
`--json`, failures and usage errors). Exit status: 0 success; 1 the thing asked for does not exist
or failed (with --json, an `{"error", "message"}` document on stdout); 2 a usage error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from devtools.cli import (
    account,
    audit,
    check,
    consent,
    contact,
    demo,
    dlq,
    imports,
    local,
    presend,
    simulator,
    status,
    sync,
)
from devtools.stack import DEFAULT_STACK

__all__ = ["app", "main"]

app = typer.Typer(
    name="consent-sync",
    help="Keep GDPR legal bases in step between SuperOffice and the marketing platform.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main_options(
    ctx: typer.Context,
    stack: Annotated[
        str, typer.Option(envvar="CONSENT_SYNC_STACK", help="Stack name (deployed, or the local one).")
    ] = DEFAULT_STACK,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            envvar="AWS_ENDPOINT_URL", help="AWS endpoint (the local stack, e.g. http://127.0.0.1:4566)."
        ),
    ] = None,
    region: Annotated[str | None, typer.Option(envvar="AWS_DEFAULT_REGION", help="AWS region.")] = None,
) -> None:
    """Global options: which stack, and where AWS is."""
    if endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
        # moto accepts any credentials; a developer machine may have none configured.
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ["AWS_DEFAULT_REGION"] = region or os.environ.get("AWS_DEFAULT_REGION") or "eu-west-1"
    ctx.obj = stack


# `--help` lists the commands in this order, then the groups.
app.command("simulator")(simulator.simulator)
app.command("demo")(demo.demo)
app.command("import")(imports.import_members)
app.command("sync")(sync.sync)
app.command("presend")(presend.presend)
app.add_typer(audit.app, name="audit")
app.command("status")(status.status)
app.command("check")(check.check)
app.add_typer(local.app, name="local")
app.add_typer(account.app, name="account")
app.add_typer(consent.app, name="consent")
app.add_typer(contact.app, name="contact")
app.add_typer(dlq.app, name="dlq")


def main() -> None:
    """Console-script entry point."""
    command: Callable[..., Any] = typer.main.get_command(app)
    sys.exit(command(standalone_mode=True))
