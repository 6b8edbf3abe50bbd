"""`consent-sync sync`: run the legal-basis sync now and, with `--wait`, follow the runs."""

from __future__ import annotations

from typing import Annotated

import typer

from devtools.cli.output import JsonFlag, err, failures, out, print_json, resolve


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
            print_json(documents[0] if account is not None else documents)
        else:
            out.print(syncing.runs_table(documents))
        if syncing.failed_runs(documents):
            raise typer.Exit(1)
