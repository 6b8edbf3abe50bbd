"""`consent-sync simulator`: the SuperOffice simulator alone, in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer


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
