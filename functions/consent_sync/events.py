"""The event contract (docs/events.md): one pydantic model per detail-type, shared by producers and consumers.

Incoming events have `source` = `marketing.platform`; outgoing ones `source` = `consent-sync`. Incoming
details forbid unknown fields, so a misspelt field is an error rather than a silently ignored setting.

Every model is built (its validator compiled) when it is first used, not at import (``defer_build``):
a function uses a few of these models, and building them all cost a cold start ~100 ms. The module
deliberately has no ``from __future__ import annotations``: the annotations are objects, so a deferred
build never looks a type up by name in ``sys.modules`` (the local runtime keeps one copy of this
package per function, swapped in while that function runs), and validation is exactly what it was.
"""

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from consent_sync.domain.emails import normalise_email, validate_email
from consent_sync.domain.settings import AccountId, AccountSettings
from consent_sync.domain.vocabulary import JobKind, JobStatus, Purpose, RunKind, Side, Trigger

PLATFORM_SOURCE = "marketing.platform"
CONSENT_SYNC_SOURCE = "consent-sync"
MAX_INLINE_RECIPIENTS = 1000
# A recipient (inline or a line of an S3 list) is at most this many characters once normalised: the
# longest address RFC 3696 allows (64 + "@" + 255). Longer entries are refused, so a reconcile chunk
# of them stays far below SQS's message limit.
MAX_RECIPIENT_LENGTH = 320
# An S3 recipient list: at most this many recipients (non-blank lines), this many bytes in all, and
# this many bytes per line (whitespace included). It is read streamed, within that byte budget.
MAX_LIST_RECIPIENTS = 100_000
MAX_LIST_BYTES = 32 * 1024 * 1024
MAX_LIST_LINE_BYTES = 4 * MAX_RECIPIENT_LENGTH + 256
# A platform clock a little ahead of ours is tolerated; a time further ahead is a bad event.
MAX_FUTURE_SKEW = timedelta(seconds=5)


def _email(raw: str) -> str:
    return normalise_email(validate_email(raw))


Email = Annotated[str, AfterValidator(_email)]


def check_recipient(raw: str) -> str:
    """`raw` when it may be a recipient: at most `MAX_RECIPIENT_LENGTH` characters once normalised
    (trimmed and lower-cased, as it is checked).

    Not an address check: a recipient that is no address is judged (blocked), not refused.
    """
    if len(normalise_email(raw)) > MAX_RECIPIENT_LENGTH:
        raise ValueError(f"a recipient is longer than {MAX_RECIPIENT_LENGTH} characters")
    return raw


Recipient = Annotated[str, AfterValidator(check_recipient)]
Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]


class _Detail(BaseModel):
    """The detail of one detail-type; unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    detail_type: ClassVar[str]


ENVELOPE_TIME = "envelope_time"
"""Validation context key: the time of the event a detail came in (:func:`parse_event` sets it)."""
RECEIVED = "received"
"""Validation context key: the detail is an incoming event's (:func:`parse_event` sets it)."""


def _context(info: ValidationInfo) -> dict[str, Any]:
    return info.context if isinstance(info.context, dict) else {}


class IntegrationSettingsUpdated(AccountSettings):
    """`Integration Settings Updated`: the account's settings, exactly the stored model.

    Saves are ordered by `settings_version` and then by the event's time (`event_time`, the envelope's
    `time`, not part of the detail): docs/events.md.
    """

    model_config = ConfigDict(defer_build=True)  # merged with AccountSettings' own
    detail_type: ClassVar[str] = "Integration Settings Updated"
    _event_time: datetime | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _remember_event_time(self, info: ValidationInfo) -> Self:
        at = _context(info).get(ENVELOPE_TIME)
        if isinstance(at, datetime):
            self._event_time = at
        return self

    @property
    def event_time(self) -> datetime | None:
        """The time of the event these settings came in (None when built otherwise)."""
        return self._event_time


class SourceKind(StrEnum):
    SELECTION = "selection"
    PROJECT = "project"


class ImportSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    kind: SourceKind
    id: int = Field(gt=0)


