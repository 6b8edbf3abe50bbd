"""`consent-sync check`: test an account's SuperOffice connection with its stored credentials."""

from __future__ import annotations

from typing import Annotated

import typer

from devtools.cli.output import JsonFlag, failures, out, print_json, resolve


def check(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument()],
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Give up on a call after this many seconds.")
    ] = 10.0,
    as_json: JsonFlag = False,
) -> None:
    """Test the SuperOffice connection: login, the key lists, one person, the API version, the webhook.

    Exit 1 with an error code (auth_failed, forbidden, dns, tls, timeout, webhook_unavailable, ...)
    when it is not healthy.
    """
    from devtools import connection

    with failures(as_json):
        document = connection.check(resolve(ctx), account, timeout_s=timeout).document()
        if as_json:
            print_json(document)
        else:
            connection.render_check(out, document)
        if not document["healthy"]:
            raise typer.Exit(1)
