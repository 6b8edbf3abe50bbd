"""Pydantic models for everything the client reads from SuperOffice, and what it hands out.

Field names are Python's; aliases are SuperOffice's (PascalCase entity fields, archive column names from
``queries.py``). Unknown fields are ignored, missing optional strings become ``""``, ids of 0 (SuperOffice's
"none") become ``None`` where they are references, and times are aware UTC (see ``times.py``).
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from consent_sync.domain.consent import ConsentState
from consent_sync.domain.vocabulary import Purpose

from . import queries as q
from .times import SoTime


def _none_to_empty(value: Any) -> Any:
    return "" if value is None else value


def _zero_to_none(value: Any) -> Any:
    if value in (None, "", 0, "0"):
        return None
    return value


def _blank_to_none(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _int_flag(value: Any) -> Any:
    # ConsentPurpose.Active is an int in the spec (1 = active); accept any int, and real booleans.
    if isinstance(value, int) and not isinstance(value, bool):
        return value != 0
    return value


#: A string SuperOffice may send as ``null``.
Text = Annotated[str, BeforeValidator(_none_to_empty)]
#: A reference id where 0 means "none".
RefId = Annotated[int | None, BeforeValidator(_zero_to_none)]
#: A string where blank means "none".
OptionalText = Annotated[str | None, BeforeValidator(_blank_to_none)]


class SoModel(BaseModel):
    """Base for models read from SuperOffice responses."""

    # Built when first used, not when imported: a function that never calls SuperOffice never builds them.
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True, defer_build=True)


# -- Envelopes and login ------------------------------------------------------------------------------------


class ODataEnvelope(SoModel):
    """The OData envelope of every list call; rows stay raw until a row model reads them."""

    metadata: str | None = Field(None, alias="odata.metadata")
    next_link: str | None = Field(None, alias="odata.nextLink")
    value: list[dict[str, Any]]


class SystemUserLoginResponse(SoModel):
    """Answer of ``PartnerSystemUser/Authenticate``."""

    is_successful: bool = Field(alias="IsSuccessful")
    token: str | None = Field(None, alias="Token")
    error_message: str | None = Field(None, alias="ErrorMessage")


class ApiVersion(SoModel):
    """Answer of ``GET .../api``: the API version and the NetServer build behind it."""

    version: str | None = Field(None, alias="Version")
    netserver_version: str | None = Field(None, alias="NetServerVersion")
    netserver: str | None = Field(None, alias="NetServer")


class TenantState(SoModel):
    """Answer of ``GET /api/state/{CustId}``: where the tenant's API lives now."""

    api: str = Field(alias="Api")
    state: str | None = Field(None, alias="State")
    is_running: bool | None = Field(None, alias="IsRunning")


# -- Lists of keys ------------------------------------------------------------------------------------------


class LegalBase(SoModel):
    """An item of ``/List/LegalBase/Items``."""

    id: int = Field(alias="LegalBaseId")
    key: Text = Field("", alias="Key")
    name: Text = Field("", alias="Name")
    rank: int = Field(0, alias="Rank")
    deleted: bool = Field(False, alias="Deleted")
    tooltip: Text = Field("", alias="Tooltip")


class ConsentPurpose(SoModel):
    """An item of ``/List/ConsentPurpose/Items`` (``Active`` is an int in the spec, 1 = active)."""

    id: int = Field(alias="ConsentPurposeId")
    key: Text = Field("", alias="Key")
    name: Text = Field("", alias="Name")
    active: Annotated[bool, BeforeValidator(_int_flag)] = Field(True, alias="Active")
    rank: int = Field(0, alias="Rank")
    deleted: bool = Field(False, alias="Deleted")


class ConsentSource(SoModel):
    """An item of ``/List/ConsentSource/Items``."""

    id: int = Field(alias="ConsentSourceId")
    key: Text = Field("", alias="Key")
    name: Text = Field("", alias="Name")
    rank: int = Field(0, alias="Rank")
    deleted: bool = Field(False, alias="Deleted")


# -- Persons ------------------------------------------------------------------------------------------------


class PersonRow(SoModel):
    """A row of ``Archive/Person``: what a contact card needs, read in bulk."""

    person_id: int = Field(alias=q.P_ID)
    first_name: Text = Field("", alias=q.P_FIRST_NAME)
    last_name: Text = Field("", alias=q.P_LAST_NAME)
    contact_id: RefId = Field(None, alias=q.P_CONTACT_ID)
    contact_name: Text = Field("", alias=q.P_CONTACT_NAME)
    #: The primary e-mail address as stored (not normalised); ``None`` when the person has none.
    email: OptionalText = Field(None, alias=q.P_EMAIL)
    mobile: OptionalText = Field(None, alias=q.P_MOBILE)
    registered: SoTime = Field(None, alias=q.P_REGISTERED)
    updated: SoTime = Field(None, alias=q.P_UPDATED)


