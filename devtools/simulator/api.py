"""The SuperOffice REST calls consent-sync makes (api-notes §3), plus Online login and tenant state.

Routes are registered with their full path; `server.py` makes path matching case-insensitive
(IIS is) and puts authentication, faults and counting in front of them.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar, cast
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devtools.simulator.clock import NEVER, format_time
from devtools.simulator.crm import (
    API_ASSOCIATE_ID,
    LEGAL_BASE_BY_ID,
    LEGAL_BASES,
    PURPOSE_BY_ID,
    PURPOSE_BY_KEY,
    PURPOSES,
    SEED_START,
    SOURCE_BY_ID,
    SOURCES,
    ConsentRow,
    Crm,
    CrmError,
    ListItem,
    Person,
    ProjectMember,
    UnknownPerson,
)
from devtools.simulator.odata import (
    ColumnType,
    Comparison,
    Membership,
    Node,
    ODataError,
    compile_filter,
    conjuncts,
    parse_count,
    parse_filter,
    parse_order_by,
    parse_select,
)
from devtools.simulator.tenant import Tenant, error_response

API_PREFIX = "/{cust}/api/v1"
MAX_FORM_BYTES = 1_000_000

R = TypeVar("R")


def tenant_of(request: Request) -> Tenant:
    """The tenant this app serves."""
    return cast(Tenant, request.app.state.tenant)


def root_url(request: Request) -> str:
    """`http://host:port` as the client reached us (stands for `https://{env}.superoffice.com`)."""
    return str(request.base_url).rstrip("/")


def api_root(request: Request) -> str:
    """The tenant's REST base URL, `…/{CustId}/api/v1`."""
    return f"{root_url(request)}/{tenant_of(request).cust_id}/api/v1"


def _render(value: Any) -> Any:
    return format_time(value) if isinstance(value, datetime) else value


def _sort_key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


# ---- archive machinery -------------------------------------------------------------------------


@dataclass(frozen=True)
class Column(Generic[R]):
    """A selectable, filterable archive column: its type and how to read its raw value from a row."""

    kind: ColumnType
    raw: Callable[[R], Any]


@dataclass(frozen=True)
class ArchiveQuery:
    """The parsed OData options of one request."""

    select: list[str]
    filter: Node | None
    order_by: list[tuple[str, bool]]
    top: int | None
    skip: int
    params: dict[str, str]


def read_query(
    params: Mapping[str, str], columns: Mapping[str, Column[Any]], default_select: list[str] | None
) -> ArchiveQuery:
    """Parse `$select`, `$filter`, `$orderBy`, `$top`, `$skip` (option names are case-insensitive)."""
    options = {key.lower(): value for key, value in params.items()}
    if default_select is None and not options.get("$select", "").strip():
        raise ODataError("$select is required for this archive")
    text = options.get("$filter")
    kinds = {name: column.kind for name, column in columns.items()}
    return ArchiveQuery(
        select=parse_select(options.get("$select"), columns, default_select or []),
        filter=parse_filter(text, kinds) if text is not None and text.strip() else None,
        order_by=parse_order_by(options.get("$orderby"), columns),
        top=parse_count(options.get("$top"), "$top"),
        skip=parse_count(options.get("$skip"), "$skip") or 0,
        params=dict(params),
    )


def _terms(query: ArchiveQuery, column: str) -> list[Node]:
    """Top-level `and` terms of the filter on `column` (to choose an index)."""
    if query.filter is None:
        return []
    return [term for term in conjuncts(query.filter) if getattr(term, "column", None) == column]


def _ids_wanted(query: ArchiveQuery, column: str) -> set[int] | None:
    """The ids a filter restricts `column` to with `eq` / `in` at top level, or None if unrestricted."""
    wanted: set[int] | None = None
    for term in _terms(query, column):
        values: set[int] | None = None
        if isinstance(term, Membership):
            values = {int(value) for value in term.values if isinstance(value, int)}
        elif isinstance(term, Comparison) and term.op == "eq" and isinstance(term.value, int):
            values = {term.value}
        if values is not None:
            wanted = values if wanted is None else wanted & values
    return wanted


