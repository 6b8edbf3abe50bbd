"""SuperOffice Web API client for consent-sync (see docs/superoffice.md).

Open one :class:`SuperOfficeClient` per tenant per invocation::

    with SuperOfficeClient.open(connection, credentials) as client:
        rows = client.consent_rows([1, 2, 3])

``client.py`` holds the endpoints, ``transport.py`` the pacing, retries and API location, ``auth.py``
the auth schemes (with ``ticket.py`` for Online system users).
"""

from .client import SuperOfficeClient, clear_caches
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
    ConsentPurpose,
    ConsentRow,
    ConsentSource,
    LegalBase,
    ListedPerson,
    PersonEmailMatch,
    PersonRow,
)
from .throttle import TokenBucket
from .transport import RetryPolicy

__all__ = [
    "AuthError",
    "BadRequest",
    "BadResponse",
    "ConsentPurpose",
    "ConsentRow",
    "ConsentSource",
    "LegalBase",
    "ListedPerson",
    "NotFound",
    "PersonEmailMatch",
    "PersonRow",
    "RetryPolicy",
    "SuperOfficeClient",
    "SuperOfficeError",
    "Throttled",
    "TokenBucket",
    "Unavailable",
    "clear_caches",
]
