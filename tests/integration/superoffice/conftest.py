"""The real client against the SuperOffice simulator over a real socket."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from consent_sync.domain.settings import SuperOfficeConnection, SuperOfficeCredentials
from consent_sync.superoffice import RetryPolicy, SuperOfficeClient, clear_caches
from devtools.simulator.accounts import simulator_connection, simulator_credentials
from devtools.simulator.testing import SimulatorHandle, running_simulator

#: Small waits so that the whole set stays fast; Retry-After hints are still honoured in full.
FAST_RETRY = RetryPolicy(max_attempts=8, initial_wait_s=0.02, max_wait_s=0.2, max_retry_after_s=5.0)

OpenClient = Callable[..., SuperOfficeClient]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    with running_simulator(persons=200, seed=1, username="sim", password="sim") as handle:
        yield handle


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> Iterator[None]:
    # Every test starts with normal service, fresh counts and no cached tickets or API URLs.
    clear_caches()
    if "sim" in request.fixturenames:
        handle: SimulatorHandle = request.getfixturevalue("sim")
        handle.control.clear_faults()
        handle.control.reset_counts()
    yield
    clear_caches()


def onsite_basic(sim: SimulatorHandle) -> tuple[SuperOfficeConnection, SuperOfficeCredentials]:
    """Connection and credentials for the simulator as an on-site installation with Basic auth."""
    return simulator_connection(sim), simulator_credentials(sim)


def online(
    sim: SimulatorHandle, *, xml_key: bool = False
) -> tuple[SuperOfficeConnection, SuperOfficeCredentials]:
    """Connection and credentials for the simulator as a SuperOffice Online tenant (system user)."""
    o = sim.online
    conn = SuperOfficeConnection(
        kind="online",
        context_id=o.context_id,
        environment="sod",
        auth="system_user",
        login_root=sim.root_url,
        allow_insecure=True,
    )
    creds = SuperOfficeCredentials(
        client_id=o.client_id,
        client_secret=o.client_secret,
        system_user_token=o.system_user_token,
        private_key=o.private_key_xml if xml_key else o.private_key_pem,
    )
    return conn, creds


@pytest.fixture
def open_client(sim: SimulatorHandle) -> Iterator[OpenClient]:
    """Open clients (on-site Basic unless told otherwise) with fast retries; all closed afterwards."""
    opened: list[SuperOfficeClient] = []

    def _open(
        connection: SuperOfficeConnection | None = None,
        credentials: SuperOfficeCredentials | None = None,
        **kwargs: Any,
    ) -> SuperOfficeClient:
        if connection is None or credentials is None:
            connection, credentials = onsite_basic(sim)
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("requests_per_second", 500.0)
        kwargs.setdefault("timeout_s", 10.0)
        client = SuperOfficeClient.open(connection, credentials, **kwargs)
        opened.append(client)
        return client

    yield _open
    for client in opened:
        client.close()
