"""`consent-sync demo` (what `make run` runs): the local stack, the simulator, a scripted story, a summary."""

from __future__ import annotations

import typer

from devtools.cli.output import err, out


def demo() -> None:
    """Everything above, a scripted story, a summary."""
    from devtools.demo import run_demo

    raise typer.Exit(run_demo(out, err))
