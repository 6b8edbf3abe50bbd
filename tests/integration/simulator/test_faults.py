"""Each fault knob, request counts and the request log."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import httpx
import pytest

from devtools.simulator.testing import SimulatorHandle

pytestmark = pytest.mark.xdist_group("simulator-faults")


@pytest.fixture(autouse=True)
def _normal_service(sim: SimulatorHandle) -> Iterator[None]:
    sim.control.clear_faults()
    sim.control.reset_counts()
    yield
    sim.control.clear_faults()


def test_counts_per_endpoint_and_status(sim: SimulatorHandle, api: httpx.Client) -> None:
    api.get("/Archive/dynamic", params={"$select": "consentperson.person_id", "$top": "1"})
    api.get(
        "/archive/DYNAMIC", params={"$select": "consentperson.person_id", "$top": "1"}
    )  # IIS ignores case
    api.get("/Person/1")
    api.get("/Person/999999")
    counts = sim.control.counts()
    assert counts["GET /Archive/dynamic"] == 2
    assert counts["GET /Person/{id}"] == 2
    assert counts["status:404"] == 1
    sim.control.reset_counts()
    assert sim.control.counts() == {}


def test_latency(sim: SimulatorHandle, api: httpx.Client) -> None:
    sim.control.set_faults(latency_ms=300)
    started = time.perf_counter()
    assert api.get("/List/LegalBase/Items").status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_rate_limit_answers_429_with_retry_after_and_the_log_shows_it_was_respected(
    sim: SimulatorHandle, api: httpx.Client
) -> None:
    sim.control.set_faults(rate_limit_per_s=5, retry_after_s=1)
    statuses = [api.get("/List/LegalBase/Items").status_code for _ in range(8)]
    assert statuses.count(200) == 5
    assert statuses.count(429) == 3
    refused = api.get("/List/LegalBase/Items")
    assert refused.status_code == 429
    # A well-behaved client waits Retry-After seconds, then succeeds
    time.sleep(float(refused.headers["Retry-After"]))
    assert api.get("/List/LegalBase/Items").status_code == 200
    assert sim.control.counts()["status:429"] == 4
    log = sim.control.request_log()
    last_refusal = max(i for i, entry in enumerate(log) if entry[3] == 429)
    assert (log[last_refusal + 1][0] - log[last_refusal][0]).total_seconds() >= 1.0


def test_error_ratio_is_seeded(sim: SimulatorHandle, api: httpx.Client) -> None:
    def run() -> list[int]:
        sim.control.set_faults(error_ratio=0.5, seed=7)
        return [api.get("/List/LegalBase/Items").status_code for _ in range(30)]

    first, second = run(), run()
    assert first == second
    assert set(first) - {200} <= {500, 502, 503}
    assert set(first) - {200}
    assert 200 in first


def test_timeout_holds_the_request(sim: SimulatorHandle, api: httpx.Client) -> None:
    sim.control.set_faults(timeout_ratio=1.0, timeout_s=1.0)
    with pytest.raises(httpx.ReadTimeout):
        api.get("/List/LegalBase/Items", timeout=0.3)
    started = time.perf_counter()
    assert api.get("/List/LegalBase/Items", timeout=5).status_code == 200
    assert time.perf_counter() - started >= 1.0


def test_outage_window_ends_by_itself(sim: SimulatorHandle, api: httpx.Client) -> None:
    sim.control.set_faults(outage_s=0.5)
    down = api.get("/Person/1")
    assert down.status_code == 503
    assert int(down.headers["Retry-After"]) >= 1
    # the login side and the tenant state stay up
    assert httpx.get(f"{sim.root_url}/api/state/{sim.cust_id}").status_code == 200
    time.sleep(0.6)
    assert api.get("/Person/1").status_code == 200


def test_outage_until_cleared(sim: SimulatorHandle, api: httpx.Client) -> None:
    sim.control.set_faults(outage_s=math.inf)
    time.sleep(0.2)
    assert api.get("/Person/1").status_code == 503
    sim.control.clear_faults()
    assert api.get("/Person/1").status_code == 200


def test_invalid_fault_settings_are_refused(sim: SimulatorHandle) -> None:
    with pytest.raises(httpx.HTTPStatusError):
        sim.control.set_faults(error_ratio=2.0)
