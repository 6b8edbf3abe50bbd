"""What the chaos scenario did and found (`ChaosReport`), and how `make chaos` prints it: the changes, the
faults and retries, each crash point (where it was killed, what the redelivery and the sweep did, its
checks), the duplicates and poison, the checks, and each failing contact's story."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from consent_sync.domain.consent import ConsentState
from consent_sync.domain.contact import DecisionRecord
from consent_sync.domain.vocabulary import Purpose
from devtools.chaos.crash import CrashReport
from devtools.chaos.world import Change, World


@dataclass
class ChaosReport:
    """What `run_chaos` did and found. `failures` maps each check to what broke it (empty: passed)."""

    contacts: int
    changes: list[Change]
    faults: dict[str, int]
    requests: int
    successful_requests: int
    retries: dict[str, int]
    duplicates: list[str]
    poison: list[dict[str, str]]
    crashes: list[CrashReport]
    runs_to_settle: int
    converge_s: float
    total_s: float
    checks: dict[str, list[str]] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds spent per phase of the scenario."""

    @property
    def ok(self) -> bool:
        return not any(self.checks.values())

    def failed_checks(self) -> dict[str, list[str]]:
        return {name: problems for name, problems in self.checks.items() if problems}


def contact_story(
    world: World, email: str, records: list[DecisionRecord], purpose: Purpose, initial: ConsentState | None
) -> str:
    """What happened to one contact's purpose, for a failed check: its changes and decisions in order."""

    def value(state: Any) -> str:
        return "-" if state is None else f"{state.legal_base}@{state.changed_at:%H:%M:%S}"

    lines = [f"initial {value(initial)}"]
    events: list[tuple[datetime, str]] = [
        (
            c.at,
            f"change {c.side.value} -> {c.legal_base}@{c.at:%H:%M:%S}"
            + (" (equal already)" if c.equal_already else ""),
        )
        for c in world.changes
        if c.email == email and c.purpose is purpose
    ]
    events += [
        (
            r.at,
            f"decision at {r.at:%H:%M:%S.%f} {r.trigger.value}: platform {value(r.platform)}, "
            f"SuperOffice {value(r.superoffice)} -> {r.rule} {r.action}"
            + (f" ({r.error})" if r.error else ""),
        )
        for r in records
        if r.purpose is purpose
    ]
    lines += [text for _, text in sorted(events, key=lambda e: e[0])]
    return "".join(f"\n    {line}" for line in lines)


def print_report(report: ChaosReport, console: Console) -> None:
    """The report as `make chaos` prints it."""
    changes = Table(title=f"Changes made ({len(report.changes)} on {report.contacts} contacts)")
    for column in ("side", "purpose", "to", "count", "equal already"):
        changes.add_column(column)
    grouped = Counter((c.side.value, c.purpose.value, c.legal_base, c.equal_already) for c in report.changes)
    for (side, purpose, legal_base, equal), n in sorted(grouped.items()):
        changes.add_row(side, purpose, legal_base, str(n), "yes" if equal else "")
    console.print(changes)

    faults = Table(title="Faults injected (simulator) and the client's retries")
    faults.add_column("what")
    faults.add_column("count", justify="right")
    faults.add_row("tenant API requests", str(report.requests))
    faults.add_row("  answered 2xx/3xx", str(report.successful_requests))
    for key, n in sorted(report.faults.items()):
        faults.add_row(f"  {key}", str(n))
    for key, n in sorted(report.retries.items()):
        faults.add_row(f"retries after {key}", str(n))
    faults.add_row("retries in all", str(sum(report.retries.values())))
    console.print(faults)

    for crash in report.crashes:
        print_crash(crash, console)
    for line in report.duplicates:
        console.print(f"[bold]Duplicate[/]: {line}")
    for poison in report.poison:
        console.print(
            f"[bold]Poison[/] ({poison['queue']} DLQ, sent as {poison['expected']}): "
            f"{poison.get('found', '[red]not found[/]')}"
        )
    console.print(
        f"[bold]Converged[/] {report.converge_s:.1f} s after the faults went off "
        f"({report.runs_to_settle} run(s)); scenario took {report.total_s:.1f} s "
        f"({', '.join(f'{name} {seconds:.1f} s' for name, seconds in report.phases.items())})"
    )
    checks = Table(title="Checks")
    checks.add_column("check")
    checks.add_column("result")
    for name, problems in report.checks.items():
        checks.add_row(name, "[green]ok[/]" if not problems else f"[red]{len(problems)} problem(s)[/]")
    console.print(checks)
    for name, problems in report.failed_checks().items():
        for problem in problems[:20]:
            console.print(f"[red]{name}[/]: {problem}")


def print_crash(crash: CrashReport, console: Console) -> None:
    """One crash point: where the worker died, what came after, what the checks found."""
    point = crash.point
    console.print(f"[bold]Crash point {point.number}: killed {point.title}[/] ({crash.seconds:.1f} s)")
    console.print(f"  trigger: call #{crash.nth} of: {point.trigger}")
    if point.note:
        console.print(f"  note: {point.note}")
    console.print(
        f"  chunk {crash.chunk or '-'} of {crash.contacts_in_chunk} contact(s) owing {crash.pushes_owed} push(es)"
    )
    if crash.killed:
        calls = ", ".join(f"{kind} {n}" for kind, n in sorted(crash.calls_before_kill.items())) or "none"
        console.print(
            f"  killed (exit {crash.exit_code}) {crash.killed_after_s:.1f} s in, after: {crash.killed_after}; "
            f"calls made: {calls}; {crash.pushes_before_kill} owed push(es) in SuperOffice before the kill"
        )
    else:
        console.print(f"  [red]not killed at the point[/] (exit {crash.exit_code})")
    console.print(f"  job at the kill: {crash.job_at_kill or '-'}")
    for line in crash.redelivery:
        console.print(f"  redelivery: {line}")
    for line in crash.sweep:
        console.print(f"  sweep: {line}")
    if crash.window:
        console.print(f"  [yellow]at-least-once window[/]: {crash.window}")
    for line in crash.observations:
        console.print(f"  observed: {line}")
    console.print(
        "  checks: "
        + "; ".join(
            f"{name} " + ("[green]ok[/]" if not problems else f"[red]{len(problems)} problem(s)[/]")
            for name, problems in crash.checks.items()
        )
    )
