"""Benchmarks for consent-sync: ``python -m devtools.bench`` (``make bench``). See README.md here.

A scenario is a function ``(BenchContext) -> ScenarioResult`` registered with ``@scenario(...)`` in a
module listed in ``devtools.bench.scenarios.SCENARIO_MODULES``. The runner runs each in a fresh process,
prints a table and writes ``bench/results/<name>.json``.
"""

from devtools.bench.awscalls import AwsCallCounter, count_aws_calls
from devtools.bench.model import (
    COMMON_KEYS,
    BenchContext,
    ScenarioResult,
    Stopwatch,
    calls_ratio,
    chunked_lower_bound,
)
from devtools.bench.registry import PLANNED, Scenario, scenario

__all__ = [
    "COMMON_KEYS",
    "PLANNED",
    "AwsCallCounter",
    "BenchContext",
    "Scenario",
    "ScenarioResult",
    "Stopwatch",
    "calls_ratio",
    "chunked_lower_bound",
    "count_aws_calls",
    "scenario",
]
