"""The contact as consent-sync keeps it, and the decision-log record (pure models, no I/O).

A contact is identified by its account and normalised primary e-mail (docs/sync-rules.md), never by the
SuperOffice person id, which is only a link. ``consents`` holds the platform-side state of each purpose
together with the side its latest change came from; a missing purpose means *absent*.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from consent_sync.domain.consent import ConsentState, is_withdrawn
from consent_sync.domain.emails import normalise_email
from consent_sync.domain.times import UtcDateTime
from consent_sync.domain.vocabulary import Purpose, Side, Trigger

_NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Card(BaseModel):
    """The contact card fields copied from the SuperOffice person; every field may be missing."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    email_display: str | None = None
    """The primary e-mail as SuperOffice spells it (letter case kept), for display only."""
    mobile: str | None = None


class StoredConsent(ConsentState):
    """A consent state as the contact stores it, plus the side its latest change came from.

    Being a :class:`ConsentState`, it can be handed to the sync rules directly.
    """

    changed_in: Side

    @classmethod
    def of(cls, state: ConsentState, changed_in: Side) -> "StoredConsent":
        """``state`` recorded as changed in ``changed_in``."""
        # model_validate, not **kwargs: `state` may itself be a StoredConsent carrying `changed_in`.
        return cls.model_validate({**state.model_dump(), "changed_in": changed_in})

    @property
    def state(self) -> ConsentState:
        """The plain state, without where it came from (what a push writes)."""
        return ConsentState.model_validate(self.model_dump(exclude={"changed_in"}))


class ImportOutcome(StrEnum):
    """What importing one member did, as counted in the import summary."""

    CREATED = "created"
    """The member's e-mail was unknown: a contact was created and linked to it."""
    UPDATED = "updated"
    """The contact existed: its card, link and consents were brought up to date."""
    DUPLICATE = "duplicate"
    """An older person has the same e-mail (or, on a relink, stands in for the person it displaced)."""


class PushedState(BaseModel):
    """What consent-sync last wrote to SuperOffice for one purpose, and when.

    SuperOffice stamps a written row with the time of the write, not of the consent. Reading that row
    back, the push's *echo* would look like a SuperOffice change made at push time; `changed_at` keeps
    the time of the change that was pushed, so the echo is judged by that (see `plan.without_echo`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    legal_base: str
    changed_at: UtcDateTime
    pushed_at: UtcDateTime
    """When the push was decided, just before its PUT was sent."""
    confirmed_at: UtcDateTime | None = None
    """When SuperOffice answered the PUT (absent in records older than this field): SuperOffice stamps
    the row between `pushed_at` and this, give or take the clocks' skew."""
    job_id: str | None = None
    """The job whose worker made the push: a chunk delivered again after a crash counts the contact as
    pushed by its run, though it finds it in step."""
    changed_in: Side = Side.PLATFORM
    """Whose clock `changed_at` is: the side the pushed change was made in (a platform change, as a
    rule; a state once pulled from SuperOffice and pushed to another person keeps SuperOffice's)."""


