"""`consent-sync consent set`: a platform-side consent change, reported as the platform reports it."""

from __future__ import annotations

from typing import Annotated

import typer

from devtools import operator
from devtools.cli.output import JsonFlag, failures, out, print_json, resolve, usage

app = typer.Typer(help="Platform-side consent changes.", no_args_is_help=True)


@app.command("set")
def consent_set(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument()],
    email: Annotated[str, typer.Argument()],
    purpose: Annotated[operator.PurposeName, typer.Option()],
    legal_base: Annotated[str, typer.Option(help="Legal base key, e.g. 61A or WITHDRAWN.")],
    source: Annotated[str | None, typer.Option(help="Source key, e.g. WEBFORM.")] = None,
    comment: Annotated[str | None, typer.Option()] = None,
    changed_at: Annotated[
        str | None, typer.Option(help="ISO 8601 time with offset of the change (default now).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Record a consent change on the platform side, as the platform would report it (pushed when syncing)."""
    from devtools import contacts

    with failures(as_json):
        stack = resolve(ctx)
        try:
            document = contacts.set_consent(
                stack, account, email, purpose, legal_base, source, comment, changed_at
            )
        except contacts.UsageProblem as exc:
            usage(str(exc))
        if as_json:
            print_json(document)
        elif document["status"] == "ignored":
            out.print("ignored: the contact holds a later change of this purpose", highlight=False)
        elif document["status"] == "overridden":
            out.print(
                f"overridden: recorded {purpose} {legal_base} for {document['email']}, then SuperOffice's "
                f"state was kept (rule {document.get('rule')})",
                highlight=False,
            )
        else:
            push = "; its push to SuperOffice is queued" if document["push"] else ""
            out.print(f"recorded {purpose} {legal_base} for {document['email']}{push}", highlight=False)
