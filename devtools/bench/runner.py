"""Runs scenarios, each in a fresh worker process, and writes one JSON file per scenario."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.bench.registry import Scenario

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RESULTS_DIR = REPO_ROOT / "bench" / "results"


@dataclass
class Outcome:
    """What happened to one scenario: its JSON document, or why there is none."""

    name: str
    document: dict[str, Any] | None
    process_wall_s: float
    error: str | None = None
    path: Path | None = None

    @property
    def ok(self) -> bool:
        """True when the scenario produced a result."""
        return self.document is not None


def environment() -> dict[str, Any]:
    """Where the figures come from (stored with every result)."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def run_scenario(scenario: Scenario, *, seed: int, quick: bool, results_dir: Path) -> Outcome:
    """Run ``scenario`` in a worker process; on success write ``<results_dir>/<name>.json``.

    A stale file of an earlier run is removed first, so a failed scenario leaves no figures behind.
    """
    path = results_dir / f"{scenario.name}.json"
    path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "devtools.bench.worker", scenario.name, "--seed", str(seed)]
        command += ["--out", str(out), *(["--quick"] if quick else [])]
        started = time.perf_counter()
        try:
            completed = subprocess.run(
                command,
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=scenario.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Outcome(
                scenario.name, None, time.perf_counter() - started, f"timed out after {scenario.timeout_s} s"
            )
        elapsed = time.perf_counter() - started
        if completed.returncode != 0 or not out.exists():
            tail = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-25:])
            return Outcome(scenario.name, None, elapsed, f"exit status {completed.returncode}\n{tail}")
        worker = json.loads(out.read_text())
    document: dict[str, Any] = {
        **worker["result"],
        "seed": seed,
        "quick": quick,
        "params": worker["params"],
        "start_rss_mb": worker["start_rss_mb"],
        "process_wall_s": round(elapsed, 3),
        "environment": environment(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _write(path, document)
    return Outcome(scenario.name, document, elapsed, path=path)


def _write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(document, indent=2) + "\n")
    partial.replace(path)


def _stored_baseline(results_dir: Path, name: str, *, seed: int, quick: bool) -> dict[str, Any] | None:
    """``<name>.json`` of an earlier invocation, if it was made with the same seed and sizes."""
    path = results_dir / f"{name}.json"
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document if document.get("seed") == seed and document.get("quick") == quick else None


def growth(scenario: Scenario, document: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, Any]:
    """``scenario``'s ``compare_keys`` figures over the same figures of ``compare_to``'s ``baseline``.

    ``within_limit`` is None when a ratio is unknown (no baseline, or a figure missing or zero there).
    """
    ratios: dict[str, dict[str, Any]] = {}
    for key in scenario.compare_keys:
        value = document.get(key)
        base = None if baseline is None else baseline.get(key)
        ratio = None
        if isinstance(value, int | float) and isinstance(base, int | float) and base:
            ratio = round(value / base, 4)
        ratios[key] = {"value": value, "baseline": base, "ratio": ratio}
    known = [r["ratio"] for r in ratios.values() if r["ratio"] is not None]
    limit = scenario.compare_limit
    within = None if limit is None or len(known) != len(ratios) else all(r <= limit for r in known)
    return {
        "against": scenario.compare_to,
        "baseline_finished_at": None if baseline is None else baseline.get("finished_at"),
        "limit": limit,
        "ratios": ratios,
        "within_limit": within,
    }


def _with_growth(document: dict[str, Any], figures: dict[str, Any]) -> dict[str, Any]:
    # After the scenario's own figures, before the run metadata (which starts at "seed").
    result: dict[str, Any] = {}
    for key, value in document.items():
        if key == "seed":
            result["growth"] = figures
        result[key] = value
    result.setdefault("growth", figures)
    return result


def add_growth(
    scenario: Scenario, outcome: Outcome, earlier: dict[str, dict[str, Any]], *, results_dir: Path
) -> None:
    """Add ``growth`` to a successful outcome of a scenario with ``compare_to`` and rewrite its file.

    The baseline is that scenario's document from this invocation, else its file in ``results_dir`` when
    it was made with the same seed and sizes.
    """
    if scenario.compare_to is None or outcome.document is None or outcome.path is None:
        return
    doc = outcome.document
    baseline = earlier.get(scenario.compare_to) or _stored_baseline(
        results_dir, scenario.compare_to, seed=doc["seed"], quick=doc["quick"]
    )
    outcome.document = _with_growth(doc, growth(scenario, doc, baseline))
    _write(outcome.path, outcome.document)


def run_all(
    scenarios: list[Scenario],
    *,
    seed: int,
    quick: bool,
    results_dir: Path,
    on_start: Callable[[Scenario], None] | None = None,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run the scenarios one after another (never in parallel: they would skew each other's figures)."""
    outcomes: list[Outcome] = []
    documents: dict[str, dict[str, Any]] = {}
    for scenario in scenarios:
        if on_start is not None:
            on_start(scenario)
        outcome = run_scenario(scenario, seed=seed, quick=quick, results_dir=results_dir)
        add_growth(scenario, outcome, documents, results_dir=results_dir)
        if outcome.document is not None:
            documents[scenario.name] = outcome.document
        if on_done is not None:
            on_done(outcome)
        outcomes.append(outcome)
    return outcomes
