"""`consent-sync account set` and `account show`: an account's settings (credentials go to Secrets Manager)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from devtools import operator
from devtools.cli.output import JsonFlag, failures, out, print_json, resolve, usage

app = typer.Typer(help="Account settings.", no_args_is_help=True)


@app.command("set")
def account_set(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="The marketing account id.")],
    integration: Annotated[operator.IntegrationName, typer.Option(help="superoffice or none.")],
    legal_basis_sync: Annotated[
        bool | None, typer.Option("--legal-basis-sync/--no-legal-basis-sync", help="Sync legal bases.")
    ] = None,
    superoffice_url: Annotated[
        str | None, typer.Option(help="On-site: the Web API URL ending in /api/v1.")
    ] = None,
    auth: Annotated[operator.AuthName | None, typer.Option(help="basic, ticket or system-user.")] = None,
    allow_insecure: Annotated[
        bool, typer.Option("--allow-insecure", help="Accept http:// (local simulators only).")
    ] = False,
    username: Annotated[str | None, typer.Option(help="Basic: user name.")] = None,
    password: Annotated[
        str | None, typer.Option(envvar="SUPEROFFICE_PASSWORD", help="Basic: password.")
    ] = None,
    ticket: Annotated[
        str | None, typer.Option(envvar="SUPEROFFICE_TICKET", help="SOTicket credential.")
    ] = None,
    context_id: Annotated[str | None, typer.Option(help="Online: the tenant, CustNNNNN.")] = None,
    environment: Annotated[
        operator.EnvironmentName | None, typer.Option(help="Online: sod, qaonline or online.")
    ] = None,
    client_id: Annotated[str | None, typer.Option(help="Online: the app's client id.")] = None,
    client_secret: Annotated[
        str | None, typer.Option(envvar="SUPEROFFICE_CLIENT_SECRET", help="Online: the app's client secret.")
    ] = None,
    system_user_token: Annotated[
        str | None,
        typer.Option(envvar="SUPEROFFICE_SYSTEM_USER_TOKEN", help="Online: the system user token."),
    ] = None,
    private_key: Annotated[
        Path | None,
        typer.Option(help="Online: the RSA private key (PEM or .NET XML).", exists=True, dir_okay=False),
    ] = None,
    login_url: Annotated[
        str | None,
        typer.Option(help="Online: login/state host instead of https://ENV.superoffice.com (simulators)."),
    ] = None,
    presend_on_superoffice_failure: Annotated[
        operator.PresendPolicyName | None,
        typer.Option(help="use_last_known or block."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create or change an account's settings; credentials go to Secrets Manager, never into the event."""
    options = operator.AccountOptions(
        integration=integration,
        legal_basis_sync=legal_basis_sync,
        superoffice_url=superoffice_url,
        auth=auth.replace("-", "_") if auth else None,
        allow_insecure=allow_insecure,
        username=username,
        password=password,
        ticket=ticket,
        context_id=context_id,
        environment=environment,
        client_id=client_id,
        client_secret=client_secret,
        system_user_token=system_user_token,
        private_key=private_key.read_text() if private_key else None,
        login_url=login_url,
        presend_on_superoffice_failure=presend_on_superoffice_failure,
    )
    with failures(as_json):
        stack = resolve(ctx)
        try:
            settings = operator.set_account(stack, account, options)
        except (ValueError, ValidationError) as exc:
            usage(operator.explain(exc))
        document = settings.model_dump(mode="json") | {"webhook": operator.webhook_document(stack, account)}
        show_settings(document, as_json)


@app.command("show")
def account_show(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="The marketing account id.")],
    as_json: JsonFlag = False,
) -> None:
    """Show an account's settings (never its credentials)."""
    with failures(as_json):
        settings = operator.show_account(resolve(ctx), account)
        show_settings(settings, as_json)


def show_settings(settings: dict[str, Any], as_json: bool) -> None:
    """The settings as indented JSON, or one `key: value` line each (unset connection fields left out)."""
    if as_json:
        print_json(settings, indent=2)
        return
    out.print(f"[bold]{settings['account_id']}[/bold]")
    for key, value in settings.items():
        if key in ("superoffice", "webhook") and isinstance(value, dict):
            for sub, subvalue in value.items():
                if subvalue not in (None, False):
                    out.print(f"  {key}.{sub}: {subvalue}", highlight=False)
        elif key != "account_id":
            out.print(f"  {key}: {value}", highlight=False)
