"""`consent-sync`: the operator CLI (design §5). Works on the local stack and on a deployed stack.

Exit status: 0 success; 1 the thing asked for does not exist or failed (with --json, an
`{"error", "message"}` document on stdout); 2 a usage error.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from devtools import operator
from devtools.progress import progress_bars
from devtools.stack import DEFAULT_STACK, Stack, StackNotFound

app = typer.Typer(
    name="consent-sync",
    help="Keep GDPR legal bases in step between SuperOffice and the marketing platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
local_app = typer.Typer(
    help="The local stack: moto + event routing from template.yaml.", no_args_is_help=True
)
account_app = typer.Typer(help="Account settings.", no_args_is_help=True)
consent_app = typer.Typer(help="Platform-side consent changes.", no_args_is_help=True)
contact_app = typer.Typer(help="Contacts as consent-sync holds them.", no_args_is_help=True)
app.add_typer(local_app, name="local")
app.add_typer(account_app, name="account")
app.add_typer(consent_app, name="consent")
app.add_typer(contact_app, name="contact")

out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


class CommandFailed(Exception):
    """A command that could not do what was asked; `code` is the JSON error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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


def fail(code: str, message: str, as_json: bool) -> NoReturn:
    """Report a failure in the requested form and exit 1."""
    if as_json:
        print(json.dumps({"error": code, "message": message}))
    else:
        err.print(f"[red]error[/red] ({code}): {message}", highlight=False)
    raise typer.Exit(1)


@contextmanager
def failures(as_json: bool) -> Iterator[None]:
    """Turn the errors a command expects into exit status 1 with a clear message."""
    try:
        yield
    except StackNotFound as exc:
        fail("stack_not_found", str(exc), as_json)
    except CommandFailed as exc:
        fail(exc.code, str(exc), as_json)
    except operator.OperatorError as exc:
        fail(exc.code, str(exc), as_json)


def resolve(ctx: typer.Context) -> Stack:
    return Stack.resolve(ctx.obj)


def usage(message: str) -> NoReturn:
    """A usage error: exit 2, as click does for its own."""
    raise typer.BadParameter(message)


# ---------------------------------------------------------------- local stack and simulator


@local_app.command("up")
def local_up(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port of the local AWS endpoint.")] = 4566,
    template: Annotated[Path, typer.Option(help="The SAM template to run.")] = Path("template.yaml"),
    schedule_period: Annotated[
        float | None, typer.Option(help="Fire the 30-minute schedule every N seconds instead.")
    ] = None,
) -> None:
    """Start moto, create every resource of template.yaml, and route events to the handlers (foreground)."""
    from devtools.local import up

    up(port=port, template=template, stack_name=ctx.obj, schedule_period_s=schedule_period)


@app.command("simulator")
def simulator(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    persons: Annotated[int, typer.Option(help="Persons in the seeded CRM.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the CRM (same seed, same CRM).")] = 1,
    username: Annotated[str, typer.Option(help="Basic user name (on-site scheme).")] = "sim",
    password: Annotated[str, typer.Option(help="Basic password (on-site scheme).")] = "sim",  # noqa: S107
) -> None:
    """Run the SuperOffice simulator alone (foreground)."""
    from devtools.simulator.server import serve

    serve(port=port, persons=persons, seed=seed, username=username, password=password)


@app.command("demo")
def demo() -> None:
    """Everything above, a scripted story, a summary."""
    from devtools.demo import run_demo

    raise typer.Exit(run_demo(out, err))


# ---------------------------------------------------------------- accounts


@account_app.command("set")
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
        show_settings(settings.model_dump(mode="json"), as_json)


@account_app.command("show")
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
    if as_json:
        print(json.dumps(settings, indent=2))
        return
    out.print(f"[bold]{settings['account_id']}[/bold]")
    for key, value in settings.items():
        if key == "superoffice" and isinstance(value, dict):
            for sub, subvalue in value.items():
                if subvalue not in (None, False):
                    out.print(f"  superoffice.{sub}: {subvalue}", highlight=False)
        elif key != "account_id":
            out.print(f"  {key}: {value}", highlight=False)


