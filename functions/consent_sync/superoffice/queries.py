"""Every request shape the client sends: paths, ``$select`` lists, filter templates, page sizes.

This is the one place to edit when a live tenant behaves differently from the documentation. Items a
live tenant has not confirmed are tagged ``UNCONFIRMED`` below, each with what would change (see
docs/superoffice.md).

Row keys of archive responses are the selected column names exactly as written, so the ``$select``
constants double as the keys the models read (see ``models.py``, which imports them from here).
"""

from __future__ import annotations

from typing import Final

# -- Limits -------------------------------------------------------------------------------------------------

#: Every request URL (scheme to end of query) stays strictly shorter than this.
MAX_URL_LENGTH: Final = 2000
#: Online data hosts are renamed when a tenant moves (sod2, online10): URLs keep this much spare room.
ONLINE_URL_MARGIN: Final = 32
#: Page size for keyset-paged queries. Paging is by id (``gt {last}``), never ``$skip``.
PAGE_SIZE: Final = 1000
#: SuperOffice's limit on a consent comment.
MAX_COMMENT_LENGTH: Final = 255

# -- Online login (relative to https://{env}.superoffice.com) ---------------------------------------------

SYSTEM_USER_LOGIN_PATH: Final = "/Login/api/PartnerSystemUser/Authenticate"
JWKS_PATH: Final = "/login/.well-known/jwks"
TENANT_STATE_PATH: Final = "/api/state/{context_id}"
TICKET_CLAIM: Final = "http://schemes.superoffice.net/identity/ticket"
CONTEXT_CLAIM: Final = "http://schemes.superoffice.net/identity/ctx"
SERIAL_CLAIM: Final = "http://schemes.superoffice.net/identity/serial"
#: The system-user token is signed over ``token + "." + utcnow`` in this format.
SIGNATURE_TIME_FORMAT: Final = "%Y%m%d%H%M"
#: A ticket lives 6 hours after its last use (sliding); renew a little early rather than on a 401.
TICKET_LIFETIME_S: Final = 6 * 3600
TICKET_RENEW_MARGIN_S: Final = 10 * 60

# -- The API's version -------------------------------------------------------------------------------------

#: ``GET .../api`` (the parent of ``.../api/v1``) answers the supported API versions and the NetServer
#: build (``Version``, ``NetServerVersion``, ``NetServer``): SuperOffice's REST reference ("You can get
#: the version number and build-date from the API endpoint /api") **(unconfirmed on a live tenant,
#: as is whether it needs the auth headers; they are sent)**.
API_ROOT_SUFFIX: Final = "/v1"

# -- Lists of keys ------------------------------------------------------------------------------------------

LEGAL_BASES_PATH: Final = "List/LegalBase/Items"
CONSENT_PURPOSES_PATH: Final = "List/ConsentPurpose/Items"
CONSENT_SOURCES_PATH: Final = "List/ConsentSource/Items"

# -- Persons ------------------------------------------------------------------------------------------------

PERSON_ARCHIVE_PATH: Final = "Archive/Person"
P_ID: Final = "personId"
P_FIRST_NAME: Final = "firstName"
P_LAST_NAME: Final = "lastName"
P_CONTACT_ID: Final = "personContact/contactId"
P_CONTACT_NAME: Final = "personContact/name"
# UNCONFIRMED: that email/emailAddress is the primary (rank 1) address and "" when the person has none.
# If a live tenant returns one row per address, the client keeps the first row per person.
P_EMAIL: Final = "email/emailAddress"
P_MOBILE: Final = "personMobilePhone/formattedNumber"
P_REGISTERED: Final = "personRegisteredDate"
P_UPDATED: Final = "personUpdatedDate"
PERSON_ARCHIVE_SELECT: Final = (
    P_ID,
    P_FIRST_NAME,
    P_LAST_NAME,
    P_CONTACT_ID,
    P_CONTACT_NAME,
    P_EMAIL,
    P_MOBILE,
    P_REGISTERED,
    P_UPDATED,
)
#: ``{ids}`` is a comma-separated list of int literals. Long lists are split into several GETs; the POST
#: form of Archive/Person is UNCONFIRMED and not used.
PERSONS_BY_ID_FILTER: Final = P_ID + " in ({ids})"
#: ``{ids}`` are escaped string literals; matching is case-insensitive, as for the e-mail search.
PERSONS_BY_EMAILS_FILTER: Final = P_EMAIL + " in ({ids})"


# -- Consent rows (Archive/dynamic over the consentperson table) -------------------------------------------