def _lower_bound(query: ArchiveQuery, column: str) -> int | None:
    """The largest id the filter says rows must be above (`gt N` / `ge N+1`), for keyset paging."""
    bound: int | None = None
    for term in _terms(query, column):
        if isinstance(term, Comparison) and isinstance(term.value, int) and term.op in ("gt", "ge"):
            value = term.value if term.op == "gt" else term.value - 1
            bound = value if bound is None else max(bound, value)
    return bound


async def run_archive(
    request: Request,
    query: ArchiveQuery,
    columns: Mapping[str, Column[R]],
    candidates: Iterable[R],
    natural_order: str,
    identity: Callable[[R], tuple[str, str]],
) -> JSONResponse:
    """Filter, order, page and render rows into SuperOffice's OData envelope.

    `candidates` must already be in ascending `natural_order` and contain every row the filter
    could match; when the requested order is that natural order the rows stream lazily, so keyset
    paging stops after `$top` rows instead of reading the whole table.
    """
    raw = {name: column.raw for name, column in columns.items()}
    rows: Iterator[R] = iter(candidates)
    if query.filter is not None:
        rows = filter(compile_filter(query.filter, raw), rows)
    if query.order_by and query.order_by != [(natural_order, False)]:
        materialised = list(rows)
        for name, descending in reversed(query.order_by):
            getter = raw[name]
            materialised.sort(key=lambda row, get=getter: _sort_key(get(row)), reverse=descending)  # type: ignore[misc]
        rows = iter(materialised)
    # The real server reads and drops the skipped rows: $skip costs O(offset).
    skipped = sum(1 for _ in itertools.islice(rows, query.skip))
    await tenant_of(request).faults.charge_skip(skipped)
    if query.top is None:
        page, more = list(rows), False
    else:
        page = list(itertools.islice(rows, query.top + 1))
        more = len(page) > query.top
        page = page[: query.top]
    value = []
    for row in page:
        primary_key, entity_name = identity(row)
        rendered: dict[str, Any] = {"PrimaryKey": primary_key, "EntityName": entity_name}
        for name in query.select:
            rendered[name] = _render(raw[name](row))
        value.append(rendered)
    return JSONResponse(
        {
            "odata.metadata": f"{api_root(request)}/Archive/$metadata",
            "odata.nextLink": _next_link(request, query) if more else None,
            "value": value,
        }
    )


def _next_link(request: Request, query: ArchiveQuery) -> str:
    """The URL of the next page by `$skip` (standard OData; consent-sync pages by key instead)."""
    params = {key: value for key, value in query.params.items() if key.lower() != "$skip"}
    params["$skip"] = str(query.skip + (query.top or 0))
    return f"{root_url(request)}{request.url.path}?{urlencode(params)}"


def bad_request(error: Exception) -> JSONResponse:
    """400 for a query the simulator (like SuperOffice) cannot run."""
    return error_response(400, "ArgumentException", str(error))


def not_found(message: str) -> JSONResponse:
    """404 with an error body."""
    return error_response(404, "NotFoundException", message)


# ---- columns -----------------------------------------------------------------------------------


def person_columns(crm: Crm) -> dict[str, Column[Person]]:
    """Columns of the Person archive (and `GET /Person`); `email/emailAddress` is the primary address."""
    return {
        "personId": Column(ColumnType.INT, lambda p: p.person_id),
        "firstName": Column(ColumnType.STRING, lambda p: p.first_name),
        "lastName": Column(ColumnType.STRING, lambda p: p.last_name),
        "fullName": Column(ColumnType.STRING, lambda p: f"{p.first_name} {p.last_name}"),
        "contactId": Column(ColumnType.INT, lambda p: p.contact_id),
        "personContact/contactId": Column(ColumnType.INT, lambda p: p.contact_id),
        "personContact/name": Column(ColumnType.STRING, lambda p: crm.company_name(p.contact_id)),
        "email/emailAddress": Column(ColumnType.STRING, lambda p: p.primary_email),
        "personMobilePhone/formattedNumber": Column(ColumnType.STRING, lambda p: p.mobile),
        "personRegisteredDate": Column(ColumnType.DATETIME, lambda p: p.registered),
        "personUpdatedDate": Column(ColumnType.DATETIME, lambda p: p.updated),
    }


