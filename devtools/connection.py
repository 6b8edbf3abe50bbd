"""`consent-sync check`: the product's connection check (`consent_sync.flows.check_connection`) run in
the operator's process with the stack's configuration, and its human form."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from consent_sync.flows.check_connection import ConnectionCheck, check_connection
from devtools.stack import Stack


def check(stack: Stack, account_id: str, *, timeout_s: float) -> ConnectionCheck:
    """Check the account's SuperOffice connection with the credentials the stack holds for it."""
    return check_connection(stack.function_config(), account_id, timeout_s=timeout_s)


def render_check(console: Console, document: dict[str, Any]) -> None:
    """The `check` document as a summary and a table of the calls made."""
    verdict = "[green]healthy[/green]" if document["healthy"] else f"[red]{document['error']}[/red]"
    console.print(f"{document['account_id']}: {verdict}", highlight=False)
    if document.get("message"):
        console.print(f"  {document['message']}", highlight=False)
    facts = {
        "API base": document["api_base"],
        "API version": document["api_version"]
        + (f" (NetServer {document['netserver']})" if document["netserver"] else ""),
        "purposes": ", ".join(
            f"{key} {'yes' if there else 'missing'}" for key, there in document["purposes"].items()
        ),
        "person read": document["person_read"],
        "rate-limit headers": ", ".join(f"{k}: {v}" for k, v in document["rate_limit_headers"].items())
        or "none",
        "webhook": "none recorded" if document["webhook"] is None else document["webhook"]["status"],
    }
    for name, value in facts.items():
        if value is not None and value != "":
            console.print(f"  {name}: {value}", highlight=False)
    if document["calls"]:
        table = Table("call", "status", "ms", title="SuperOffice calls")
        for call in document["calls"]:
            table.add_row(
                call["endpoint"], str(call["status"] or call.get("error", "")), f"{call['latency_ms']:.1f}"
            )
        console.print(table)