CONSENT_ARCHIVE_PATH: Final = "Archive/dynamic"
C_ID: Final = "consentperson.consentperson_id"
C_PERSON_ID: Final = "consentperson.person_id"
C_PURPOSE_ID: Final = "consentperson.consentpurpose_id"
C_LEGAL_BASE_ID: Final = "consentperson.legalbase_id"
C_SOURCE_ID: Final = "consentperson.consentsource_id"
C_COMMENT: Final = "consentperson.comment"
C_REGISTERED: Final = "consentperson.registered"
C_UPDATED: Final = "consentperson.updated"
# UNCONFIRMED: the archive names of ConsentInfo's RegisteredAssociateId / UpdatedAssociateId (who made
# the row's change). If a live tenant names them otherwise, only these two constants change; a row
# without them reads as "associate unknown" (0), never as an error.
C_REGISTERED_ASSOCIATE: Final = "consentperson.registered_associate_id"
C_UPDATED_ASSOCIATE: Final = "consentperson.updated_associate_id"
CONSENT_SELECT: Final = (
    C_ID,
    C_PERSON_ID,
    C_PURPOSE_ID,
    C_LEGAL_BASE_ID,
    C_SOURCE_ID,
    C_COMMENT,
    C_REGISTERED,
    C_UPDATED,
    C_REGISTERED_ASSOCIATE,
    C_UPDATED_ASSOCIATE,
)
CONSENTS_BY_PERSON_FILTER: Final = C_PERSON_ID + " in ({ids})"
# UNCONFIRMED: afterTime on consentperson.updated/registered. Grouping the "or" in parentheses keeps the
# keyset bound applied to both branches (OData "and" binds tighter than "or"). ``{since}`` is a string
# literal of odata_time(after_time_bound(t)); ``{last}`` the last consentperson_id seen (0 to start).
CONSENTS_CHANGED_FILTER: Final = (
    "("
    + C_UPDATED
    + " afterTime {since} or "
    + C_REGISTERED
    + " afterTime {since}) and "
    + C_ID
    + " gt {last}"
)
CONSENTS_CHANGED_ORDER_BY: Final = C_ID

# -- Members ------------------------------------------------------------------------------------------------

SELECTION_MEMBERS_PATH: Final = "Selection/{selection_id}/Members"
M_PERSON_ID: Final = "personId"
M_CONTACT_ID: Final = "contactId"
#: No paging is documented for selection members: one response holds all rows.
SELECTION_MEMBERS_SELECT: Final = (M_PERSON_ID, M_CONTACT_ID)

PROJECT_MEMBERS_PATH: Final = "Project/{project_id}/Members"
M_PROJECT_MEMBER_ID: Final = "projectMemberId"
PROJECT_MEMBERS_SELECT: Final = (M_PROJECT_MEMBER_ID, M_PERSON_ID, M_CONTACT_ID)
PROJECT_MEMBERS_FILTER: Final = M_PROJECT_MEMBER_ID + " gt {last}"
PROJECT_MEMBERS_ORDER_BY: Final = M_PROJECT_MEMBER_ID

# -- Writing a consent --------------------------------------------------------------------------------------

SET_CONSENT_PATH: Final = "Person/{person_id}/Consent/{purpose}"

# -- Webhooks (api-notes §4) ---------------------------------------------------------------------------------

WEBHOOKS_PATH: Final = "Webhook"
WEBHOOK_PATH: Final = "Webhook/{webhook_id}"
#: The webhook kind SuperOffice posts JSON to (as against CRM scripts).
WEBHOOK_TYPE: Final = "webhook"
WITHDRAWN: Final = "WITHDRAWN"

# -- Endpoint names, as counted in SuperOfficeClient.calls and named in logs and errors ---------------------

EP_LOGIN: Final = "POST " + SYSTEM_USER_LOGIN_PATH
EP_JWKS: Final = "GET " + JWKS_PATH
EP_TENANT_STATE: Final = "GET /api/state/{cust}"
EP_API_VERSION: Final = "GET /api"
EP_LEGAL_BASES: Final = "GET /" + LEGAL_BASES_PATH
EP_CONSENT_PURPOSES: Final = "GET /" + CONSENT_PURPOSES_PATH
EP_CONSENT_SOURCES: Final = "GET /" + CONSENT_SOURCES_PATH
EP_PERSON_ARCHIVE: Final = "GET /" + PERSON_ARCHIVE_PATH
#: The same archive as EP_PERSON_ARCHIVE, filtered on e-mail: counted apart (the duplicate lookup).
EP_PERSON_BY_EMAIL: Final = "GET /" + PERSON_ARCHIVE_PATH + " by e-mail"
EP_CONSENT_ARCHIVE: Final = "GET /" + CONSENT_ARCHIVE_PATH
EP_SELECTION_MEMBERS: Final = "GET /Selection/{id}/Members"
EP_PROJECT_MEMBERS: Final = "GET /Project/{id}/Members"
EP_SET_CONSENT: Final = "PUT /Person/{id}/Consent/{purpose}"
EP_LIST_WEBHOOKS: Final = "GET /Webhook"
EP_CREATE_WEBHOOK: Final = "POST /Webhook"
EP_GET_WEBHOOK: Final = "GET /Webhook/{id}"
EP_UPDATE_WEBHOOK: Final = "PUT /Webhook/{id}"
EP_DELETE_WEBHOOK: Final = "DELETE /Webhook/{id}"


def select(columns: tuple[str, ...]) -> str:
    """The ``$select`` value for ``columns``."""
    return ",".join(columns)