PERSON_DEFAULT_SELECT = ["personId", "fullName"]

_CONSENT_COLUMNS: dict[str, Column[ConsentRow]] = {
    "consentperson.consentperson_id": Column(ColumnType.INT, lambda r: r.consentperson_id),
    "consentperson.person_id": Column(ColumnType.INT, lambda r: r.person_id),
    "consentperson.consentpurpose_id": Column(ColumnType.INT, lambda r: r.purpose_id),
    "consentperson.legalbase_id": Column(ColumnType.INT, lambda r: r.legal_base_id),
    "consentperson.consentsource_id": Column(ColumnType.INT, lambda r: r.source_id),
    "consentperson.comment": Column(ColumnType.STRING, lambda r: r.comment),
    "consentperson.registered": Column(ColumnType.DATETIME, lambda r: r.registered),
    "consentperson.registered_associate_id": Column(ColumnType.INT, lambda r: r.registered_associate_id),
    "consentperson.updated": Column(ColumnType.DATETIME, lambda r: r.updated),
    "consentperson.updated_associate_id": Column(ColumnType.INT, lambda r: r.updated_associate_id),
}

_SELECTION_COLUMNS: dict[str, Column[tuple[int, int]]] = {
    "personId": Column(ColumnType.INT, lambda m: m[0]),
    "contactId": Column(ColumnType.INT, lambda m: m[1]),
}

_PROJECT_COLUMNS: dict[str, Column[ProjectMember]] = {
    "projectMemberId": Column(ColumnType.INT, lambda m: m.project_member_id),
    "personId": Column(ColumnType.INT, lambda m: m.person_id),
    "contactId": Column(ColumnType.INT, lambda m: m.contact_id),
}


def _person_identity(person: Person) -> tuple[str, str]:
    return str(person.person_id), "person"


def _person_candidates(crm: Crm, query: ArchiveQuery) -> list[Person]:
    """The persons a filter can match, in id order, using the id and e-mail indexes when it can."""
    wanted = _ids_wanted(query, "personId")
    if wanted is not None:
        return [crm.persons[pid] for pid in sorted(wanted) if pid in crm.persons]
    for term in _terms(query, "email/emailAddress"):
        if isinstance(term, Comparison) and term.op == "eq":
            return crm.persons_by_email(str(term.value))
        if isinstance(term, Membership):
            found = {p.person_id: p for value in term.values for p in crm.persons_by_email(str(value))}
            return [found[pid] for pid in sorted(found)]
    return list(crm.persons.values())


# ---- carriers ----------------------------------------------------------------------------------

#: The rights every carrier shows: the API user may do anything.
TABLE_RIGHT = {"Mask": "FULL", "Reason": ""}


def associate_carrier(associate_id: int) -> dict[str, Any]:
    """The Associate carrier of a user: the integration's system user or a CRM user."""
    system = associate_id == API_ASSOCIATE_ID
    name = "CS" if system else f"U{associate_id}"
    return {
        "AssociateId": associate_id,
        "Name": name,
        "PersonId": 0,
        "Rank": associate_id,
        "Tooltip": "",
        "Type": "SystemAssociate" if system else "InternalAssociate",
        "GroupIdx": 1,
        "FullName": "consent-sync system user" if system else f"CRM user {associate_id}",
        "FormalName": "",
        "Deleted": False,
        "EjUserId": 0,
        "UserName": name,
    }


def _legal_base_item(item: ListItem) -> dict[str, Any]:
    return {
        "LegalBaseId": item.item_id,
        "Name": item.name,
        "Tooltip": item.tooltip,
        "Rank": item.rank,
        "Key": item.key,
        "Deleted": False,
        "TableRight": TABLE_RIGHT,
        "FieldProperties": {},
    }