class ImportRequested(_Detail):
    detail_type: ClassVar[str] = "Import Requested"
    account_id: AccountId
    import_id: Identifier
    source: ImportSource
    only_emarketing_consented: bool = False


class SyncRequested(_Detail):
    """`Sync Requested`: one account or (no account_id) every account with sync on."""

    detail_type: ClassVar[str] = "Sync Requested"
    account_id: AccountId | None = None
    baseline: bool = False
    # Given by a caller that wants to follow the run (the CLI's --wait); otherwise one is made up.
    run_id: Identifier | None = None
    # Set by consent-sync's own 30-minute fan-out (one event per account): the run's kind is `scheduled`.
    scheduled: bool = False

    @model_validator(mode="after")
    def _baseline_names_an_account(self, info: ValidationInfo) -> Self:
        # One event must not baseline every tenant: a baseline comes from switching one account's
        # sync on (or an operator naming the account).
        if _context(info).get(RECEIVED) and self.baseline and self.account_id is None:
            raise ValueError("a baseline run must name its account_id")
        return self


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class Stage(StrEnum):
    CHECKLIST = "checklist"
    SENDING = "sending"


class SendoutStage(_Detail):
    stage: ClassVar[Stage]
    account_id: AccountId
    sendout_id: Identifier
    channel: Channel
    recipients: list[Recipient] | None = Field(default=None, max_length=MAX_INLINE_RECIPIENTS)
    recipients_uri: Annotated[str, StringConstraints(pattern=r"^s3://[a-z0-9.-]{3,63}/.+$")] | None = None
    # Given by a caller that wants to follow the check (the CLI's --wait); otherwise one is made up.
    check_id: Identifier | None = None

    @model_validator(mode="after")
    def _one_recipient_source(self) -> Self:
        if (self.recipients is None) == (self.recipients_uri is None):
            raise ValueError("exactly one of recipients and recipients_uri is required")
        return self


class SendoutChecklist(SendoutStage):
    detail_type: ClassVar[str] = "Sendout Checklist"
    stage: ClassVar[Stage] = Stage.CHECKLIST


class SendoutSending(SendoutStage):
    detail_type: ClassVar[str] = "Sendout Sending"
    stage: ClassVar[Stage] = Stage.SENDING


class ContactConsentChanged(_Detail):
    """`Contact Consent Changed`: the platform recorded a consent change (unsubscribe, opt-in form)."""

    detail_type: ClassVar[str] = "Contact Consent Changed"
    account_id: AccountId
    email: Email
    purpose: Purpose
    legal_base: Key
    source: Key | None = None
    comment: Annotated[str, StringConstraints(max_length=255)] | None = None
    changed_at: AwareDatetime

    @model_validator(mode="after")
    def _not_in_future(self) -> Self:
        if self.changed_at.astimezone(UTC) > datetime.now(UTC) + MAX_FUTURE_SKEW:
            raise ValueError("changed_at lies in the future")
        return self


class ImportCompleted(_Detail):
    detail_type: ClassVar[str] = "Import Completed"
    account_id: str
    import_id: str
    status: JobStatus
    members: int
    created: int
    updated: int
    skipped: dict[str, int]
    duplicates: int
    failed: int
    # Duplicates whose EMARKETING legal base differs from the linked person's (design §4: flagged).
    duplicate_conflicts: int = 0


class SyncRunCompleted(_Detail):
    detail_type: ClassVar[str] = "Sync Run Completed"
    account_id: str
    run_id: str
    kind: RunKind
    reconciled: int
    pushed: int
    pulled: int
    unchanged: int
    failed: int


class ContactConsentUpdated(_Detail):
    """A consent consent-sync changed on the platform's side (a pull), whatever triggered it: the platform's
    own lists, automations and SMS triggers follow at once. ``update_id`` is the same when an update is
    published again (after a crash between publishing and clearing the outbox)."""

    detail_type: ClassVar[str] = "Contact Consent Updated"
    account_id: str
    email: str
    purpose: Purpose
    legal_base: str
    source: str | None
    changed_at: datetime
    changed_in: Side = Side.SUPEROFFICE
    superoffice_person_id: int | None
    rule: str
    trigger: Trigger
    update_id: str


