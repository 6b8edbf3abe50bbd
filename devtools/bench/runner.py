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
    results_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(document, indent=2) + "\n")
    partial.replace(path)
    return Outcome(scenario.name, document, elapsed, path=path)


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
    for scenario in scenarios:
        if on_start is not None:
            on_start(scenario)
        outcome = run_scenario(scenario, seed=seed, quick=quick, results_dir=results_dir)
        if on_done is not None:
            on_done(outcome)
        outcomes.append(outcome)
    return outcomes
