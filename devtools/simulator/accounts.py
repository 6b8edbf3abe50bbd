"""An account pointing at a running simulator, as the tests, the chaos scenario and the benchmarks set it up.

The simulator is an on-site installation on plain http (so `allow_insecure`), with Basic auth by
default (`sim`/`sim` unless the simulator was started with other credentials); `online` tenants are
built where they are needed (tests/integration/superoffice/conftest.py).
"""

from __future__ import annotations

from typing import Any

from consent_sync.domain.settings import SuperOfficeConnection, SuperOfficeCredentials
from devtools.simulator.testing import SimulatorHandle


def _onsite(sim: SimulatorHandle, auth: str) -> dict[str, Any]:
    return {"kind": "onsite", "base_url": sim.api_url, "auth": auth, "allow_insecure": True}


def simulator_connection(sim: SimulatorHandle, *, auth: str = "basic") -> SuperOfficeConnection:
    """The connection to `sim` as an on-site installation (`basic` or `ticket`)."""
    return SuperOfficeConnection.model_validate(_onsite(sim, auth))


def simulator_credentials(sim: SimulatorHandle) -> SuperOfficeCredentials:
    """`sim`'s Basic user name and password."""
    return SuperOfficeCredentials(username=sim.username, password=sim.password)


def simulator_settings(
    account_id: str,
    sim: SimulatorHandle,
    credentials_secret_arn: str,
    *,
    legal_basis_sync: bool = True,
    **superoffice: Any,
) -> dict[str, Any]:
    """An `Integration Settings Updated` detail for an account on `sim` (on-site, Basic auth).

    The credentials are already in `credentials_secret_arn`; `superoffice` adds to (or overrides) the
    connection, e.g. `requests_per_second`.
    """
    return {
        "account_id": account_id,
        "integration": "superoffice",
        "legal_basis_sync": legal_basis_sync,
        "superoffice": {
            **_onsite(sim, "basic"),
            "credentials_secret_arn": credentials_secret_arn,
            **superoffice,
        },
    }