class ConsentArchiveRow(SoModel):
    """A raw row of ``Archive/dynamic`` over ``consentperson``: list ids, not keys yet."""

    consent_person_id: int = Field(alias=q.C_ID)
    person_id: int = Field(alias=q.C_PERSON_ID)
    purpose_id: int = Field(alias=q.C_PURPOSE_ID)
    legal_base_id: int = Field(alias=q.C_LEGAL_BASE_ID)
    source_id: int = Field(0, alias=q.C_SOURCE_ID)
    comment: Text = Field("", alias=q.C_COMMENT)
    registered: SoTime = Field(None, alias=q.C_REGISTERED)
    updated: SoTime = Field(None, alias=q.C_UPDATED)
    registered_associate_id: RefId = Field(None, alias=q.C_REGISTERED_ASSOCIATE)
    updated_associate_id: RefId = Field(None, alias=q.C_UPDATED_ASSOCIATE)


class ConsentRow(BaseModel):
    """One person's consent for one purpose, with list ids mapped to the tenant's keys.

    A key is ``None`` when the id is not in the tenant's list (for example a list item deleted since):
    callers decide what that means instead of the whole batch failing.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    consent_person_id: int
    person_id: int
    purpose_id: int
    purpose_key: str | None
    legal_base_id: int
    legal_base_key: str | None
    source_id: int
    source_key: str | None
    comment: str
    registered: datetime | None
    updated: datetime | None
    #: ``max(registered, updated)``: when the row last changed, aware UTC.
    changed_at: datetime | None
    registered_associate_id: int | None = None
    updated_associate_id: int | None = None

    @property
    def changed_by(self) -> int | None:
        """The associate who made the row's latest change: the updater once it was updated, else the
        one who registered it (None when SuperOffice does not say)."""
        if self.updated is not None and (self.registered is None or self.updated >= self.registered):
            return self.updated_associate_id or self.registered_associate_id
        return self.registered_associate_id


# -- Members ------------------------------------------------------------------------------------------------


class SelectionMemberRow(SoModel):
    """A row of ``Selection/{id}/Members``; ``person_id`` is ``None`` for a company without persons."""

    person_id: RefId = Field(None, alias=q.M_PERSON_ID)
    contact_id: RefId = Field(None, alias=q.M_CONTACT_ID)


class ProjectMemberRow(SoModel):
    """A row of ``Project/{id}/Members``."""

    project_member_id: int = Field(alias=q.M_PROJECT_MEMBER_ID)
    person_id: RefId = Field(None, alias=q.M_PERSON_ID)
    contact_id: RefId = Field(None, alias=q.M_CONTACT_ID)


class ListedPerson(BaseModel):
    """A person who is a member of a selection or project."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    person_id: int
    contact_id: int | None


# -- Consent states ------------------------------------------------------------------------------------------


def superoffice_states(rows: Iterable[ConsentRow]) -> dict[int, dict[Purpose, ConsentState]]:
    """SuperOffice's state per person and purpose, from the bulk-read consent rows.

    Rows of other purposes, or whose legal base or time cannot be read (a list item deleted since), are
    left out: deciding on a guess could overwrite a real consent.
    """
    states: dict[int, dict[Purpose, ConsentState]] = {}
    purposes = {p.value: p for p in Purpose}
    for row in rows:
        purpose = purposes.get(row.purpose_key or "")
        if purpose is None or not row.legal_base_key or row.changed_at is None:
            continue
        states.setdefault(row.person_id, {})[purpose] = ConsentState(
            legal_base=row.legal_base_key,
            source=row.source_key,
            comment=row.comment or None,
            changed_at=row.changed_at,
            updated_by=row.changed_by,
        )
    return states


# -- Webhooks -----------------------------------------------------------------------------------------------


class Webhook(SoModel):
    """A webhook entity (``/Webhook``, ``/Webhook/{id}``). Its ``Secret`` is never read back: the
    signing secret is consent-sync's own, in Secrets Manager."""

    webhook_id: int = Field(alias="WebhookId")
    name: Text = Field(default="", alias="Name")
    events: list[str] = Field(default_factory=list, alias="Events")
    target_url: Text = Field(default="", alias="TargetUrl")
    state: Text = Field(default="Unknown", alias="State")
    type: Text = Field(default="", alias="Type")


class WebhookDelivery(SoModel):
    """The body SuperOffice posts to a webhook's ``TargetUrl`` (api-notes §4). It names the person and
    the event only: the consent values are read back from SuperOffice, never taken from here."""

    event_id: str = Field(default="", alias="EventId", max_length=100)
    event: str = Field(alias="Event", min_length=1, max_length=100)
    primary_key: int = Field(default=0, alias="PrimaryKey", ge=0)
    entity: Text = Field(default="", alias="Entity")
    context_identifier: Text = Field(default="", alias="ContextIdentifier")
    changed_by_associate_id: RefId = Field(default=None, alias="ChangedByAssociateId")
    timestamp: SoTime = Field(default=None, alias="Timestamp")
    webhook_name: Text = Field(default="", alias="WebhookName")