def _purpose_item(item: ListItem) -> dict[str, Any]:
    return {
        "ConsentPurposeId": item.item_id,
        "Name": item.name,
        "ConsentText": f"I agree to: {item.name.lower()}",
        "FormText": item.tooltip,
        "Key": item.key,
        "Tooltip": item.tooltip,
        "Active": 1,
        "UpdatedDate": format_time(SEED_START),
        "UpdatedBy": associate_carrier(API_ASSOCIATE_ID),
        "Deleted": False,
        "Rank": item.rank,
        "PrivacyStatementDesc": "",
        "PrivacyStatementUrl": "",
        "TableRight": TABLE_RIGHT,
        "FieldProperties": {},
    }


def _source_item(item: ListItem) -> dict[str, Any]:
    return {
        "ConsentSourceId": item.item_id,
        "Name": item.name,
        "Tooltip": item.tooltip,
        "Rank": item.rank,
        "Key": item.key,
        "MailTemplateId": 0,
        "Deleted": False,
        "TableRight": TABLE_RIGHT,
        "FieldProperties": {},
    }


def consent_info(row: ConsentRow) -> dict[str, Any]:
    """A row as the `ConsentInfo` carrier."""
    legal_base, purpose, source = (
        LEGAL_BASE_BY_ID[row.legal_base_id],
        PURPOSE_BY_ID[row.purpose_id],
        SOURCE_BY_ID[row.source_id],
    )
    return {
        "ConsentPersonId": row.consentperson_id,
        "Comment": row.comment,
        "Registered": format_time(row.registered),
        "RegisteredAssociateId": row.registered_associate_id,
        "Updated": format_time(row.updated),
        "UpdatedAssociateId": row.updated_associate_id,
        "LegalBaseId": legal_base.item_id,
        "LegalBaseKey": legal_base.key,
        "LegalBaseName": legal_base.name,
        "ConsentPurposeId": purpose.item_id,
        "ConsentPurposeKey": purpose.key,
        "ConsentPurposeName": purpose.name,
        "ConsentSourceId": source.item_id,
        "ConsentSourceKey": source.key,
        "ConsentSourceName": source.name,
    }


def _element(value: str, stripped: str | None = None) -> dict[str, Any]:
    return {"Value": value, "StrippedValue": value if stripped is None else stripped, "Description": ""}


def person_card(request: Request, crm: Crm, person: Person) -> dict[str, Any]:
    """`GET /Person/{id}`: the PersonEntity carrier with the fields consent-sync reads."""
    company = crm.companies.get(person.contact_id)
    full_name = f"{person.first_name} {person.last_name}"
    base = api_root(request)
    contact = None
    if company is not None:
        contact = {
            "ContactId": company.contact_id,
            "Name": company.name,
            "OrgNr": "",
            "Department": "",
            "URL": "",
            "City": "",
            "DirectPhone": "",
            "AssociateId": 0,
            "CountryId": 0,
            "EmailAddress": "",
            "Kananame": "",
            "EmailAddressName": "",
            "URLName": "",
            "AssociateFullName": "",
            "BusinessName": "",
            "CategoryName": "",
            "CountryName": "",
            "FormattedAddress": "",
            "FullName": company.name,
            "IsOwnerContact": False,
            "ActiveErpLinks": 0,
        }
    links = {"Self": f"{base}/Person/{person.person_id}"}
    if company is not None:
        links["Contact"] = f"{base}/Contact/{company.contact_id}"
    return {
        "PersonId": person.person_id,
        "Firstname": person.first_name,
        "MiddleName": "",
        "Lastname": person.last_name,
        "Mrmrs": "",
        "Title": "",
        "UpdatedDate": format_time(person.updated),
        "CreatedDate": format_time(person.registered),
        "BirthDate": format_time(NEVER),
        "CreatedBy": associate_carrier(API_ASSOCIATE_ID),
        "UpdatedBy": associate_carrier(API_ASSOCIATE_ID if person.updated == NEVER else 2),
        "Emails": [
            {"Value": email.address, "StrippedValue": email.address, "Description": email.description}
            for email in person.emails
        ],
        "Description": "",
        "IsAssociate": False,
        "PrivatePhones": [],
        "Faxes": [],
        "MobilePhones": [_element(person.mobile, person.mobile.replace(" ", ""))] if person.mobile else [],
        "OfficePhones": [],
        "OtherPhones": [],
        "Contact": contact,
        "FullName": full_name,
        "NoMailing": person.no_mailing,
        "UsePersonAddress": False,
        "Retired": person.retired,
        "Urls": [],
        "FormalName": full_name,
        "Salutation": "",
        "ActiveInterests": 0,
        "Source": 0,
        "ActiveErpLinks": 0,
        "Consents": [consent_info(row) for row in crm.consents_of(person.person_id)],
        "BounceEmails": [],
        "UserDefinedFields": {},
        "ExtraFields": {},
        "CustomFields": {},
        "TableRight": TABLE_RIGHT,
        "FieldProperties": {},
        "_Links": links,
    }


