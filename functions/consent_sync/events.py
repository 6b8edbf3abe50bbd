"""The event contract (docs/events.md): one pydantic model per detail-type, shared by producers and consumers.

Incoming events have `source` = `marketing.platform`; outgoing ones `source` = `consent-sync`. Incoming
details forbid unknown fields, so a misspelt field is an error rather than a silently ignored setting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from consent_sync.accounts import AccountId, AccountSettings
from consent_sync.sync.consent import Purpose
from consent_sync.sync.emails import normalise_email, validate_email

PLATFORM_SOURCE = "marketing.platform"
CONSENT_SYNC_SOURCE = "consent-sync"
MAX_INLINE_RECIPIENTS = 1000
# A platform clock a little ahead of ours is tolerated; a time further ahead is a bad event.
MAX_FUTURE_SKEW = timedelta(seconds=5)


def _email(raw: str) -> str:
    return normalise_email(validate_email(raw))


Email = Annotated[str, AfterValidator(_email)]
Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]


class _Incoming(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    detail_type: ClassVar[str]


class _Outgoing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    detail_type: ClassVar[str]


class IntegrationSettingsUpdated(AccountSettings):
    """`Integration Settings Updated`: the account's settings, exactly the stored model."""

    detail_type: ClassVar[str] = "Integration Settings Updated"


class SourceKind(StrEnum):
    SELECTION = "selection"
    PROJECT = "project"


class ImportSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: SourceKind
    id: int = Field(gt=0)


class ImportRequested(_Incoming):
    detail_type: ClassVar[str] = "Import Requested"
    account_id: AccountId
    import_id: Identifier
    source: ImportSource
    only_emarketing_consented: bool = False


class SyncRequested(_Incoming):
    """`Sync Requested`: one account or (no account_id) every account with sync on."""

    detail_type: ClassVar[str] = "Sync Requested"
    account_id: AccountId | None = None
    baseline: bool = False
    # Given by a caller that wants to follow the run (the CLI's --wait); otherwise one is made up.
    run_id: Identifier | None = None


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class Stage(StrEnum):
    CHECKLIST = "checklist"
    SENDING = "sending"


class SendoutStage(_Incoming):
    stage: ClassVar[Stage]
    account_id: AccountId
    sendout_id: Identifier
    channel: Channel
    recipients: list[str] | None = Field(default=None, max_length=MAX_INLINE_RECIPIENTS)
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


class ContactConsentChanged(_Incoming):
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


class ImportCompleted(_Outgoing):
    detail_type: ClassVar[str] = "Import Completed"
    account_id: str
    import_id: str
    status: Literal["completed", "completed_with_errors", "failed"]
    members: int
    created: int
    updated: int
    skipped: dict[str, int]
    duplicates: int
    failed: int
    # Duplicates whose EMARKETING legal base differs from the linked person's (design §4: flagged).
    duplicate_conflicts: int = 0


class SyncRunCompleted(_Outgoing):
    detail_type: ClassVar[str] = "Sync Run Completed"
    account_id: str
    run_id: str
    kind: Literal["scheduled", "baseline", "requested"]
    reconciled: int
    pushed: int
    pulled: int
    unchanged: int
    failed: int


class SendoutConsentChecked(_Outgoing):
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

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

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
        return model.model_validate(envelope.detail)
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

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["import", "run", "sendout"]
    id: Identifier
    chunk_no: int = Field(ge=0)


class SendoutRef(BaseModel):
    """The send-out stage a presend chunk checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sendout_id: Identifier
    stage: Stage
    channel: Channel


class ReconcileChunk(BaseModel):
    """One SQS message on the reconcile queue: up to a few hundred contacts of one account.

    `person_ids` name contacts from the SuperOffice side (import members, changed consent rows);
    `emails` from the platform side (changed or pending contacts, baseline, send-out recipients).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    account_id: AccountId
    trigger: Literal["import", "scheduled", "baseline", "requested", "presend", "platform"]
    job: JobRef
    person_ids: list[int] = Field(default_factory=list, max_length=1000)
    emails: list[str] = Field(default_factory=list, max_length=1000)
    only_emarketing_consented: bool = False
    sendout: SendoutRef | None = None

    @model_validator(mode="after")
    def _has_work(self) -> Self:
        if not self.person_ids and not self.emails:
            raise ValueError("a chunk names at least one person id or e-mail address")
        if (self.trigger == "presend") != (self.sendout is not None):
            raise ValueError("sendout is given exactly for presend chunks")
        return self

    @property
    def size(self) -> int:
        """How many contacts the chunk names (what a failed chunk counts as failed)."""
        return len(self.person_ids) + len(self.emails)
