"""`consent-sync dlq list|show|redrive`: the stack's dead-letter queues (logic in `devtools.dlq`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from devtools.cli.output import JsonFlag, err, failures, out, print_json, resolve, usage

app = typer.Typer(help="Dead letters: what died and why, and sending it back.", no_args_is_help=True)

Queue = Annotated[str, typer.Argument(help="reconcile, interactive, events or webhook-pulls.")]


@app.command("list")
def list_queues(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every dead-letter queue of the stack: its depth and the top reasons of its messages."""
    from devtools import dlq

    with failures(as_json):
        rows = dlq.list_queues(resolve(ctx))
        if as_json:
            print_json(rows)
            return
        table = Table("queue", "messages", "in flight", "top reasons")
        for row in rows:
            reasons = "\n".join(f"{r['count']} × {r['reason']}" for r in row["top_reasons"])
            table.add_row(row["queue"], str(row["messages"]), str(row["in_flight"]), reasons)
        out.print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    queue: Queue,
    index: Annotated[
        int | None, typer.Option(min=0, help="The message at this place, oldest first (0).")
    ] = None,
    message_id: Annotated[str | None, typer.Option(help="The message with this SQS message id.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """One dead letter, e-mail addresses masked; it stays in the queue."""
    from devtools import dlq

    if index is not None and message_id is not None:
        usage("give --index or --message-id, not both")
    with failures(as_json):
        document = dlq.show_message(resolve(ctx), queue, index=index, message_id=message_id)
        if as_json:
            print_json(document)
            return
        _print_message(document)


def _print_message(document: dict[str, Any]) -> None:
    out.print(f"[bold]{document['message_id']}[/bold] in {document['queue']}", highlight=False)
    out.print(f"  sent {document['sent_at']}, received {document['receive_count']} times", highlight=False)
    out.print(f"  reason: {document['reason']}", highlight=False)
    if document["detail"]:
        out.print(f"  detail: {document['detail']}", highlight=False)
    for name, value in document["message_attributes"].items():
        out.print(f"  attribute {name}: {value}", highlight=False)
    body = document["body"]
    out.print(
        json.dumps(body, indent=2) if not isinstance(body, str) else body, highlight=False, markup=False
    )


@app.command("redrive")
def redrive(
    ctx: typer.Context,
    queue: Queue,
    reason: Annotated[
        str | None,
        typer.Option(help="Events queue only: redrive the messages of this reason, keep the rest."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Send a queue's messages back: chunks and pulls to their source queue (an SQS move task), events
    to the bus."""
    from devtools import dlq
    from devtools.progress import progress_bars

    with failures(as_json):
        stack = resolve(ctx)
        with progress_bars(err) as progress:
            document = dlq.redrive(stack, queue, progress=progress, reason=reason)
        if as_json:
            print_json(document)
        elif queue == "events":
            kept = ", ".join(f"{n} {why}" for why, n in document["kept"].items()) or "none"
            out.print(f"{document['redriven']} events put on the bus again; kept: {kept}", highlight=False)
        else:
            out.print(f"{document['moved']} messages moved back ({document['status']})", highlight=False)
