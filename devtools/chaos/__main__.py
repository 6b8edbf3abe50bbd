"""`python -m devtools.chaos` (what `make chaos` runs): the scenario at full size, its report, exit 1 when a
check fails."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from devtools.chaos.crash import POINTS
from devtools.chaos.report import print_report
from devtools.chaos.scenario import run_chaos
from devtools.chaos.world import ROOT


def main(
    contacts: Annotated[int, typer.Option(help="linked contacts of the account")] = 200,
    changes: Annotated[int, typer.Option(help="consent changes, on both sides")] = 150,
    seed: Annotated[int, typer.Option(help="seeds the CRM, the changes and the faults")] = 7,
    outage_s: Annotated[float, typer.Option(help="length of the outage window, seconds")] = 4.0,
    points: Annotated[str, typer.Option(help="crash points to run, e.g. 2,4 (none: 0)")] = "1,2,3,4,5",
    log_file: Annotated[Path | None, typer.Option(help="the functions' log lines (build/chaos.log)")] = None,
) -> None:
    """Run the fault-injection scenario and print what happened; exit 1 when a check fails."""
    console = Console()
    log_file = log_file or ROOT / "build" / "chaos.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=log_file, level=logging.WARNING, force=True)
    logging.captureWarnings(True)  # the functions' runtime warnings belong with their logs
    with log_file.open("a") as log:
        console.print(f"chaos: {contacts} contacts, {changes} changes, seed {seed} (logs: {log_file})")
        chosen = tuple(int(n) for n in points.split(",") if n.strip() and int(n) != 0)
        unknown = sorted(set(chosen) - {point.number for point in POINTS})
        if unknown:
            raise typer.BadParameter(f"no crash point {unknown}; they are 1 to {len(POINTS)}")
        report = run_chaos(contacts, changes, seed, outage_s=outage_s, points=chosen, log=log)
    print_report(report, console)
    raise typer.Exit(0 if report.ok else 1)


if __name__ == "__main__":
    typer.run(main)