# ---- endpoints ---------------------------------------------------------------------------------


async def legal_bases(request: Request) -> Response:
    """`GET /List/LegalBase/Items`."""
    return JSONResponse([_legal_base_item(item) for item in LEGAL_BASES])


async def consent_purposes(request: Request) -> Response:
    """`GET /List/ConsentPurpose/Items`."""
    return JSONResponse([_purpose_item(item) for item in PURPOSES])


async def consent_sources(request: Request) -> Response:
    """`GET /List/ConsentSource/Items`."""
    return JSONResponse([_source_item(item) for item in SOURCES])


async def get_person(request: Request) -> Response:
    """`GET /Person/{id}`: the full card, 404 for an unknown id."""
    crm = tenant_of(request).crm
    person_id = request.path_params["id"]
    try:
        person = crm.person(person_id)
    except UnknownPerson:
        return not_found(f"Person with id {person_id} was not found")
    return JSONResponse(person_card(request, crm, person))


async def find_persons(request: Request) -> Response:
    """`GET /Person?$select=…&$filter=…` (e.g. by `email/emailAddress eq '…'`, case-insensitive)."""
    return await _person_archive(request, dict(request.query_params))


async def archive_person(request: Request) -> Response:
    """`GET` or `POST /Archive/Person` (POST: the OData options form-encoded, for long id lists)."""
    params = await _archive_params(request)
    if isinstance(params, Response):
        return params
    return await _person_archive(request, params)


async def archive_dynamic(request: Request) -> Response:
    """`GET` or `POST /Archive/dynamic`, for the `consentperson` table."""
    params = await _archive_params(request)
    if isinstance(params, Response):
        return params
    return await _consent_archive(request, params)


async def archive_unknown(request: Request) -> Response:
    """Any other archive provider: not simulated."""
    return not_found(f"Archive provider '{request.path_params['provider']}' is not available")


async def _archive_params(request: Request) -> dict[str, str] | Response:
    """The query options, merged with a form-encoded body on POST (the body wins)."""
    params = dict(request.query_params)
    if request.method != "POST":
        return params
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("application/x-www-form-urlencoded"):
        return error_response(
            415, "UnsupportedMediaType", "Send the options as application/x-www-form-urlencoded"
        )
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return error_response(413, "RequestEntityTooLarge", f"Form body over {MAX_FORM_BYTES} bytes")
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return error_response(400, "BadRequest", "Form body is not UTF-8")
    return {**params, **form}


async def _person_archive(request: Request, params: dict[str, str]) -> Response:
    crm = tenant_of(request).crm
    columns = person_columns(crm)
    try:
        query = read_query(params, columns, PERSON_DEFAULT_SELECT)
    except ODataError as error:
        return bad_request(error)
    return await run_archive(
        request, query, columns, _person_candidates(crm, query), "personId", _person_identity
    )


