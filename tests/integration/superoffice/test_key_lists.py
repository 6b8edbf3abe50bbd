"""The tenant's key lists are read once per tenant per container, not once per chunk."""

from __future__ import annotations

import pytest

from consent_sync.domain.errors import UnknownKey
from consent_sync.superoffice import SuperOfficeClient
from consent_sync.superoffice import queries as q
from devtools.simulator.testing import SimulatorHandle
from tests.integration.superoffice.conftest import onsite_basic


def test_lists_are_shared_by_clients_of_one_tenant(sim: SimulatorHandle) -> None:
    # Given two clients opened one after the other (two chunks in one warm container)
    for _ in range(2):
        with SuperOfficeClient.open(*onsite_basic(sim)) as client:
            client.consent_rows([1, 2, 3])
            client.set_consent(1, "EMARKETING", "61A", "API", "consent-sync test")
    # Then the three lists were read once in all
    counts = sim.control.counts()
    assert counts[q.EP_LEGAL_BASES] == 1
    assert counts[q.EP_CONSENT_PURPOSES] == 1
    assert counts[q.EP_CONSENT_SOURCES] == 1


def test_an_unknown_key_reads_the_list_again_before_refusing(sim: SimulatorHandle) -> None:
    with SuperOfficeClient.open(*onsite_basic(sim)) as client:
        client.legal_bases()
        with pytest.raises(UnknownKey, match="no legal base 'NEWKEY'"):
            client.set_consent(1, "EMARKETING", "NEWKEY", "API")
    assert sim.control.counts()[q.EP_LEGAL_BASES] == 2
    assert q.EP_SET_CONSENT not in sim.control.counts()
