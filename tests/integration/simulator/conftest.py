"""Fixtures for the simulator's own tests: one running simulator per test module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devtools.simulator.testing import SimulatorHandle, running_simulator


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorHandle]:
    """A simulator with 300 persons (seed 1), shared by the tests of one module."""
    with running_simulator(persons=300, seed=1) as handle:
        yield handle


@pytest.fixture
def api(sim: SimulatorHandle) -> Iterator[httpx.Client]:
    """A plain httpx client on the on-site base URL with Basic credentials."""
    with httpx.Client(base_url=sim.api_url, auth=(sim.username, sim.password), timeout=10.0) as client:
        yield client