async def _consent_archive(request: Request, params: dict[str, str]) -> Response:
    crm = tenant_of(request).crm
    try:
        query = read_query(params, _CONSENT_COLUMNS, None)
    except ODataError as error:
        return bad_request(error)
    candidates: Iterable[ConsentRow]
    persons = _ids_wanted(query, "consentperson.person_id")
    row_ids = _ids_wanted(query, "consentperson.consentperson_id")
    if persons is not None:
        candidates = sorted(
            (row for pid in persons for row in crm.consents_of(pid)), key=lambda row: row.consentperson_id
        )
    elif row_ids is not None:
        candidates = [crm.consent_rows[rid] for rid in sorted(row_ids) if rid in crm.consent_rows]
    else:
        above = _lower_bound(query, "consentperson.consentperson_id")
        candidates = crm.consent_rows_after(-1 if above is None else above)
    return await run_archive(
        request,
        query,
        _CONSENT_COLUMNS,
        candidates,
        "consentperson.consentperson_id",
        lambda row: (str(row.consentperson_id), "consentperson"),
    )


async def selection_members(request: Request) -> Response:
    """`GET /Selection/{id}/Members?$select=personId,contactId`: every row at once (no paging)."""
    selection = tenant_of(request).crm.selections.get(request.path_params["id"])
    if selection is None:
        return not_found(f"Selection with id {request.path_params['id']} was not found")
    params = {key: value for key, value in request.query_params.items() if key.lower() == "$select"}
    try:
        query = read_query(params, _SELECTION_COLUMNS, ["personId", "contactId"])
    except ODataError as error:
        return bad_request(error)

    def identity(member: tuple[int, int]) -> tuple[str, str]:
        return (str(member[0]), "person") if member[0] else (str(member[1]), "contact")

    return await run_archive(request, query, _SELECTION_COLUMNS, selection.members, "", identity)


async def project_members(request: Request) -> Response:
    """`GET /Project/{id}/Members`: retired persons left out; keyset paging on projectMemberId."""
    crm = tenant_of(request).crm
    project = crm.projects.get(request.path_params["id"])
    if project is None:
        return not_found(f"Project with id {request.path_params['id']} was not found")
    try:
        query = read_query(dict(request.query_params), _PROJECT_COLUMNS, ["projectMemberId", "personId"])
    except ODataError as error:
        return bad_request(error)
    above = _lower_bound(query, "projectMemberId")
    members: Iterable[ProjectMember] = project.members
    if above is not None:
        # Members are sorted by id: start right after the key instead of scanning the project.
        start = bisect.bisect_right(project.members, above, key=lambda m: m.project_member_id)
        members = itertools.islice(project.members, start, None)
    visible = (m for m in members if not crm.persons[m.person_id].retired)
    return await run_archive(
        request,
        query,
        _PROJECT_COLUMNS,
        visible,
        "projectMemberId",
        lambda m: (str(m.project_member_id), "projectmember"),
    )


async def put_consent(request: Request) -> Response:
    """`PUT /Person/{id}/Consent/{purpose}?legalBase=&source=&comment=` → 204."""
    crm = tenant_of(request).crm
    params = {key.lower(): value for key, value in request.query_params.items()}
    legal_base, source = params.get("legalbase"), params.get("source")
    if not legal_base or not source:
        return error_response(400, "ArgumentException", "Both legalBase and source are required")
    try:
        crm.set_consent(
            request.path_params["id"],
            request.path_params["purpose"],
            legal_base,
            source,
            params.get("comment", ""),
            associate_id=API_ASSOCIATE_ID,
        )
    except UnknownPerson:
        return not_found(f"Person with id {request.path_params['id']} was not found")
    except CrmError as error:
        return error_response(400, "ArgumentException", str(error))
    return Response(status_code=204)


async def person_consents(request: Request) -> Response:
    """`GET /Person/{id}/Consent`: the person's ConsentInfo rows."""
    crm = tenant_of(request).crm
    try:
        crm.person(request.path_params["id"])
    except UnknownPerson:
        return not_found(f"Person with id {request.path_params['id']} was not found")
    return JSONResponse([consent_info(row) for row in crm.consents_of(request.path_params["id"])])


