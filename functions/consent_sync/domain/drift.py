"""A drift report (`sync ACCOUNT --dry-run`): what reconciling each contact of a run would do, per purpose,
classified from the worker's own plan (:func:`consent_sync.domain.plan.plan_contact`), with nothing done.

Per contact and purpose the plan either pushes the platform's state to SuperOffice, pulls SuperOffice's
into the contact, or leaves both alone; the rule that decided comes from the plan's decision. The
report counts them per purpose, keeps a few samples of each, and counts contacts the way a run's job
does (reconciled, pushed, pulled, unchanged), so a real run can be held against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from consent_sync.domain.consent import ConsentState
from consent_sync.domain.contact import Contact, StoredConsent
from consent_sync.domain.plan import ContactPlan
from consent_sync.domain.vocabulary import Purpose

NOT_LINKED = "not_linked"
"""The rule of a contact no SuperOffice person is linked to: nothing to reconcile with."""
DEFAULT_SAMPLES = 5


class DriftAction(StrEnum):
    """What a run would do about one purpose of one contact."""

    PUSH = "push"
    PULL = "pull"
    NONE = "none"


@dataclass(frozen=True)
class PurposeDrift:
    """One purpose of one contact: the action, the rule, and both sides' states as read."""

    email: str
    purpose: Purpose
    action: DriftAction
    rule: str
    platform: ConsentState | None
    superoffice: ConsentState | None
    person_id: int | None = None


def contact_drift(
    email: str,
    contact: Contact,
    superoffice: Mapping[Purpose, ConsentState],
    plan: ContactPlan | None,
) -> list[PurposeDrift]:
    """Each purpose of the contact as its plan decides it (``plan`` None: no person is linked)."""
    if plan is None:
        return [
            PurposeDrift(email, purpose, DriftAction.NONE, NOT_LINKED, contact.consents.get(purpose), None)
            for purpose in Purpose
        ]
    pushed = {push.purpose for push in plan.pushes}
    person_id = plan.contact.superoffice_person_id
    drifts = []
    for purpose in Purpose:
        decision = plan.decisions[purpose]
        if purpose in pushed:
            action = DriftAction.PUSH
        elif decision.write_platform is not None:
            action = DriftAction.PULL
        else:
            action = DriftAction.NONE
        drifts.append(
            PurposeDrift(
                email,
                purpose,
                action,
                decision.rule.value,
                contact.consents.get(purpose),
                superoffice.get(purpose),
                person_id,
            )
        )
    return drifts


@dataclass
class PurposeTally:
    """One purpose across the run: how many contacts per action, and the first few of each."""

    counts: dict[DriftAction, int] = field(default_factory=lambda: dict.fromkeys(DriftAction, 0))
    samples: dict[DriftAction, list[PurposeDrift]] = field(
        default_factory=lambda: {action: [] for action in DriftAction}
    )


@dataclass
class DriftReport:
    """The drift of one run's contacts; each contact counts once, however many chunks name it."""

    sample_size: int = DEFAULT_SAMPLES
    purposes: dict[Purpose, PurposeTally] = field(
        default_factory=lambda: {purpose: PurposeTally() for purpose in Purpose}
    )
    contacts: dict[str, list[PurposeDrift]] = field(default_factory=dict)

    def add(self, drifts: list[PurposeDrift]) -> None:
        """One contact's drift (a contact already counted is not counted again)."""
        if not drifts or drifts[0].email in self.contacts:
            return
        self.contacts[drifts[0].email] = drifts
        for drift in drifts:
            tally = self.purposes[drift.purpose]
            tally.counts[drift.action] += 1
            if len(tally.samples[drift.action]) < self.sample_size:
                tally.samples[drift.action].append(drift)

    def counters(self) -> dict[str, int]:
        """Contacts as a run's job counts them: a contact with any push is pushed, any pull pulled."""
        pushed = pulled = unchanged = 0
        for drifts in self.contacts.values():
            actions = {drift.action for drift in drifts}
            pushed += DriftAction.PUSH in actions
            pulled += DriftAction.PULL in actions
            unchanged += actions == {DriftAction.NONE}
        return {"reconciled": len(self.contacts), "pushed": pushed, "pulled": pulled, "unchanged": unchanged}

    def document(self) -> dict[str, Any]:
        """JSON-ready: the counters, then per purpose the counts and samples (docs/cli.md)."""
        return {
            **self.counters(),
            "purposes": {
                purpose.value: {
                    **{action.value: n for action, n in tally.counts.items()},
                    "samples": {
                        action.value: [sample_json(d) for d in samples]
                        for action, samples in tally.samples.items()
                    },
                }
                for purpose, tally in self.purposes.items()
            },
        }


def sample_json(drift: PurposeDrift) -> dict[str, Any]:
    """One sample: the e-mail, the rule, both sides' states."""
    return {
        "email": drift.email,
        "rule": drift.rule,
        "platform": _state_json(drift.platform),
        "superoffice": None
        if drift.superoffice is None
        else {**_present_json(drift.superoffice), "person_id": drift.person_id},
    }


def _state_json(state: ConsentState | None) -> dict[str, Any] | None:
    return None if state is None else _present_json(state)


def _present_json(state: ConsentState) -> dict[str, Any]:
    document: dict[str, Any] = {
        "legal_base": state.legal_base,
        "source": state.source,
        "changed_at": state.changed_at.isoformat(),
    }
    if isinstance(state, StoredConsent):
        document["changed_in"] = state.changed_in.value
    return document
