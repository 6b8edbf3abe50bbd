"""`consent-sync contact show`: a contact's link to SuperOffice and its consents."""

from __future__ import annotations

from typing import Annotated

import typer

from devtools.cli.output import JsonFlag, failures, out, print_json, resolve, usage

app = typer.Typer(help="Contacts as consent-sync holds them.", no_args_is_help=True)


@app.command("show")
def contact_show(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument()],
    email: Annotated[str, typer.Argument()],
    as_json: JsonFlag = False,
) -> None:
    """Show a contact's link to SuperOffice and its consents."""
    from devtools import contacts

    with failures(as_json):
        try:
            address = contacts.checked_email(email)
        except contacts.UsageProblem as exc:
            usage(str(exc))
        contact = contacts.show_contact(resolve(ctx), account, address)
        if as_json:
            print_json(contacts.show_document(contact))
        else:
            contacts.render_contact(out, contact)