async def has_consent(request: Request) -> Response:
    """`GET /Person/{id}/Consent/{purpose}`: true when the row exists and is not withdrawn."""
    crm = tenant_of(request).crm
    try:
        crm.person(request.path_params["id"])
    except UnknownPerson:
        return not_found(f"Person with id {request.path_params['id']} was not found")
    purpose = PURPOSE_BY_KEY.get(str(request.path_params["purpose"]).upper())
    if purpose is None:
        return error_response(
            400, "ArgumentException", f"Unknown consent purpose key '{request.path_params['purpose']}'"
        )
    row = crm.consent(request.path_params["id"], purpose.item_id)
    return JSONResponse(row is not None and LEGAL_BASE_BY_ID[row.legal_base_id].key != "WITHDRAWN")


async def authenticate(request: Request) -> Response:
    """`POST /Login/api/PartnerSystemUser/Authenticate` (Online system-user login)."""
    try:
        body = await request.json()
    except ValueError:
        return error_response(400, "BadRequest", "Body must be JSON")
    if not isinstance(body, dict):
        return error_response(400, "BadRequest", "Body must be a JSON object")
    return JSONResponse(tenant_of(request).auth.authenticate_system_user(body, root_url(request)))


async def jwks(request: Request) -> Response:
    """`GET /login/.well-known/jwks`: the key the login service signs JWTs with."""
    return JSONResponse(tenant_of(request).auth.jwks())


async def tenant_state(request: Request) -> Response:
    """`GET /api/state/{CustId}`: where the tenant lives (`Api` is `<root>/{CustId}/api`)."""
    tenant = tenant_of(request)
    cust = str(request.path_params["cust"])
    valid_until = (datetime.now(UTC) + timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    if cust.lower() != tenant.cust_id.lower():
        return JSONResponse(
            {
                "ContextIdentifier": cust,
                "Endpoint": None,
                "State": "Unknown",
                "IsRunning": False,
                "ValidUntil": valid_until,
                "Api": None,
            },
            status_code=404,
        )
    root = root_url(request)
    return JSONResponse(
        {
            "ContextIdentifier": tenant.cust_id,
            "Endpoint": f"{root}/{tenant.cust_id}",
            "State": "Running",
            "IsRunning": True,
            "ValidUntil": valid_until,
            "Api": f"{root}/{tenant.cust_id}/api",
        }
    )


def _api(path: str, endpoint: Callable[[Request], Any], methods: list[str]) -> Route:
    # The route's name is its count key without the method, e.g. "/Archive/{provider}".
    name = path.replace(":int", "")
    return Route(API_PREFIX + path, endpoint, methods=methods, name=name)


def api_routes() -> list[Route]:
    """Every SuperOffice route of the simulator."""
    return [
        _api("/List/LegalBase/Items", legal_bases, ["GET"]),
        _api("/List/ConsentPurpose/Items", consent_purposes, ["GET"]),
        _api("/List/ConsentSource/Items", consent_sources, ["GET"]),
        _api("/Person", find_persons, ["GET"]),
        _api("/Person/{id:int}", get_person, ["GET"]),
        _api("/Person/{id:int}/Consent", person_consents, ["GET"]),
        _api("/Person/{id:int}/Consent/{purpose}", put_consent, ["PUT"]),
        Route(
            API_PREFIX + "/Person/{id:int}/Consent/{purpose}",
            has_consent,
            methods=["GET"],
            name="/Person/{id}/Consent/{purpose}",
        ),
        _api("/Archive/Person", archive_person, ["GET", "POST"]),
        _api("/Archive/dynamic", archive_dynamic, ["GET", "POST"]),
        _api("/Archive/{provider}", archive_unknown, ["GET", "POST"]),
        _api("/Selection/{id:int}/Members", selection_members, ["GET"]),
        _api("/Project/{id:int}/Members", project_members, ["GET"]),
        Route(
            "/Login/api/PartnerSystemUser/Authenticate",
            authenticate,
            methods=["POST"],
            name="/Login/api/PartnerSystemUser/Authenticate",
        ),
        Route("/login/.well-known/jwks", jwks, methods=["GET"], name="/login/.well-known/jwks"),
        Route("/api/state/{cust}", tenant_state, methods=["GET"], name="/api/state/{cust}"),
    ]
