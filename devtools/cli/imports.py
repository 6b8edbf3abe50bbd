"""`consent-sync import`: import the persons of a SuperOffice selection or project as contacts."""

from __future__ import annotations

from typing import Annotated

import typer

from devtools.cli.output import JsonFlag, err, failures, out, print_json, resolve, usage


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
            print_json(document)
        else:
            for key, value in document.items():
                out.print(f"{key}: {value}", highlight=False)
        if document["status"] == "failed":
            raise typer.Exit(1)
