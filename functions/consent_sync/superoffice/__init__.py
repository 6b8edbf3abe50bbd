"""SuperOffice Web API client for consent-sync (see ``/work/shared/superoffice/api-notes.md``).

Open one :class:`SuperOfficeClient` per tenant per invocation::

    with SuperOfficeClient.open(connection, credentials) as client:
        rows = client.consent_rows([1, 2, 3])
"""

from .client import RetryPolicy, SuperOfficeClient, clear_caches
from .connection import SuperOfficeConnection, SuperOfficeCredentials
from .errors import (
    AuthError,
    BadRequest,
    BadResponse,
    NotFound,
    SuperOfficeError,
    Throttled,
    Unavailable,
)
from .models import (
    ConsentInfo,
    ConsentPurpose,
    ConsentRow,
    ConsentSource,
    ContactRef,
    EmailAddress,
    LegalBase,
    Member,
    PersonCard,
    PersonEmailMatch,
    PersonRow,
)
from .throttle import TokenBucket

__all__ = [
    "AuthError",
    "BadRequest",
    "BadResponse",
    "ConsentInfo",
    "ConsentPurpose",
    "ConsentRow",
    "ConsentSource",
    "ContactRef",
    "EmailAddress",
    "LegalBase",
    "Member",
    "NotFound",
    "PersonCard",
    "PersonEmailMatch",
    "PersonRow",
    "RetryPolicy",
    "SuperOfficeClient",
    "SuperOfficeConnection",
    "SuperOfficeCredentials",
    "SuperOfficeError",
    "Throttled",
    "TokenBucket",
    "Unavailable",
    "clear_caches",
]
