"""Runs one scenario in this (fresh) process and writes its result: ``python -m devtools.bench.worker``.

The runner starts one worker per scenario so that peak memory (``ru_maxrss``) belongs to that scenario
alone and no scenario warms caches or imports for the next. Not meant to be run by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil

from devtools.bench.model import BenchContext
from devtools.bench.registry import load

REPO_ROOT = Path(__file__).resolve().parents[2]


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB."""
    try:
        import resource
    except ImportError:  # Windows: the working-set peak is the closest figure
        info: Any = psutil.Process().memory_info()
        return float(getattr(info, "peak_wset", info.rss)) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def current_rss_mb() -> float:
    """This process's resident set size now, in MiB."""
    return float(psutil.Process().memory_info().rss) / 2**20


def run(name: str, *, seed: int, quick: bool, out: Path) -> None:
    """Run scenario ``name`` and write ``{"result": …, "params": …, "start_rss_mb": …}`` to ``out``."""
    scenario = load()[name]
    params = scenario.params_for(quick=quick)
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as work:
        ctx = BenchContext(seed=seed, quick=quick, params=params, repo_root=REPO_ROOT, work_dir=Path(work))
        start_rss = current_rss_mb()
        result = scenario.run(ctx)
    peak = result.peak_rss_mb if result.peak_rss_mb is not None else peak_rss_mb()
    document = result.to_json(name, peak)
    out.write_text(
        json.dumps({"result": document, "params": params, "start_rss_mb": round(start_rss, 1)}, indent=2)
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the worker process."""
    parser = argparse.ArgumentParser(prog="python -m devtools.bench.worker")
    parser.add_argument("scenario")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    os.chdir(REPO_ROOT)
    run(args.scenario, seed=args.seed, quick=args.quick, out=args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
