"""SuperOffice Web API client for consent-sync (see docs/superoffice.md).

Open one :class:`SuperOfficeClient` per tenant per invocation::

    with SuperOfficeClient.open(connection, credentials) as client:
        rows = client.consent_rows([1, 2, 3])

``client.py`` holds the endpoints, ``transport.py`` the pacing, retries and API location, ``auth.py``
the auth schemes (with ``ticket.py`` for Online system users).

Importing the package (or ``.errors``) loads the error classes only; the client, the models and the
rest are loaded when first named, and httpx and tenacity when the first client is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    AuthError,
    BadRequest,
    BadResponse,
    Forbidden,
    NotFound,
    SuperOfficeError,
    Throttled,
    TimedOut,
    Unavailable,
    Unreachable,
)

if TYPE_CHECKING:
    from .client import SuperOfficeClient, clear_caches
    from .models import (
        ConsentPurpose,
        ConsentRow,
        ConsentSource,
        LegalBase,
        ListedPerson,
        PersonRow,
    )
    from .throttle import TokenBucket
    from .transport import RetryPolicy

#: Names loaded on first use (PEP 562) from the submodule that defines them, so that importing the
#: package or its errors costs no model building, and never httpx (only ``transport`` imports it).
_LAZY = {
    "SuperOfficeClient": "client",
    "clear_caches": "client",
    "ConsentPurpose": "models",
    "ConsentRow": "models",
    "ConsentSource": "models",
    "LegalBase": "models",
    "ListedPerson": "models",
    "PersonRow": "models",
    "TokenBucket": "throttle",
    "RetryPolicy": "transport",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # __import__, not importlib.import_module: `python -X importtime` then shows the submodule's cost.
    value = getattr(__import__(f"{__name__}.{module}", fromlist=[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AuthError",
    "BadRequest",
    "BadResponse",
    "ConsentPurpose",
    "ConsentRow",
    "ConsentSource",
    "Forbidden",
    "LegalBase",
    "ListedPerson",
    "NotFound",
    "PersonRow",
    "RetryPolicy",
    "SuperOfficeClient",
    "SuperOfficeError",
    "Throttled",
    "TimedOut",
    "TokenBucket",
    "Unavailable",
    "Unreachable",
    "clear_caches",
]
