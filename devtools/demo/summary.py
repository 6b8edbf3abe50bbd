"""The demo's summary: the rich tables printed once the story is over, one section per title in `SECTIONS`.

Each section reads what the story recorded (`Story`) and, for the current state of both sides, the
simulator and the stores; nothing here changes either side.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from rich.table import Table

from consent_sync.domain.emails import normalise_email
from consent_sync.domain.vocabulary import Side
from devtools import contacts, syncing
from devtools.demo.story import SEED, STRANGER, Check, Story

SECTIONS = (
    "SuperOffice CRM",
    "Imports",
    "Consent changes",
    "Sync runs",
    "Send-out checks",
    "Blocked recipients",
    "Decision log",
    "Steps",
)
"""The summary's section titles, in order (the end-to-end test looks for them)."""


def print_summary(story: Story) -> None:
    out = story.out
    out.print()
    out.rule("[bold]Summary")
    if story.crm:
        _crm_section(story)
    if story.imports:
        _imports_section(story)
    if story.changes:
        _changes_section(story)
    if story.runs:
        _runs_section(story)
    if story.checks:
        _checks_sections(story)
    if story.audit_rows:
        _decision_log_section(story)
    out.rule(f"[bold]{SECTIONS[7]}")
    table = Table("", "step", "seconds", "what failed")
    for title, ok, seconds, failed in story.steps:
        table.add_row("[green]✓[/green]" if ok else "[red]✗[/red]", title, f"{seconds:.1f}", failed)
    out.print(table)


def _decision_log_section(story: Story) -> None:
    c = story.people["C"]
    story.out.rule(f"[bold]{SECTIONS[6]}[/bold] of C: {c.name}, {c.email} (newest first, times UTC)")
    story.out.print(
        contacts.audit_table(
            story.audit_rows, times=contacts.utc_to_the_second, sources=True, duplicate_conflicts=True
        )
    )


def _crm_section(story: Story) -> None:
    story.out.rule(f"[bold]{SECTIONS[0]}[/bold] (the simulator, seed {SEED})")
    persons = story.crm.values()
    bases = Counter((p["consents"].get("EMARKETING") or {}).get("LegalBaseKey", "(no row)") for p in persons)
    groups = Counter(normalise_email(p["primary_email"]) for p in persons if p["primary_email"])
    table = Table("persons", "without e-mail", "sharing an e-mail", "EMARKETING legal bases", title=None)
    table.add_row(
        f"{len(story.crm):,}",
        str(sum(1 for p in persons if not p["primary_email"])),
        str(sum(n for n in groups.values() if n > 1)),
        ", ".join(f"{base} {n}" for base, n in sorted(bases.items())),
    )
    story.out.print(table)


def _imports_section(story: Story) -> None:
    story.out.rule(f"[bold]{SECTIONS[1]}[/bold]: what was imported and skipped (by reason)")
    reasons = sorted({reason for _, _, doc in story.imports for reason in doc.get("skipped", {})})
    table = Table(
        "source",
        "members",
        "created",
        "updated",
        "duplicates",
        "duplicate\nconflicts",
        *(f"skipped\n{reason}" for reason in reasons),
        "failed",
        "status",
    )
    for what, condition, doc in story.imports:
        table.add_row(
            f"{what}\n[dim]{condition}[/dim]",
            *(str(doc.get(name, "")) for name in ("members", "created", "updated", "duplicates")),
            str(doc.get("duplicate_conflicts", "")),
            *(str(doc.get("skipped", {}).get(reason, 0)) for reason in reasons),
            str(doc.get("failed", "")),
            doc["status"],
        )
    story.out.print(table)
    story.out.print(
        "[dim]duplicates: members not linked because an older person has the same e-mail; duplicate "
        "conflicts: a duplicate whose EMARKETING legal base differs from the linked person's (named in "
        "the decision log)[/dim]"
    )
    for email, person_id, others in story.duplicated:
        story.out.print(
            f"{email}: linked to person {person_id}, the oldest; also persons {others}", highlight=False
        )


