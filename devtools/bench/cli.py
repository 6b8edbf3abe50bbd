"""``python -m devtools.bench [--only NAME ...] [--quick] [--seed N] [--results-dir DIR] [--list]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from devtools.bench.registry import PLANNED, Scenario, load
from devtools.bench.report import print_report
from devtools.bench.runner import DEFAULT_RESULTS_DIR, Outcome, run_all

DEFAULT_SEED = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.bench",
        description="Run the benchmarks: print a table, write one JSON file per scenario.",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        action="extend",
        metavar="NAME",
        help="run only these scenarios (may be repeated); default: all",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not figures")
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"seed (default {DEFAULT_SEED}): same seed, same calls"
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=DEFAULT_RESULTS_DIR,
        help=f"where the JSON files go (default {DEFAULT_RESULTS_DIR})",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return parser


def _select(
    registry: dict[str, Scenario], only: list[str] | None, parser: argparse.ArgumentParser
) -> list[Scenario]:
    if not only:
        return list(registry.values())
    for name in only:
        if name in PLANNED and name not in registry:
            parser.exit(2, f"{parser.prog}: scenario {name!r} is not available yet: {PLANNED[name]}\n")
        if name not in registry:
            known = ", ".join(registry)
            parser.exit(2, f"{parser.prog}: unknown scenario {name!r} (known: {known})\n")
    wanted = set(only)
    return [scenario for name, scenario in registry.items() if name in wanted]


def main(argv: list[str] | None = None) -> int:
    """Run the selected scenarios; exit status 0 when all produced figures, 1 otherwise."""
    parser = _parser()
    args = parser.parse_args(argv)
    registry = load()
    out = Console(width=None if Console().is_terminal else 160)
    err = Console(stderr=True)
    if args.list:
        for scenario in registry.values():
            out.print(f"[bold]{scenario.name}[/bold]  {scenario.description}")
        for name, why in PLANNED.items():
            if name not in registry:
                out.print(f"[dim]{name}  not available yet: {why}[/dim]")
        return 0
    selected = _select(registry, args.only, parser)
    results_dir: Path = args.results_dir.resolve()

    def started(scenario: Scenario) -> None:
        err.print(f"[dim]running {scenario.name} …[/dim]")

    def done(outcome: Outcome) -> None:
        mark = "[green]done[/green]" if outcome.ok else "[red]FAILED[/red]"
        err.print(f"[dim]{outcome.name}[/dim] {mark} in {outcome.process_wall_s:.1f} s")

    outcomes = run_all(
        selected, seed=args.seed, quick=args.quick, results_dir=results_dir, on_start=started, on_done=done
    )
    size = "quick sizes" if args.quick else "full sizes"
    print_report(out, outcomes, title=f"consent-sync benchmarks ({size}, seed {args.seed})")
    out.print(f"results: {results_dir}")
    return 0 if all(outcome.ok for outcome in outcomes) else 1