# ---------------------------------------------------------------- later issues


@app.command("import")
def import_members(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument()],
    selection: Annotated[int | None, typer.Option(help="Import the members of this selection.")] = None,
    project: Annotated[int | None, typer.Option(help="Import the members of this project.")] = None,
    only_emarketing_consented: Annotated[
        bool, typer.Option(help="Only persons whose e-marketing is on.")
    ] = False,
    wait: Annotated[bool, typer.Option(help="Wait for the import to finish.")] = False,
    timeout: Annotated[float, typer.Option(help="With --wait: give up after this many seconds.")] = 1800.0,
    as_json: JsonFlag = False,
) -> None:
    """Import the persons of a SuperOffice selection or project as contacts."""
    from consent_sync.events import SourceKind
    from devtools import imports

    if (selection is None) == (project is None):
        usage("give exactly one of --selection and --project")
    kind, source_id = (
        (SourceKind.SELECTION, selection) if selection is not None else (SourceKind.PROJECT, project)
    )
    assert source_id is not None  # one of the two is given (checked above)
    with failures(as_json):
        stack = resolve(ctx)
        request = imports.request_import(
            stack, account, kind, source_id, only_emarketing_consented=only_emarketing_consented
        )
        job = None
        if wait:
            with imports.progress_on(err, request.import_id) as progress:
                job = imports.wait_for_import(stack, request, progress, timeout)
        document = imports.import_document(request, job)
        if as_json:
            print(json.dumps(document))
        else:
            for key, value in document.items():
                out.print(f"{key}: {value}", highlight=False)
        if document["status"] == "failed":
            raise typer.Exit(1)


@app.command("sync")
def sync(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Argument()] = None,
    baseline: Annotated[bool, typer.Option(help="Reconcile every linked contact.")] = False,
    wait: Annotated[bool, typer.Option(help="Wait for the run to finish.")] = False,
    timeout: Annotated[float, typer.Option(help="With --wait: give up after this many seconds.")] = 600.0,
    as_json: JsonFlag = False,
) -> None:
    """Run the legal-basis sync now (one account, or every account with sync on).

    With an account, --json prints one run document; without, a list (one per account with sync on).
    """
    from devtools import syncing

    with failures(as_json):
        stack = resolve(ctx)
        requests = syncing.request_sync(stack, account, baseline=baseline)
        if wait:
            with syncing.progress_on(err) as progress:
                documents = syncing.wait_for_runs(stack, requests, progress, timeout)
        else:
            documents = [syncing.run_document(request, None) for request in requests]
        if as_json:
            print(json.dumps(documents[0] if account is not None else documents))
        else:
            out.print(syncing.runs_table(documents))
        if syncing.failed_runs(documents):
            raise typer.Exit(1)


@app.command("presend")
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
            print(json.dumps(document)) if as_json else out.print(f"check {check_id} started")
            return
        with progress_bars(err) as advance:
            results = checks.wait_for_verdicts(
                stack, account, check_id, lambda done, total: advance(f"check {sendout}", done, total)
            )
        if as_json:
            print(json.dumps(results))
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


@consent_app.command("set")
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
            print(json.dumps(document))
        elif document["status"] == "ignored":
            out.print("ignored: the contact holds a later change of this purpose", highlight=False)
        else:
            push = "; its push to SuperOffice is queued" if document["push"] else ""
            out.print(f"recorded {purpose} {legal_base} for {document['email']}{push}", highlight=False)


@contact_app.command("show")
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
            print(json.dumps(contacts.show_document(contact)))
        else:
            contacts.render_contact(out, contact)


@app.command("audit")
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
            print(json.dumps(rows))
        else:
            contacts.render_audit(out, address, rows)


def main() -> None:
    """Console-script entry point."""
    command: Callable[..., Any] = typer.main.get_command(app)
    sys.exit(command(standalone_mode=True))
