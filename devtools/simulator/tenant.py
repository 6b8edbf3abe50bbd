"""One simulated SuperOffice tenant: its data, credentials, faults and traffic, plus error bodies."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse

from devtools.simulator.auth import Auth
from devtools.simulator.crm import Crm
from devtools.simulator.faults import Faults
from devtools.simulator.traffic import Traffic
from devtools.simulator.webhooks import Webhooks

DEFAULT_CUST_ID = "Cust12345"
#: Longest request target (path + "?" + query, as sent) accepted; longer gets 414. IIS's request
#: filtering allows a 2,048-character query string by default; we apply the figure to the whole
#: target so a client that does not split long `in (...)` lists finds out early.
MAX_REQUEST_TARGET = 2048


@dataclass
class Tenant:
    """All state of a simulator instance (mutable; the HTTP layer swaps `crm` on reset)."""

    cust_id: str
    crm: Crm
    auth: Auth
    seed: int
    persons: int
    faults: Faults = field(default_factory=Faults)
    traffic: Traffic = field(default_factory=Traffic)
    webhooks: Webhooks = field(default_factory=Webhooks)

    def __post_init__(self) -> None:
        self.crm.on_consent_written = self.webhooks.consent_written

    @classmethod
    def create(
        cls,
        persons: int = 200,
        seed: int = 1,
        username: str = "sim",
        password: str = "sim",  # noqa: S107 - the simulator's documented test credentials
        cust_id: str = DEFAULT_CUST_ID,
    ) -> Tenant:
        """A tenant seeded with `persons` persons from `seed`."""
        return cls(cust_id, Crm.seeded(persons, seed), Auth(cust_id, username, password), seed, persons)

    def reseed(self, persons: int | None = None, seed: int | None = None) -> None:
        """Replace the data by a freshly seeded CRM (credentials, tickets, faults, counts and webhooks
        stay: webhooks are the app's registrations, not CRM data)."""
        self.persons = self.persons if persons is None else persons
        self.seed = self.seed if seed is None else seed
        self.crm = Crm.seeded(self.persons, self.seed)
        self.crm.on_consent_written = self.webhooks.consent_written


def error_response(
    status: int,
    error_type: str,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    agent: bool = False,
) -> JSONResponse:
    """An error in the shape SuperOffice's WebAPI uses: `{"Error": true, "ErrorType", "Message", ...}`.

    `agent`: the error comes from a service agent (the Webhook agent), whose errors also carry the
    text as `ErrorMessage`.
    """
    body: dict[str, Any] = {
        "Error": True,
        "ErrorType": error_type,
        "Message": message,
        "ErrorId": secrets.token_hex(8),
    }
    if agent:
        body["ErrorMessage"] = message
    return JSONResponse(body, status_code=status, headers=headers)