class ImportMark(BaseModel):
    """What one import counted on this contact, per member, so that processing a chunk again (a retry
    or a redelivered message) counts every member as the first processing did, whatever the order in
    which the chunks of the import arrive."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    import_id: _NonEmpty
    outcomes: dict[int, ImportOutcome] = Field(default_factory=dict)
    created: bool = False
    """This import created the contact. Linked to a person the duplicate search found, that person's
    own chunk counts it as created when it comes (no member had counted so yet)."""


class Contact(BaseModel):
    """A marketing-platform contact with its consents and its link to a SuperOffice person.

    ``version`` is the optimistic-locking counter: 0 for a contact never stored, incremented by the
    store on each write. ``pending`` holds states still owed to SuperOffice (a push that has not
    succeeded yet); the next run retries them.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    account_id: _NonEmpty
    email: _NonEmpty
    card: Card = Field(default_factory=Card)
    superoffice_person_id: int | None = Field(None, gt=0)
    superoffice_registered_at: UtcDateTime | None = None
    """When the linked person was registered in SuperOffice: an older person with the same e-mail,
    met later, takes the link over (docs/sync-rules.md, duplicates)."""
    duplicate_person_ids: list[int] = Field(default_factory=list)
    duplicates_checked_at: UtcDateTime | None = None
    """When SuperOffice was last searched for every person with this e-mail (duplicates anywhere in the
    tenant, not only those a selection or run named); see `linking.DUPLICATES_RECHECK`."""
    consents: dict[Purpose, StoredConsent] = Field(default_factory=dict)
    pending: dict[Purpose, ConsentState] = Field(default_factory=dict)
    pushed: dict[Purpose, PushedState] = Field(default_factory=dict)
    """The last state pushed to SuperOffice per purpose (to recognise its echo)."""
    version: int = Field(0, ge=0)
    created_at: UtcDateTime | None = None
    """When the contact was first stored (set by the store)."""
    updated_at: UtcDateTime | None = None
    """When the contact was last stored (set by the store)."""
    last_reconciled_at: UtcDateTime | None = None
    platform_changed_at: UtcDateTime | None = None
    """The latest platform-side consent change ever recorded; only moves forward (ChangedIndex)."""
    import_mark: ImportMark | None = None
    """The members the latest import counted on this contact (see :class:`ImportMark`)."""

    @field_validator("email")
    @classmethod
    def _normalised(cls, value: str) -> str:
        return normalise_email(value)

    @property
    def linked(self) -> bool:
        """True when the contact is linked to a SuperOffice person."""
        return self.superoffice_person_id is not None

    @property
    def suppressed(self) -> bool:
        """True when the ``EMARKETING`` consent is withdrawn (no marketing send-outs)."""
        return is_withdrawn(self.consents.get(Purpose.EMARKETING))

    def latest_platform_change(self) -> datetime | None:
        """The latest platform-side change time: ``platform_changed_at`` or a newer platform consent.

        Kept monotonic so a later SuperOffice-side change (which replaces a consent's ``changed_in``)
        never moves a contact backwards in the "changed since" index.
        """
        times = [s.changed_at for s in self.consents.values() if s.changed_in is Side.PLATFORM]
        if self.platform_changed_at is not None:
            times.append(self.platform_changed_at)
        return max(times, default=None)


class SuperOfficeValue(BaseModel):
    """SuperOffice's state as the decision saw it."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    legal_base: str
    source: str | None = None
    changed_at: UtcDateTime
    person_id: int | None = None
    updated_by: int | None = None
    """The SuperOffice associate who made the row's latest change (None: not known)."""

    @classmethod
    def of(cls, state: ConsentState, person_id: int | None) -> "SuperOfficeValue":
        """The logged view of SuperOffice's ``state`` of person ``person_id``."""
        return cls(
            legal_base=state.legal_base,
            source=state.source,
            changed_at=state.changed_at,
            person_id=person_id,
            updated_by=state.updated_by,
        )


class PlatformValue(BaseModel):
    """The platform's state as the decision saw it."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    legal_base: str
    source: str | None = None
    changed_at: UtcDateTime

    @classmethod
    def of(cls, state: ConsentState) -> "PlatformValue":
        """The logged view of the platform's ``state``."""
        return cls(legal_base=state.legal_base, source=state.source, changed_at=state.changed_at)


class DecisionRecord(BaseModel):
    """One reconciliation decision for one contact and purpose, as kept in the decision log.

    Both sides' values and change times, the winner, the rule and what was done: the evidence of why
    a consent has the value it has. ``action`` is ``push`` (SuperOffice written), ``pull`` (platform
    written), ``push_confirmed`` (an owed push SuperOffice turned out to hold: made by an attempt that
    stopped before recording it), ``none``, or ``error:<code>`` with ``error`` saying what went wrong. ``winner`` is
    ``None`` when no side won (equal values, both absent). ``duplicate_conflicts`` lists duplicate
    persons (same e-mail) whose legal base differs from the linked person's, so it is never silently
    dropped (docs/sync-rules.md).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    at: UtcDateTime
    trigger: Trigger
    purpose: Purpose
    superoffice: SuperOfficeValue | None
    platform: PlatformValue | None
    winner: Side | None
    rule: _NonEmpty
    action: _NonEmpty
    error: str | None = None
    duplicate_conflicts: list[int] = Field(default_factory=list)