def _changes_section(story: Story) -> None:
    story.out.rule(f"[bold]{SECTIONS[2]}[/bold] on both sides")
    table = Table(
        "contact", "changed by", "change", "how it reached the other side", "SuperOffice now", "platform now"
    )
    for row in story.changes:
        person = story.people[row["contact"]]
        table.add_row(
            f"{person.label}: {person.name}\n[dim]{person.email}[/dim]",
            row["where"],
            row["change"],
            row["expected"],
            story.superoffice_base(person.person_id) or "(absent)",
            story.platform_base(person.email) or "(absent)",
        )
    story.out.print(table)


def _runs_section(story: Story) -> None:
    story.out.rule(f"[bold]{SECTIONS[3]}[/bold]: what each sync pushed and pulled, and why")
    table = Table("sync", "run", *syncing.RUN_COUNTERS, "why (the decisions about A, B and C)")
    rows: list[tuple[str, str, dict[str, Any], str, datetime, datetime]] = [
        (run.what, run.run_id, run.document, run.trigger, run.started, run.finished) for run in story.runs
    ]
    for check in story.checks:
        what = f"send-out gate: {check.sendout} at {check.stage} ({check.channel})"
        rows.append((what, check.check_id, check.job_counters, "presend", check.started, check.finished))
    for what, run_id, counts, trigger, started, finished in rows:
        why = _why(story, trigger, started, finished)
        if not why:
            if not counts.get("reconciled"):
                why = "no contacts to reconcile yet"
            elif counts.get("pushed") or counts.get("pulled"):
                why = "decisions about other contacts"
            else:
                why = "both sides equal: nothing to write"
        table.add_row(what, _short(run_id), *(str(counts.get(name, 0)) for name in syncing.RUN_COUNTERS), why)
    story.out.print(table)


def _short(identifier: str) -> str:
    """A run or check id cut to what tells it apart on screen: `scheduled-648972d1…`."""
    return identifier if len(identifier) <= 20 else identifier[:18] + "…"


def _why(story: Story, trigger: str, started: datetime, finished: datetime) -> str:
    lines = []
    for person in story.people.values():
        for record in story.decisions.for_contact(story.account, person.email, 50):
            if record.trigger.value != trigger or not started <= record.at <= finished:
                continue
            if record.action not in ("push", "pull") and not record.action.startswith("error"):
                continue
            side = record.superoffice if record.winner is Side.SUPEROFFICE else record.platform
            value = "-" if side is None else side.legal_base
            lines.append(f"{person.label}: {record.action} {record.purpose.value} {value} ({record.rule})")
    return "\n".join(lines)


def _checks_sections(story: Story) -> None:
    out = story.out
    out.rule(f"[bold]{SECTIONS[4]}[/bold] (the send-out gate)")
    table = Table(
        "send-out", "stage", "channel", "recipients", "allowed", "blocked", "stale", "SuperOffice calls"
    )
    for check in story.checks:
        table.add_row(
            check.sendout,
            check.stage,
            check.channel,
            str(len(set(check.recipients))),
            str(len(check.results["allowed"])),
            str(len(check.results["blocked"])),
            str(len(check.results["stale"])),
            str(check.superoffice_calls),
        )
    out.print(table)

    out.rule(f"[bold]{SECTIONS[5]}[/bold] and why")
    names = [f"{c.sendout}\n{c.stage} ({c.channel})" for c in story.checks]
    counts = [Counter(item["reason"] for item in c.results["blocked"]) for c in story.checks]
    reasons = sorted(set().union(*counts))
    table = Table("reason", *names, title="blocked recipients by reason")
    for reason in reasons:
        table.add_row(reason, *(str(count.get(reason, 0)) for count in counts))
    out.print(table)
    table = Table("recipient", *names, title="the story's recipients")
    for person in story.people.values():
        table.add_row(
            f"{person.label}: {person.email}",
            *(_verdict_cell(c, person.email) for c in story.checks),
        )
    table.add_row(f"stranger: {STRANGER}", *(_verdict_cell(c, STRANGER) for c in story.checks))
    out.print(table)


def _verdict_cell(check: Check, email: str) -> str:
    if email not in check.recipients:
        return "[dim]not a recipient[/dim]"
    verdict = check.verdict(email)
    return f"[green]{verdict}[/green]" if verdict == "allowed" else f"[red]{verdict}[/red]"
