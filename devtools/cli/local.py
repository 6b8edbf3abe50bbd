"""`consent-sync local up`: the local stack (moto and the event routing of template.yaml) in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The local stack: moto + event routing from template.yaml.", no_args_is_help=True)


@app.command("up")
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
