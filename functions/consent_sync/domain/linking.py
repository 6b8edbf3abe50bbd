"""Import rules per SuperOffice person, and linking persons to contacts (pure: no I/O).

An imported person (a *member* of a selection or project) is skipped when it has no usable primary
e-mail, or when the import asks for e-marketing-consented persons only and it is not one. Otherwise it
belongs to the contact of its normalised e-mail. Several persons can share that e-mail (any letter
case): the oldest (earliest registered, then lowest id) is the one linked, read and written; the others
are listed on the contact as duplicates (docs/sync-rules.md). The reconcile worker uses the same linking for
every trigger, so a sync run that meets an older person relinks the contact just as an import does.

Counting is per member and order-independent: :class:`~consent_sync.domain.contact.ImportMark` keeps
what each member of the latest import counted as, so a chunk processed again counts the same, and an
older person arriving after a younger one (in a later chunk) counts as the duplicate the younger one
has become.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from consent_sync.domain.consent import ConsentState, is_active
from consent_sync.domain.contact import Card, Contact, ImportMark, ImportOutcome
from consent_sync.domain.emails import InvalidEmail, validate_email
from consent_sync.domain.vocabulary import Purpose, Side


class SkipReason(StrEnum):
    """Why a member was not imported (the keys of the summary's ``skipped``)."""

    NO_EMAIL = "no_email"
    INVALID_EMAIL = "invalid_email"
    NO_EMARKETING_CONSENT = "no_emarketing_consent"
    PERSON_NOT_FOUND = "person_not_found"
    """Listed as a member, but gone from SuperOffice by the time its chunk was read."""


DUPLICATES_RECHECK = timedelta(hours=24)
"""How long a contact's SuperOffice-wide duplicate search holds: another person can take the address
later (an e-mail edited on an older card fires nothing), so the search is made again after this."""


def needs_duplicate_search(contact: Contact | None, *, now: datetime) -> bool:
    """Whether a known contact's e-mail is to be searched across SuperOffice before reconciling it."""
    if contact is None:
        return False
    checked = contact.duplicates_checked_at
    return checked is None or now - checked >= DUPLICATES_RECHECK


DOCUMENTED_SKIP_REASONS = (SkipReason.NO_EMAIL, SkipReason.INVALID_EMAIL, SkipReason.NO_EMARKETING_CONSENT)
"""The reasons the import summary documents (README, `import`); the summary always shows them, zero or not."""


@dataclass(frozen=True)
class Member:
    """A SuperOffice person with a usable primary e-mail, as a candidate for a contact's link."""

    person_id: int
    email: str
    """Normalised (trimmed, lower-cased): the contact key."""
    registered: datetime | None
    card: Card | None = None
    """The card fields, when the person's row was read (not for a by-e-mail lookup)."""


class PersonFields(Protocol):
    """What linking reads of a SuperOffice person row (the adapter's row model has these fields)."""

    @property
    def person_id(self) -> int: ...
    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str: ...
    @property
    def contact_name(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def mobile(self) -> str | None: ...
    @property
    def registered(self) -> datetime | None: ...


def member_of(row: PersonFields) -> Member | SkipReason:
    """The member a person row stands for, or why it cannot be imported (no or invalid e-mail)."""
    if row.email is None or not row.email.strip():
        return SkipReason.NO_EMAIL
    try:
        email = validate_email(row.email)
    except InvalidEmail:
        return SkipReason.INVALID_EMAIL
    return Member(person_id=row.person_id, email=email, registered=row.registered, card=card_of(row))


def card_of(row: PersonFields) -> Card:
    """The contact card fields of a person: names, company, e-mail as SuperOffice spells it, mobile."""
    return Card(
        first_name=row.first_name.strip() or None,
        last_name=row.last_name.strip() or None,
        company=row.contact_name.strip() or None,
        email_display=row.email.strip() if row.email else None,
        mobile=row.mobile.strip() if row.mobile else None,
    )


def passes_filter(emarketing: ConsentState | None, *, only_emarketing_consented: bool) -> bool:
    """False when the import wants e-marketing-consented persons only and ``EMARKETING`` is not active."""
    return not only_emarketing_consented or is_active(emarketing)


def older(
    person_id: int, registered: datetime | None, than_id: int, than_registered: datetime | None
) -> bool:
    """True when the first person is older than the second: registered earlier, then the lower id.

    A missing registration time (a contact linked before times were kept) falls back to the ids, which
    SuperOffice hands out in registration order.
    """
    if registered is not None and than_registered is not None and registered != than_registered:
        return registered < than_registered
    return person_id < than_id


def oldest_first(members: Iterable[Member]) -> list[Member]:
    """Members ordered oldest first (each person once)."""
    unique = {m.person_id: m for m in members}
    ordered: list[Member] = []
    for member in unique.values():
        position = len(ordered)
        while position > 0 and older(
            member.person_id,
            member.registered,
            ordered[position - 1].person_id,
            ordered[position - 1].registered,
        ):
            position -= 1
        ordered.insert(position, member)
    return ordered


@dataclass
class Linking:
    """The contact after linking a chunk's members sharing its e-mail, and what each member counted as."""

    contact: Contact
    outcomes: dict[int, ImportOutcome] = field(default_factory=dict)
    """Per member person id (imports only)."""
    new_duplicates: list[int] = field(default_factory=list)
    """Persons listed as duplicates by this linking (checked for conflicting legal bases)."""


def new_contact(
    account_id: str,
    members: Sequence[Member],
    *,
    import_id: str,
    now: datetime,
    import_members: Collection[int] | None = None,
) -> Linking:
    """A contact for an unknown e-mail: linked to the oldest member, the others listed as duplicates.

    ``import_members`` are the import's own members among ``members`` (default: all); the others were found by
    searching SuperOffice for the address and take part in linking without being counted.
    """
    ordered = oldest_first(members)
    if not ordered:
        raise ValueError("a new contact needs at least one member")
    first = ordered[0]
    contact = Contact(
        account_id=account_id,
        email=first.email,
        card=first.card or Card(),
        superoffice_person_id=first.person_id,
        superoffice_registered_at=first.registered,
        created_at=now,
        updated_at=now,
    )
    linking = Linking(contact=contact, outcomes={first.person_id: ImportOutcome.CREATED})
    for member in ordered[1:]:
        _add_duplicate(linking, member.person_id)
        linking.outcomes[member.person_id] = ImportOutcome.DUPLICATE
    _only_counted(linking, import_members)
    _remember(linking, import_id, created=True)
    return linking


def link_members(
    contact: Contact,
    members: Sequence[Member],
    *,
    import_id: str | None,
    import_members: Collection[int] | None = None,
) -> Linking:
    """Link a known contact to the oldest of its persons seen so far; list the others as duplicates.

    ``members`` are this chunk's persons with the contact's e-mail. The linked person's card is taken
    over when its row was read. ``import_id`` is given by imports: the members' outcomes are then
    counted, and remembered on the contact (see the module docstring).
    """
    linking = Linking(contact=contact.model_copy(deep=True))
    counted: Mapping[int, ImportOutcome] = {}
    created = False
    if (
        import_id is not None
        and contact.import_mark is not None
        and contact.import_mark.import_id == import_id
    ):
        counted = contact.import_mark.outcomes
        created = contact.import_mark.created
    updated = linking.contact
    for member in oldest_first(members):
        linked = updated.superoffice_person_id
        if linked is None or linked == member.person_id:
            # The contact this import created for a person found by the duplicate search, met as a
            # member now: it counts as created, as if both had been in one chunk.
            first_count = created and ImportOutcome.CREATED not in counted.values()
            outcome = ImportOutcome.CREATED if first_count else ImportOutcome.UPDATED
            _link(linking, member)
        elif older(member.person_id, member.registered, linked, updated.superoffice_registered_at):
            # The older person takes the link over; the displaced one becomes a duplicate. If this import
            # already counted the displaced one (as created or updated), this member counts as the
            # duplicate it has become, so the summary is the same whichever chunk came first.
            outcome = ImportOutcome.DUPLICATE if linked in counted else ImportOutcome.UPDATED
            _link(linking, member)
            _add_duplicate(linking, linked)
            _forget_displaced_person(updated)
        else:
            outcome = ImportOutcome.DUPLICATE
            _add_duplicate(linking, member.person_id)
        if import_id is not None:
            # A member counted before (a chunk processed again) counts as it did then.
            linking.outcomes[member.person_id] = counted.get(member.person_id, outcome)
    if import_id is not None:
        _only_counted(linking, import_members)
        _remember(linking, import_id, counted, created=created)
    return linking


def _forget_displaced_person(contact: Contact) -> None:
    """The link moved to an older person: what the contact copied from the displaced one goes.

    States that came from SuperOffice were the displaced person's, not the platform's: kept, the rules
    would see them as the platform's and push them onto the older person. They are dropped, so the
    older person's own states are taken (or, where it has none, the contact has none either); changes
    the platform made itself stay and are reconciled with the older person by the rules.
    """
    contact.consents = {p: c for p, c in contact.consents.items() if c.changed_in is Side.PLATFORM}
    contact.pushed.clear()


def _link(linking: Linking, member: Member) -> None:
    contact = linking.contact
    contact.superoffice_person_id = member.person_id
    if member.registered is not None:
        contact.superoffice_registered_at = member.registered
    if member.card is not None:
        contact.card = member.card
    if member.person_id in contact.duplicate_person_ids:
        contact.duplicate_person_ids = [p for p in contact.duplicate_person_ids if p != member.person_id]


def _add_duplicate(linking: Linking, person_id: int) -> None:
    contact = linking.contact
    if person_id not in contact.duplicate_person_ids:
        contact.duplicate_person_ids = sorted([*contact.duplicate_person_ids, person_id])
        linking.new_duplicates.append(person_id)


def _only_counted(linking: Linking, import_members: Collection[int] | None) -> None:
    # A person found by the duplicate search is linked or listed, but it is not a member of the import.
    if import_members is not None:
        linking.outcomes = {p: o for p, o in linking.outcomes.items() if p in import_members}


def _remember(
    linking: Linking,
    import_id: str,
    counted: Mapping[int, ImportOutcome] | None = None,
    *,
    created: bool = False,
) -> None:
    outcomes = {**(counted or {}), **linking.outcomes}
    linking.contact.import_mark = ImportMark(import_id=import_id, outcomes=outcomes, created=created)


def duplicate_conflicts(
    linked: Mapping[Purpose, ConsentState], duplicates: Mapping[int, Mapping[Purpose, ConsentState]]
) -> list[int]:
    """Duplicates whose ``EMARKETING`` legal base differs from the linked person's (absent is a value too).

    They are flagged, never silently dropped (docs/sync-rules.md): the oldest person decides, but a marketer
    should know that another card of the same address says something else.
    """
    mine = _legal_base(linked.get(Purpose.EMARKETING))
    return sorted(
        person_id
        for person_id, states in duplicates.items()
        if _legal_base(states.get(Purpose.EMARKETING)) != mine
    )


def _legal_base(state: ConsentState | None) -> str | None:
    # Keys match ignoring letter case.
    return None if state is None else state.legal_base.strip().upper()
