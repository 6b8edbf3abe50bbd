"""`consent-sync sync`: run the legal-basis sync now and, with `--wait`, follow the runs."""

from __future__ import annotations

from typing import Annotated

import typer

from devtools.cli.output import JsonFlag, err, failures, out, print_json, resolve, usage


def sync(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Argument()] = None,
    baseline: Annotated[bool, typer.Option(help="Reconcile every linked contact.")] = False,
    wait: Annotated[bool, typer.Option(help="Wait for the run to finish.")] = False,
    timeout: Annotated[float, typer.Option(help="With --wait: give up after this many seconds.")] = 600.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what a run would change; write nothing.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Run the legal-basis sync now (one account, or every account with sync on).

    With an account, --json prints one run document; without, a list (one per account with sync on).
    With --dry-run (one account), the drift report: per purpose what would be pushed, pulled or left.
    """
    from devtools import syncing

    if dry_run:
        if account is None or wait:
            usage("--dry-run needs an ACCOUNT and does not take --wait")
        _dry_run(ctx, account, baseline=baseline, as_json=as_json)
        return
    with failures(as_json):
        stack = resolve(ctx)
        requests = syncing.request_sync(stack, account, baseline=baseline)
        if wait:
            with syncing.progress_on(err) as progress:
                documents = syncing.wait_for_runs(stack, requests, progress, timeout)
        else:
            documents = [syncing.run_document(request, None) for request in requests]
        if as_json:
            print_json(documents[0] if account is not None else documents)
        else:
            out.print(syncing.runs_table(documents))
        if syncing.failed_runs(documents):
            raise typer.Exit(1)


def _dry_run(ctx: typer.Context, account: str, *, baseline: bool, as_json: bool) -> None:
    from devtools import drift

    with failures(as_json):
        document = drift.dry_run_document(resolve(ctx), account, baseline=baseline)
        if as_json:
            print_json(document)
        else:
            drift.render_dry_run(out, document)
