"""The stack scenarios: the pieces that can be checked in seconds (registration, the simulator's bulk
control calls, the setup helpers, the growth comparison), and `freshness` run at its quick size.

`import-50k`, `sync-*` and `gate-*` take longer than a test should even at quick sizes (each starts the
local stack and the simulator; ~25-35 s per process), so they are run by `make bench`, not here.
`freshness --quick` takes about 40 s and is the only stack scenario run here: its JSON must have every
figure (never a timing assertion: the times themselves belong to `make bench`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from consent_sync.domain.vocabulary import Purpose
from consent_sync.superoffice import SuperOfficeClient
from devtools.bench import COMMON_KEYS, PLANNED
from devtools.bench.registry import Scenario, load
from devtools.bench.runner import Outcome, add_growth, growth
from devtools.bench.scenarios._common import onsite_basic
from devtools.bench.scenarios._stack import linked_contact
from devtools.bench.scenarios.freshness import Change, latency_figures, planned_changes
from devtools.bench.scenarios.sync import flipped, lower_bound, usable_persons
from devtools.simulator.testing import consent_state, running_simulator

ROOT = Path(__file__).resolve().parents[3]
STACK_SCENARIOS = ("import-50k", "sync-1k", "sync-100k", "freshness")


def test_stack_scenarios_are_registered_not_planned() -> None:
    registry = load()
    for name in STACK_SCENARIOS:
        assert name in registry
        assert name not in PLANNED
    assert registry["import-50k"].params_for(quick=False)["members"] == 50_000
    assert registry["import-50k"].params_for(quick=False)["latency_ms"] == 50
    assert registry["sync-1k"].params_for(quick=False)["contacts"] == 1_000
    assert registry["sync-100k"].params_for(quick=False)["contacts"] == 100_000
    assert registry["sync-100k"].params_for(quick=True)["contacts"] < 100_000
    compared = registry["sync-100k"]
    assert compared.compare_to == "sync-1k"
    assert set(compared.compare_keys) == {"superoffice_calls", "dynamodb_reads"}
    assert compared.compare_limit == 1.1
    # Registered in run order: the baseline runs before the scenario compared with it.
    names = list(registry)
    assert names.index("sync-1k") < names.index("sync-100k")


def test_create_selection_and_export_persons() -> None:
    with running_simulator(persons=40, seed=5) as sim:
        control = sim.control
        seeded = control.selection_ids()
        selection = control.create_selection([7, 3, 7, 12], name="Bench")
        assert selection not in seeded
        assert [person for person, _ in control.selection_members(selection)] == [7, 3, 12]
        person = control.person(3)
        assert person is not None
        assert (3, person["contact_id"]) in control.selection_members(selection)
        with pytest.raises(httpx.HTTPStatusError):
            control.create_selection([10_000])
        # The tenant API lists the new selection like a seeded one.
        connection, credentials = onsite_basic(sim)
        with SuperOfficeClient.open(connection, credentials, requests_per_second=1_000) as client:
            assert [m.person_id for m in client.selection_members(selection)] == [7, 3, 12]

        exported = list(control.export_persons(page_size=7))
        assert [p["person_id"] for p in exported] == list(range(1, 41))
        first = exported[0]
        assert {k: v for k, v in first.items() if k != "consents"} == control.person(1)
        assert first["consents"]["STORE"] == control.consent(1, "STORE")


def test_linked_contacts_are_what_an_import_leaves() -> None:
    with running_simulator(persons=60, seed=5) as sim:
        persons = list(sim.control.export_persons())
    usable = usable_persons(persons)
    emails = [email for email, _ in usable]
    assert len(emails) == len(set(emails))
    by_id = {p["person_id"]: p for p in persons}
    for email, person in usable:
        assert not person["retired"]
        others = [p for p in persons if p["primary_email"].strip().lower() == email]
        assert others == [by_id[person["person_id"]]]
    email, person = usable[0]
    contact = linked_contact("acct", email, person)
    assert contact.superoffice_person_id == person["person_id"]
    assert contact.card.email_display == person["primary_email"]
    assert contact.latest_platform_change() is None  # not in the ChangedIndex: no platform change
    assert not contact.pending
    store = consent_state(person["consents"]["STORE"])
    assert store is not None
    assert contact.consents[Purpose.STORE].legal_base == store.legal_base


def test_sync_lower_bound_and_changes() -> None:
    # One changed-rows page, persons + consent rows per chunk of 200, three key lists.
    assert lower_bound(100, 200) == 1 + 2 + 3
    assert lower_bound(100, 50) == 1 + 4 + 3
    assert lower_bound(2_500, 200) == 3 + 26 + 3
    assert flipped("61A") == "WITHDRAWN"
    assert flipped("WITHDRAWN") == "61A"
    assert flipped(None) == "61A"


def _scenario(**overrides: Any) -> Scenario:
    values: dict[str, Any] = {
        "name": "big",
        "description": "",
        "run": lambda ctx: None,
        "compare_to": "small",
        "compare_keys": ("calls", "reads"),
        "compare_limit": 1.1,
    }
    return Scenario(**(values | overrides))


def test_growth_ratios_and_limit() -> None:
    scenario = _scenario()
    result = growth(scenario, {"calls": 11, "reads": 9}, {"calls": 10, "reads": 9, "finished_at": "t"})
    assert result["ratios"]["calls"] == {"value": 11, "baseline": 10, "ratio": 1.1}
    assert result["ratios"]["reads"]["ratio"] == 1.0
    assert result["within_limit"] is True
    assert growth(scenario, {"calls": 12, "reads": 9}, {"calls": 10, "reads": 9})["within_limit"] is False
    missing = growth(scenario, {"calls": 12, "reads": 9}, None)
    assert missing["within_limit"] is None
    assert missing["ratios"]["calls"]["ratio"] is None


def _document(name: str, seed: int, **figures: Any) -> dict[str, Any]:
    return {"scenario": name, **figures, "seed": seed, "quick": True, "finished_at": f"{name}-{seed}"}


def test_growth_uses_a_stored_baseline_of_the_same_seed(tmp_path: Path) -> None:
    scenario = _scenario()
    (tmp_path / "small.json").write_text(json.dumps(_document("small", 2, calls=10, reads=4)))
    path = tmp_path / "big.json"
    outcome = Outcome("big", _document("big", 2, calls=10, reads=4), 1.0, path=path)
    add_growth(scenario, outcome, {}, results_dir=tmp_path)
    assert outcome.document is not None
    assert outcome.document["growth"]["within_limit"] is True
    assert outcome.document["growth"]["baseline_finished_at"] == "small-2"
    # Written to the file, before the run metadata.
    written = json.loads(path.read_text())
    assert list(written).index("growth") < list(written).index("seed")

    # A baseline of another seed is not comparable; one from this invocation wins over the file.
    other = Outcome("big", _document("big", 3, calls=10, reads=4), 1.0, path=path)
    add_growth(scenario, other, {}, results_dir=tmp_path)
    assert other.document is not None
    assert other.document["growth"]["within_limit"] is None
    fresh = Outcome("big", _document("big", 2, calls=10, reads=4), 1.0, path=path)
    add_growth(scenario, fresh, {"small": _document("small", 2, calls=5, reads=4)}, results_dir=tmp_path)
    assert fresh.document is not None
    assert fresh.document["growth"]["ratios"]["calls"]["ratio"] == 2.0


def test_freshness_plans_distinct_real_changes_alternating_opt_ins_and_withdrawals() -> None:
    with running_simulator(persons=200, seed=5) as sim:
        linked = usable_persons(list(sim.control.export_persons()))
    by_email = {email: person for email, person in linked}
    plan = planned_changes(linked, 40, seed=5)
    assert plan == planned_changes(linked, 40, seed=5)  # the seed decides
    assert len({change.email for change in plan}) == 40
    assert [change.legal_base for change in plan] == ["WITHDRAWN", "61A"] * 20
    for change in plan:
        person = by_email[change.email]
        assert change.person_id == person["person_id"]
        row = person["consents"].get("EMARKETING")
        was = None if row is None else row["LegalBaseKey"]
        # Each change is a real one: a withdrawal of an active consent, an opt-in where there is none.
        assert (was not in (None, "WITHDRAWN")) == (change.legal_base == "WITHDRAWN")
    with pytest.raises(RuntimeError, match="need more contacts"):
        planned_changes(linked[:10], 11, seed=5)  # 6 withdrawals and 5 opt-ins among 10 contacts


def test_freshness_latency_figures_count_what_never_arrived() -> None:
    arrived = [Change("a@x.test", 1, "61A", made_at=10.0, arrived_at=10.0 + s) for s in (1.0, 2.0, 3.0)]
    figures = latency_figures(arrived)
    assert (figures["p50_s"], figures["max_s"], figures["min_s"]) == (2.0, 3.0, 1.0)
    assert (figures["arrived"], figures["never_arrived"]) == (3, 0)
    assert figures["within_target"] is True
    lost = latency_figures([*arrived, Change("b@x.test", 2, "WITHDRAWN", made_at=10.0)])
    assert (lost["arrived"], lost["never_arrived"]) == (3, 1)
    assert lost["within_target"] is False  # a change that never arrived misses the target
    slow = latency_figures([Change("c@x.test", 3, "61A", made_at=0.0, arrived_at=11.0)])
    assert slow["within_target"] is False
    assert latency_figures([])["p95_s"] is None


@pytest.mark.slow
@pytest.mark.xdist_group("bench")
def test_freshness_quick_run_writes_every_figure(tmp_path: Path) -> None:
    arguments = ["--quick", "--seed", "3", "--results-dir", str(tmp_path), "--only", "freshness"]
    run = subprocess.run(
        [sys.executable, "-m", "devtools.bench", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    doc = json.loads((tmp_path / "freshness.json").read_text())
    assert set(COMMON_KEYS) <= set(doc)
    assert doc["quick"] is True
    changes = doc["changes"]
    assert changes == doc["params"]["changes"] == doc["withdrawals"] + doc["opt_ins"]
    for key in ("p50_s", "p95_s", "max_s", "warm_up_s", "superoffice_calls_per_change"):
        assert isinstance(doc[key], float), key
    assert doc["target_p95_s"] == 10.0
    assert isinstance(doc["within_target"], bool)
    assert doc["arrived"] + doc["never_arrived"] == changes
    assert len(doc["latencies_s"]) == changes
    # SuperOffice requests per change, split by endpoint; webhook deliveries per change.
    by_endpoint = doc["superoffice_calls_by_endpoint"]
    assert sum(by_endpoint.values()) == doc["superoffice_calls"]
    assert "GET /Archive/Person" in by_endpoint
    assert doc["superoffice_calls_per_change"] == round(doc["superoffice_calls"] / changes, 4)
    assert doc["webhook_deliveries"] >= changes  # one try per change at least: every change fires one
    assert doc["webhook_deliveries_per_change"] == round(doc["webhook_deliveries"] / changes, 4)
    # The webhook path alone: pulls batched, reconciled, never the scheduled run.
    invocations = doc["handler_invocations"]
    assert invocations["WebhookPullFunction"] == doc["pull_batches"] > 0
    assert invocations["ReconcileFunction"] > 0
    assert "ScheduledSyncFunction" not in invocations
    assert doc["lower_bound_calls"] == 2 * doc["pull_batches"]
