"""What reconciling one contact means, before any I/O: pulls applied, pushes listed, decisions recorded.

For each purpose, :func:`consent_sync.domain.rules.decide` picks the winner. SuperOffice winning is a
*pull*: the contact takes SuperOffice's state with SuperOffice's change time (``changed_in:
superoffice``). The platform winning is a *push* of the platform's state to SuperOffice, done by the
worker, and only when legal-basis sync is on; with sync off the platform keeps its state and the
decision is recorded with action ``none``. A push still owed from an earlier run (``pending``) is
dropped as soon as the rules no longer ask for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from consent_sync.domain.consent import ConsentState, same_key
from consent_sync.domain.contact import (
    Contact,
    DecisionRecord,
    PlatformValue,
    PushedState,
    StoredConsent,
    SuperOfficeValue,
)
from consent_sync.domain.errors import UnknownKey
from consent_sync.domain.rules import Decision, decide
from consent_sync.domain.vocabulary import Purpose, Side, Trigger

ACTION_PUSH = "push"
ACTION_PULL = "pull"
ACTION_NONE = "none"
ACTION_PUSH_CONFIRMED = "push_confirmed"
"""A push still owed (``pending``) that SuperOffice turned out to hold already: made by an earlier
attempt that stopped before recording it."""
COMMENT_PREFIX = "consent-sync"
DEFAULT_SOURCES = ("API", "UNKNOWN")
"""The SuperOffice source of a push whose platform change named none, the first the tenant has."""


@dataclass(frozen=True)
class Push:
    """A platform state to write to SuperOffice, and the decision that asked for it."""

    purpose: Purpose
    state: ConsentState
    decision: Decision
    superoffice: ConsentState | None
    duplicate_conflicts: tuple[int, ...] = ()


@dataclass
class ContactPlan:
    """The contact with pulls applied, the pushes to make, and the decisions to log (pushes excluded:
    they are logged with their result)."""

    contact: Contact
    pushes: list[Push] = field(default_factory=list)
    records: list[DecisionRecord] = field(default_factory=list)
    pulled: bool = False
    decisions: dict[Purpose, Decision] = field(default_factory=dict)
    """Every purpose's decision, those that write nothing included (a dry run reports their rule)."""


ECHO_WINDOW = timedelta(minutes=2)
"""For a push recorded without `confirmed_at` (before that field): how far from the push a row with
the pushed key still counts as its echo."""
MIN_ECHO_TOLERANCE = timedelta(seconds=1)
"""SuperOffice keeps whole seconds: the least tolerance around a push's time, whatever the skew."""


def without_echo(
    theirs: ConsentState | None, pushed: PushedState | None, *, tolerance: timedelta = timedelta(seconds=5)
) -> ConsentState | None:
    """SuperOffice's state, with the echo of our own push dated by the change that was pushed.

    A pushed row carries the time of the push. Compared as it is with a later platform change, a
    withdrawal pushed a moment ago would sit within the skew window of a re-subscription made well
    after the withdrawal itself, and win. The row is the echo when it holds the pushed key and was
    stamped while the PUT was under way: between `pushed_at` and `confirmed_at`, widened by
    ``tolerance`` (the clocks' skew). A SuperOffice user's later change has another key, or the same
    key at a later time (a user withdrawing again after our pushed withdrawal is their own change).
    """
    if theirs is None or pushed is None or not same_key(theirs.legal_base, pushed.legal_base):
        return theirs
    if pushed.confirmed_at is None:
        echo = abs(theirs.changed_at - pushed.pushed_at) <= ECHO_WINDOW
    else:
        tolerance = max(tolerance, MIN_ECHO_TOLERANCE)
        echo = pushed.pushed_at - tolerance <= theirs.changed_at <= pushed.confirmed_at + tolerance
    if not echo:
        return theirs
    return theirs.model_copy(update={"changed_at": pushed.changed_at})


def same_clock(
    platform: StoredConsent | None,
    theirs: ConsentState | None,
    raw: ConsentState | None,
    pushed: PushedState | None,
) -> bool:
    """Whether the two times to compare were read from one clock (``Rule.SAME_CLOCK``).

    The platform's time is its own clock's, or SuperOffice's for a state pulled from there
    (``changed_in``). SuperOffice's time is SuperOffice's, unless ``theirs`` is a push's echo, dated by
    the pushed change (``without_echo``): then it is the clock of that change.
    """
    if platform is None or theirs is None:
        return False
    echo = pushed is not None and theirs is not raw
    return platform.changed_in is (pushed.changed_in if echo and pushed else Side.SUPEROFFICE)