class SendoutConsentChecked(_Detail):
    detail_type: ClassVar[str] = "Sendout Consent Checked"
    account_id: str
    sendout_id: str
    stage: Stage
    channel: Channel
    allowed_count: int
    blocked_count: int
    stale_count: int
    results_uri: str


INCOMING: dict[str, type[BaseModel]] = {
    model.detail_type: model
    for model in (
        IntegrationSettingsUpdated,
        ImportRequested,
        SyncRequested,
        SendoutChecklist,
        SendoutSending,
        ContactConsentChanged,
    )
}


M = TypeVar("M", bound=BaseModel)


class InvalidEvent(ValueError):
    """An event that does not follow the contract; `errors` name each offending field."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class EventEnvelope(BaseModel):
    """The EventBridge envelope fields consent-sync relies on."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    time: datetime | None = None
    detail: dict[str, Any]


def parse_event(event: Any, *models: type[M]) -> M:
    """Validate an EventBridge event and return its detail as the model its detail-type names.

    Raises `InvalidEvent` with a message naming every offending field (never its value: values may be
    e-mail addresses).
    """
    if not isinstance(event, dict):
        raise InvalidEvent("the event is not a JSON object")
    try:
        envelope = EventEnvelope.model_validate(event)
    except ValidationError as exc:
        raise InvalidEvent(f"the event envelope is malformed: {describe_errors(exc)}", _errors(exc)) from exc
    by_type = {m.detail_type: m for m in models}  # type: ignore[attr-defined]
    model = by_type.get(envelope.detail_type)
    if model is None:
        raise InvalidEvent(
            f"unexpected detail-type {envelope.detail_type!r}; expected one of {sorted(by_type)}"
        )
    try:
        return model.model_validate(envelope.detail, context={RECEIVED: True, ENVELOPE_TIME: envelope.time})
    except ValidationError as exc:
        raise InvalidEvent(f"{envelope.detail_type}: {describe_errors(exc)}", _errors(exc)) from exc


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"field": _loc(e["loc"]), "problem": e["msg"]} for e in exc.errors(include_input=False)]


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "detail"


def describe_errors(exc: ValidationError) -> str:
    """One line naming each invalid field and what is wrong with it, without echoing the input."""
    return "; ".join(f"{_loc(e['loc'])}: {e['msg']}" for e in exc.errors(include_input=False))


# ---------------------------------------------------------------- internal: the reconcile queue


class JobRef(BaseModel):
    """Which job a chunk belongs to, and its number in that job (0-based)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    kind: JobKind
    id: Identifier
    chunk_no: int = Field(ge=0)


class SendoutRef(BaseModel):
    """The send-out stage a presend chunk checks."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    sendout_id: Identifier
    stage: Stage
    channel: Channel


class ReconcileChunk(BaseModel):
    """One SQS message on the reconcile queue: up to a few hundred contacts of one account.

    `person_ids` name contacts from the SuperOffice side (import members, changed consent rows);
    `emails` from the platform side (changed or pending contacts, baseline, send-out recipients).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    account_id: AccountId
    trigger: Trigger
    job: JobRef
    person_ids: list[int] = Field(default_factory=list, max_length=1000)
    emails: list[Recipient] = Field(default_factory=list, max_length=1000)
    only_emarketing_consented: bool = False
    sendout: SendoutRef | None = None

    @model_validator(mode="after")
    def _has_work(self) -> Self:
        if not self.person_ids and not self.emails:
            raise ValueError("a chunk names at least one person id or e-mail address")
        if (self.trigger is Trigger.PRESEND) != (self.sendout is not None):
            raise ValueError("sendout is given exactly for presend chunks")
        return self

    @property
    def size(self) -> int:
        """How many contacts the chunk names (what a failed chunk counts as failed)."""
        return len(self.person_ids) + len(self.emails)


class WebhookPull(BaseModel):
    """One SQS message on the pull queue: a person SuperOffice named in a consent webhook delivery."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    account_id: AccountId
    event_id: str = Field(min_length=1, max_length=100)
    person_id: int = Field(gt=0)
    event: str
    changed_by_associate_id: int | None = None
