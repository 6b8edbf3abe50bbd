"""The benchmark framework end to end in --quick mode: figures are written, and the same seed gives the
same call counts. No timing assertions: the figures themselves belong to `make bench`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devtools.bench import COMMON_KEYS, PLANNED
from devtools.bench.cli import main as bench_main
from devtools.bench.registry import load
from devtools.bench.scenarios.cold_import import cumulative_us, handler_modules

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bench")]

ROOT = Path(__file__).resolve().parents[3]
SCENARIOS = ("simulator-throughput", "client-bulk-read-0ms", "client-bulk-read-50ms")
#: Figures that are counts, not timings: identical on every run with the same seed.
COUNT_KEYS = (
    "superoffice_calls",
    "lower_bound_calls",
    "calls_ratio",
    "superoffice_calls_by_endpoint",
    "consent_rows",
    "persons",
    "cheap_requests",
    "bulk_requests",
    "bulk_ids_per_request",
    "bulk_rows",
    "params",
)


def _quick_args(results_dir: Path) -> list[str]:
    return ["--quick", "--seed", "3", "--results-dir", str(results_dir), "--only", *SCENARIOS]


def _read(results_dir: Path) -> dict[str, dict[str, Any]]:
    return {name: json.loads((results_dir / f"{name}.json").read_text()) for name in SCENARIOS}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """Two quick runs with the same seed, side by side (only counts are compared, never times)."""
    dirs = [tmp_path_factory.mktemp("bench-first"), tmp_path_factory.mktemp("bench-second")]
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "devtools.bench", *_quick_args(d)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for d in dirs
    ]
    for run in runs:
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stdout + stderr
        for name in SCENARIOS:
            assert name in stdout
    return _read(dirs[0]), _read(dirs[1]), dirs[0]


def test_each_scenario_writes_its_figures(two_runs: tuple[dict[str, Any], dict[str, Any], Path]) -> None:
    first, _, results_dir = two_runs
    assert sorted(p.name for p in results_dir.iterdir()) == sorted(f"{n}.json" for n in SCENARIOS)
    for name, doc in first.items():
        assert set(COMMON_KEYS) <= set(doc), name
        assert doc["scenario"] == name
        assert doc["quick"] is True
        assert doc["seed"] == 3
        assert doc["wall_s"] > 0
        assert doc["peak_rss_mb"] > 0
        assert doc["superoffice_calls"] >= doc["lower_bound_calls"] > 0
        assert doc["calls_ratio"] >= 1.0
        assert doc["calls_ratio"] == pytest.approx(
            doc["superoffice_calls"] / doc["lower_bound_calls"], abs=1e-3
        )
        assert doc["dynamodb_calls_per_contact"] is None  # no DynamoDB in these scenarios


def test_client_figures(two_runs: tuple[dict[str, Any], dict[str, Any], Path]) -> None:
    first, _, _ = two_runs
    for name, latency in (("client-bulk-read-0ms", 0), ("client-bulk-read-50ms", 50)):
        doc = first[name]
        persons = doc["persons"]
        assert doc["latency_ms"] == latency
        assert doc["lower_bound_calls"] == 2 * -(-persons // 200)
        assert doc["persons_per_s"] > 0
        assert doc["requests_per_second"] >= 1000  # the limiter must not be what is measured
        by_endpoint = doc["superoffice_calls_by_endpoint"]
        assert sum(by_endpoint.values()) == doc["superoffice_calls"]
        assert by_endpoint["GET /Archive/Person"] >= persons / 200


def test_simulator_figures(two_runs: tuple[dict[str, Any], dict[str, Any], Path]) -> None:
    doc = two_runs[0]["simulator-throughput"]
    assert doc["superoffice_calls"] == doc["cheap_requests"] + doc["bulk_requests"]
    assert doc["cheap_requests_per_s"] > 0
    assert doc["bulk_requests_per_s"] > 0
    assert doc["bulk_rows"] > doc["bulk_requests"]


def test_same_seed_same_counts(two_runs: tuple[dict[str, Any], dict[str, Any], Path]) -> None:
    first, second, _ = two_runs
    for name in SCENARIOS:
        for key in COUNT_KEYS:
            assert first[name].get(key) == second[name].get(key), (name, key)


def test_every_scenario_of_the_issues_is_registered_and_unknown_names_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert not PLANNED
    assert {"import-50k", "sync-1k", "sync-100k", "gate-10k", "gate-100k"} <= set(load())
    with pytest.raises(SystemExit) as exited:
        bench_main(["--only", "no-such-scenario"])
    assert exited.value.code == 2
    assert "unknown scenario" in capsys.readouterr().err
    assert bench_main(["--list"]) == 0
    listing = capsys.readouterr().out
    for scenario in SCENARIOS:
        assert scenario in listing


def test_handler_modules_come_from_the_template() -> None:
    handlers = {h.name: h for h in handler_modules(ROOT / "template.yaml")}
    assert set(handlers) >= {"settings", "import_members", "reconcile"}
    settings = handlers["settings"]
    assert settings.module == "consent_sync.handlers.settings"
    # Imported under the environment Lambda gives the function: the template's variables and its own.
    assert settings.environment["TABLE_NAME"]
    assert settings.environment["AWS_LAMBDA_FUNCTION_NAME"].endswith(settings.function)
    output = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        300 |   consent_sync.handlers\n"
        "import time:       576 |    1716235 | consent_sync.handlers.settings\n"
    )
    assert cumulative_us(output, "consent_sync.handlers.settings") == 1716235
    with pytest.raises(ValueError, match="does not appear"):
        cumulative_us(output, "consent_sync.handlers.reconcile")
