"""The scenario registry: ``@scenario(...)`` registers a function; the CLI and the worker look names up.

Scenarios live in the modules listed in ``devtools.bench.scenarios.SCENARIO_MODULES``; :func:`load`
imports them (registration is an import side effect), in that order, which is also the run order.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from devtools.bench.model import BenchContext, ScenarioResult

ScenarioFunction = Callable[[BenchContext], ScenarioResult]

#: Scenarios the benchmark plan names that need capabilities not built yet. Listed so that ``--only`` can say
#: "not available yet" instead of "unknown"; they are never run and never get a result file. Empty now:
#: ``gate-10k`` and ``gate-100k`` (the last ones) are registered by ``scenarios/gate.py``.
PLANNED: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Scenario:
    """A registered scenario: its function and its parameters at full and quick size."""

    name: str
    description: str
    run: ScenarioFunction
    params: Mapping[str, Any] = field(default_factory=dict)
    quick: Mapping[str, Any] = field(default_factory=dict)
    #: The worker process is killed after this long (the scenario then fails).
    timeout_s: float = 600.0
    #: Another scenario this one is compared with (the same work at another size): the runner adds
    #: ``growth`` to this one's JSON, ``compare_keys`` figures divided by that scenario's, against
    #: ``compare_limit`` (e.g. ``sync-100k`` / ``sync-1k`` ≤ 1.1).
    compare_to: str | None = None
    compare_keys: tuple[str, ...] = ()
    compare_limit: float | None = None

    def params_for(self, *, quick: bool) -> dict[str, Any]:
        """The parameters of a run: ``params``, overridden by ``quick`` under ``--quick``."""
        return {**self.params, **(self.quick if quick else {})}


_REGISTRY: dict[str, Scenario] = {}


def scenario(
    name: str,
    description: str,
    *,
    params: Mapping[str, Any] | None = None,
    quick: Mapping[str, Any] | None = None,
    timeout_s: float = 600.0,
    compare_to: str | None = None,
    compare_keys: tuple[str, ...] = (),
    compare_limit: float | None = None,
) -> Callable[[ScenarioFunction], ScenarioFunction]:
    """Register the decorated function as scenario ``name``; the function is returned unchanged.

    The decorator may be stacked to register one function under several names with different
    ``params`` (it reads them from ``ctx.params``). ``quick`` overrides ``params`` under ``--quick``:
    it should shrink sizes so a smoke run takes seconds, never change what is measured. ``compare_to``
    names a scenario (run before this one, or found in the results directory with the same seed and
    sizes) whose ``compare_keys`` figures this one's are divided by; the ratios go to ``growth``.
    """
    if compare_to is not None and not compare_keys:
        raise ValueError(f"{name}: compare_to needs compare_keys")
    if quick and not set(quick) <= set(params or {}):
        raise ValueError(
            f"{name}: quick overrides unknown parameters {sorted(set(quick) - set(params or {}))}"
        )

    def register(function: ScenarioFunction) -> ScenarioFunction:
        if name in _REGISTRY:
            raise ValueError(f"scenario {name!r} is registered twice")
        _REGISTRY[name] = Scenario(
            name=name,
            description=description,
            run=function,
            params=MappingProxyType(dict(params or {})),
            quick=MappingProxyType(dict(quick or {})),
            timeout_s=timeout_s,
            compare_to=compare_to,
            compare_keys=tuple(compare_keys),
            compare_limit=compare_limit,
        )
        return function

    return register


def load() -> dict[str, Scenario]:
    """Import every scenario module and return the registry (name → scenario) in run order."""
    scenarios = importlib.import_module("devtools.bench.scenarios")
    for module in scenarios.SCENARIO_MODULES:
        importlib.import_module(f"devtools.bench.scenarios.{module}")
    return dict(_REGISTRY)
