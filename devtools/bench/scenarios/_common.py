"""Helpers shared by the scenarios: the simulator as an on-site tenant, percentiles, formatting."""

from __future__ import annotations

import statistics

from consent_sync.domain.settings import SuperOfficeConnection, SuperOfficeCredentials
from devtools.simulator.accounts import simulator_connection, simulator_credentials
from devtools.simulator.testing import SimulatorHandle


def onsite_basic(sim: SimulatorHandle) -> tuple[SuperOfficeConnection, SuperOfficeCredentials]:
    """Connection and credentials for the simulator as an on-site installation with Basic auth."""
    return simulator_connection(sim), simulator_credentials(sim)


def served_requests(counts: dict[str, int]) -> int:
    """Requests the simulator served, from its ``/_sim/counts`` (the ``status:<code>`` keys left out)."""
    return sum(n for key, n in counts.items() if not key.startswith("status:"))


def percentile_ms(durations_s: list[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) of durations in seconds, in milliseconds (0.0 for no data)."""
    if not durations_s:
        return 0.0
    if len(durations_s) == 1:
        return durations_s[0] * 1000
    cuts = statistics.quantiles(durations_s, n=100, method="inclusive")
    index = min(max(round(pct) - 1, 0), len(cuts) - 1)
    return cuts[index] * 1000


def rate(count: float, seconds: float) -> float:
    """``count / seconds`` (0.0 when no time passed)."""
    return count / seconds if seconds > 0 else 0.0
