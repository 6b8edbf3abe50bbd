"""`consent-sync contact show`, `audit` and `consent set`: a contact as consent-sync holds it, its
decision log, and a platform-side consent change reported as the platform would report it."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from consent_sync.domain.contact import Contact, DecisionRecord
from consent_sync.domain.emails import InvalidEmail, validate_email
from consent_sync.domain.settings import AccountSettings
from consent_sync.domain.vocabulary import Purpose, Side
from consent_sync.events import MAX_FUTURE_SKEW, PLATFORM_SOURCE, ContactConsentChanged
from consent_sync.flows.platform_change import reported_state
from consent_sync.store.accounts import AccountStore
from consent_sync.store.aws import client
from consent_sync.store.bus import publish
from consent_sync.store.contacts import ContactStore
from consent_sync.store.decisions import DecisionLog
from devtools.operator import OperatorError
from devtools.shapes import audit_json, contact_json
from devtools.stack import Stack

RECORD_TIMEOUT_S = 30.0
AUDIT_LIMIT = 1000


class UsageProblem(ValueError):
    """An argument the command cannot use (exit status 2)."""


def checked_email(raw: str) -> str:
    """The normalised address, or `UsageProblem` saying why it cannot be a contact's e-mail."""
    try:
        return validate_email(raw)
    except InvalidEmail as exc:
        raise UsageProblem(f"EMAIL is not a usable address ({exc.reason})") from None


def known_account(stack: Stack, account_id: str) -> AccountSettings:
    """The account's settings, or `unknown_account`."""
    settings = AccountStore(stack.table_name).get(account_id)
    if settings is None:
        raise OperatorError("unknown_account", f"account {account_id!r} has no settings")
    return settings


def show_contact(stack: Stack, account_id: str, email: str) -> Contact:
    """The contact, or `unknown_account` / `unknown_contact`."""
    known_account(stack, account_id)
    contact = ContactStore(stack.table_name).get(account_id, email)
    if contact is None:
        raise OperatorError("unknown_contact", f"no contact with that e-mail in account {account_id!r}")
    return contact


def show_document(contact: Contact) -> dict[str, Any]:
    """The `contact show --json` document (README.md, "The CLI"), plus the purposes whose push to
    SuperOffice is still owed."""
    return {**contact_json(contact), "pending": sorted(p.value for p in contact.pending)}


def audit(stack: Stack, account_id: str, email: str, limit: int = AUDIT_LIMIT) -> list[dict[str, Any]]:
    """The contact's decision log, newest first, as the `audit --json` document (README.md, "The CLI")."""
    show_contact(stack, account_id, email)
    return [
        audit_json(record) for record in DecisionLog(stack.table_name).for_contact(account_id, email, limit)
    ]


def parse_changed_at(text: str | None, skew_seconds: int, now: datetime | None = None) -> datetime:
    """`--changed-at` as aware UTC (default now).

    Any past time is accepted: the platform may report a change late. A time further in the future
    than the account's skew window (and than the event contract's tolerance, which would reject the
    event) is a usage error, and so is a time without offset (its zone would be a guess).
    """
    now = now or datetime.now(UTC)
    if text is None:
        return now
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageProblem("--changed-at is not an ISO 8601 time (e.g. 2026-11-22T10:58:12+01:00)") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise UsageProblem("--changed-at needs an offset (e.g. +01:00 or Z): a time without one is ambiguous")
    tolerance = min(timedelta(seconds=skew_seconds), MAX_FUTURE_SKEW)
    if value - now > tolerance:
        raise UsageProblem(
            f"--changed-at lies more than {tolerance.total_seconds():.0f} s in the future (the skew window)"
        )
    return value.astimezone(UTC)


def set_consent(
    stack: Stack,
    account_id: str,
    email: str,
    purpose: str,
    legal_base: str,
    source: str | None,
    comment: str | None,
    changed_at: str | None,
) -> dict[str, Any]:
    """Put `Contact Consent Changed` and wait until the platform consent function has dealt with it.

    Returns `{"account_id", "email", "purpose", "legal_base", "changed_at", "status", "push"}` with
    status `recorded`, `overridden` (with `rule`) or `ignored` (reason `older_than_stored`).
    """
    address = checked_email(email)
    settings = known_account(stack, account_id)
    when = parse_changed_at(changed_at, settings.skew_seconds)
    try:
        change = ContactConsentChanged(
            account_id=account_id,
            email=address,
            purpose=Purpose(purpose),
            legal_base=legal_base,
            source=source,
            comment=comment,
            changed_at=when,
        )
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    event_id = publish(stack.bus_name, change, source=PLATFORM_SOURCE)
    outcome = _wait_until_handled(stack, change, event_id, syncs=settings.syncs)
    document: dict[str, Any] = {
        "account_id": account_id,
        "email": address,
        "purpose": purpose,
        "legal_base": legal_base,
        "changed_at": when.isoformat(),
        "status": outcome.status,
        "push": settings.syncs and outcome.status == "recorded",
        "pushed": outcome.push,
    }
    if outcome.rule is not None:
        document["rule"] = outcome.rule
    if outcome.status == "ignored":
        document["reason"] = "older_than_stored"
    return document


@dataclass(frozen=True)
class _Outcome:
    status: str
    push: bool
    rule: str | None = None