def plan_contact(
    contact: Contact,
    superoffice: Mapping[Purpose, ConsentState],
    *,
    skew: timedelta,
    push_allowed: bool,
    trigger: Trigger,
    now: datetime,
    duplicate_conflicts: Iterable[int] = (),
    new: bool = False,
) -> ContactPlan:
    """Reconcile a contact (a deep copy is changed) with its linked person's SuperOffice states.

    ``duplicate_conflicts`` lists newly met duplicates whose ``EMARKETING`` legal base differs from the
    linked person's: the ``EMARKETING`` decision is then recorded even when it writes nothing.
    ``new`` marks a contact an import is creating (or relinking to an older person): it takes every
    state SuperOffice has, a withdrawal too (kept as a suppressed contact, never dropped), where the
    rules would leave a withdrawal against an absent platform state alone.
    """
    plan = ContactPlan(contact=contact.model_copy(deep=True))
    conflicts = sorted(duplicate_conflicts)
    person_id = contact.superoffice_person_id
    for purpose in Purpose:
        platform = plan.contact.consents.get(purpose)
        pushed = plan.contact.pushed.get(purpose)
        raw = superoffice.get(purpose)
        theirs = without_echo(raw, pushed, tolerance=skew)
        if pushed is not None and (theirs is None or not same_key(theirs.legal_base, pushed.legal_base)):
            plan.contact.pushed.pop(purpose)  # SuperOffice changed since: no echo to recognise any more
        decision = decide(platform, theirs, skew=skew, same_clock=same_clock(platform, theirs, raw, pushed))
        flagged = conflicts if purpose is Purpose.EMARKETING else []
        if new and platform is None and theirs is not None and decision.write_platform is None:
            decision = Decision(winner=Side.SUPEROFFICE, rule=decision.rule, write_platform=theirs)
        plan.decisions[purpose] = decision
        if decision.write_platform is not None:
            plan.contact.consents[purpose] = StoredConsent.of(decision.write_platform, Side.SUPEROFFICE)
            plan.contact.pending.pop(purpose, None)
            plan.pulled = True
            plan.records.append(
                record(decision, purpose, platform, theirs, person_id, trigger, now, ACTION_PULL, flagged)
            )
        elif decision.write_superoffice is not None and push_allowed:
            plan.pushes.append(Push(purpose, decision.write_superoffice, decision, theirs, tuple(flagged)))
        elif decision.write_superoffice is not None:
            # Sync is off: the platform keeps its state and SuperOffice is left alone, on the record.
            plan.records.append(
                record(decision, purpose, platform, theirs, person_id, trigger, now, ACTION_NONE, flagged)
            )
        else:
            owed = plan.contact.pending.pop(purpose, None)
            if owed is not None and theirs is not None and same_key(owed.legal_base, theirs.legal_base):
                # The push was made by an earlier attempt that stopped before recording it (a worker
                # killed between its PUT and its writes, or a PUT that timed out but was applied):
                # SuperOffice holds what was owed. The log gets the push it never got, and the row
                # is known as that push's echo from now on.
                plan.contact.pushed[purpose] = PushedState(
                    legal_base=owed.legal_base,
                    changed_at=owed.changed_at,
                    pushed_at=theirs.changed_at,
                    confirmed_at=theirs.changed_at,
                    changed_in=platform.changed_in
                    if platform is not None and platform.changed_at == owed.changed_at
                    else Side.PLATFORM,
                )
                plan.records.append(
                    record(
                        decision,
                        purpose,
                        platform,
                        theirs,
                        person_id,
                        trigger,
                        now,
                        ACTION_PUSH_CONFIRMED,
                        flagged,
                    )
                )
            elif flagged:
                plan.records.append(
                    record(decision, purpose, platform, theirs, person_id, trigger, now, ACTION_NONE, flagged)
                )
    return plan


def record(
    decision: Decision,
    purpose: Purpose,
    platform: ConsentState | None,
    superoffice: ConsentState | None,
    person_id: int | None,
    trigger: Trigger,
    at: datetime,
    action: str,
    duplicate_conflicts: Iterable[int] = (),
    error: str | None = None,
) -> DecisionRecord:
    """The decision-log record of one decision and what was done about it."""
    return DecisionRecord(
        at=at,
        trigger=trigger,
        purpose=purpose,
        superoffice=None if superoffice is None else SuperOfficeValue.of(superoffice, person_id),
        platform=None if platform is None else PlatformValue.of(platform),
        winner=decision.winner,
        rule=decision.rule.value,
        action=action,
        error=error,
        duplicate_conflicts=list(duplicate_conflicts),
    )


def tenant_key(key: str, known: Iterable[str], what: str) -> str:
    """``key`` as the tenant spells it (keys match ignoring letter case); :class:`UnknownKey` if absent."""
    by_upper = {k.upper(): k for k in known}
    found = by_upper.get(key.strip().upper())
    if found is None:
        raise UnknownKey(f"the tenant has no {what} {key!r}")
    return found


def push_source(source: str | None, known: Iterable[str]) -> str:
    """The SuperOffice source key of a push: the platform's source mapped to the tenant's keys.

    A platform change without a source is written as ``API`` (or ``UNKNOWN``): it reached SuperOffice
    through the API, and SuperOffice's own API writes use these.
    """
    keys = list(known)
    if source is None or not source.strip():
        for default in DEFAULT_SOURCES:
            if default in keys:
                return default
        raise UnknownKey("the tenant has none of the default consent sources API, UNKNOWN")
    return tenant_key(source, keys, "consent source")


def push_comment(state: ConsentState) -> str:
    """The SuperOffice comment of a push: names consent-sync, then the platform's comment if any."""
    if state.comment:
        return f"{COMMENT_PREFIX}: {state.comment}"
    return f"{COMMENT_PREFIX}: changed on the marketing platform"