def _wait_until_handled(
    stack: Stack, change: ContactConsentChanged, event_id: str, *, syncs: bool
) -> _Outcome:
    """What became of the change: the CLI cannot see the function's answer, but the contact and its
    decision log show it.

    - `recorded`: the contact holds the change; when the account syncs, the push's decision (logged by
      the worker moments later) is awaited: pushed, or the push still owed;
    - `overridden`: recorded, then the reconcile kept SuperOffice's state (a decision on this very
      change that SuperOffice won, e.g. a withdrawal there inside the skew window), with its rule;
    - `ignored`: the contact holds a later (or an equal-time withdrawing) change of this purpose.
    """
    contacts = ContactStore(stack.table_name)
    log = DecisionLog(stack.table_name)
    state = reported_state(change)
    deadline = time.monotonic() + RECORD_TIMEOUT_S
    recorded = False
    while time.monotonic() < deadline:
        decision = _decision_on(log, change)
        if decision is not None:
            if decision.winner is Side.SUPEROFFICE:
                return _Outcome("overridden", False, decision.rule)
            if decision.action in ("push", "push_confirmed"):
                return _Outcome("recorded", True, decision.rule)
        contact = contacts.get(change.account_id, change.email)
        stored = None if contact is None else contact.consents.get(change.purpose)
        if stored is not None and stored.state == state:
            recorded = True
            if not syncs or (
                contact is not None and change.purpose not in contact.pending and decision is not None
            ):
                return _Outcome("recorded", False)
        elif stored is not None and stored.changed_at >= state.changed_at and not recorded:
            return _Outcome("ignored", False)
        time.sleep(0.2)
    if recorded:
        return _Outcome("recorded", False)  # the push is still owed: the next run retries it
    reason = _rejection(stack, event_id)
    raise OperatorError(
        "not_applied",
        f"the change was sent but not recorded within {RECORD_TIMEOUT_S:.0f} s; "
        + (
            f"the events dead-letter queue says: {reason}"
            if reason
            else "nothing about it arrived in the events dead-letter queue"
        ),
    )


def _decision_on(log: DecisionLog, change: ContactConsentChanged) -> DecisionRecord | None:
    """The latest decision of this purpose that judged exactly this platform change."""
    for record in log.for_contact(change.account_id, change.email, limit=20):
        platform = record.platform
        if (
            record.purpose is change.purpose
            and platform is not None
            and platform.changed_at == change.changed_at
            and platform.legal_base.upper() == change.legal_base.strip().upper()
        ):
            return record
    return None


def _rejection(stack: Stack, event_id: str) -> str | None:
    """The reason the events dead-letter queue holds for this event, if any (messages left in place)."""
    sqs = client("sqs")
    for _ in range(5):
        messages = sqs.receive_message(
            QueueUrl=stack.events_dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=1
        ).get("Messages", [])
        for message in messages:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                record = json.loads(message["Body"])
                if (record.get("event") or {}).get("id") == event_id:
                    return f"{record['reason']}: {record['message']}"
        if not messages:
            return None
    return None


def render_contact(console: Console, contact: Contact) -> None:
    """The human form of `contact show`: the link, then one row per purpose."""
    document = show_document(contact)
    link = document["superoffice_person_id"]
    console.print(f"[bold]{contact.email}[/bold] in {contact.account_id}", highlight=False)
    console.print(f"  SuperOffice person: {link if link is not None else 'not linked'}", highlight=False)
    if document["duplicate_person_ids"]:
        console.print(f"  duplicate persons: {', '.join(map(str, document['duplicate_person_ids']))}")
    table = Table("purpose", "legal base", "active", "source", "changed at", "changed in", "push owed")
    for purpose, consent in document["consents"].items():
        owed = "yes" if purpose in document["pending"] else ""
        if consent is None:
            table.add_row(purpose, "(absent)", "", "", "", "", owed)
            continue
        table.add_row(
            purpose,
            consent["legal_base"],
            "yes" if consent["active"] else "no",
            consent["source"] or "",
            consent["changed_at"],
            consent["changed_in"],
            owed,
        )
    console.print(table)


def audit_table(
    rows: list[dict[str, Any]],
    *,
    title: str | None = None,
    times: Callable[[str], str] | None = None,
    sources: bool = False,
    duplicate_conflicts: bool = False,
) -> Table:
    """A decision log (rows of the `audit --json` document) as a table, one row per decision.

    `consent-sync audit` shows it as stored: times in ISO 8601, each side on one line. The demo's
    decision log passes `times` (how to show each time, e.g. `utc_to_the_second`), `sources` (each
    side's source, as `61A (WEBFORM) changed <time>` with the person on a line of its own) and
    `duplicate_conflicts` (the duplicate persons whose legal base differs, under the action).
    """
    shown = times or (lambda text: text)
    table = Table(
        "at", "purpose", "trigger", "SuperOffice", "platform", "winner", "rule", "action", title=title
    )
    for row in rows:
        action = row["action"] if not row.get("error") else f"{row['action']} ({row['error']})"
        if duplicate_conflicts and row.get("duplicate_conflicts"):
            action += f"\nconflicting duplicates: {row['duplicate_conflicts']}"
        table.add_row(
            shown(row["at"]),
            row["purpose"],
            row["trigger"],
            _side(row["superoffice"], shown, sources),
            _side(row["platform"], shown, sources),
            row["winner"] or "",
            row["rule"],
            action,
        )
    return table


def utc_to_the_second(text: str) -> str:
    """An audit time (ISO 8601) in UTC to the second: `2026-11-23 01:04:09`."""
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _side(value: dict[str, Any] | None, shown: Callable[[str], str], sources: bool) -> str:
    """One side's value in a decision: its legal base, when it changed, and the person it was read from."""
    if value is None:
        return "(absent)"
    if not sources:
        person = f" person {value['person_id']}" if value.get("person_id") else ""
        return f"{value['legal_base']} {shown(value['changed_at'])}{person}"
    source = f" ({value['source']})" if value.get("source") else ""
    person = f"\nperson {value['person_id']}" if value.get("person_id") else ""
    return f"{value['legal_base']}{source} changed {shown(value['changed_at'])}{person}"
