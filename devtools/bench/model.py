"""What a scenario gets (:class:`BenchContext`) and what it returns (:class:`ScenarioResult`)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The keys every scenario's JSON file has, in this order; None where a figure does not apply.
COMMON_KEYS: tuple[str, ...] = (
    "scenario",
    "wall_s",
    "superoffice_calls",
    "lower_bound_calls",
    "calls_ratio",
    "dynamodb_calls_per_contact",
    "peak_rss_mb",
)


def calls_ratio(calls: int | None, lower_bound: int | None) -> float | None:
    """``calls / lower_bound`` (1.0 is optimal), or None when either is unknown or the bound is 0."""
    if calls is None or not lower_bound:
        return None
    return calls / lower_bound


def chunked_lower_bound(items: int, chunk: int, calls_per_chunk: int = 1) -> int:
    """The fewest calls that can cover ``items`` in chunks of ``chunk``: ``calls_per_chunk × ⌈items/chunk⌉``."""
    if chunk <= 0:
        raise ValueError("chunk must be positive")
    return calls_per_chunk * math.ceil(items / chunk)


@dataclass
class ScenarioResult:
    """The figures of one scenario run. The framework adds the name, peak RSS and run metadata.

    ``wall_s`` is the measured part only (setup such as seeding the simulator is excluded; time it with
    :meth:`BenchContext.stopwatch`). Everything in ``figures`` becomes an extra top-level JSON key.
    ``headline`` is the scenario's key figure in words, shown in the summary table; ``tables`` names the
    figures (mappings of names to numbers) that are also printed, side by side, in one extra table.
    """

    wall_s: float
    superoffice_calls: int | None = None
    lower_bound_calls: int | None = None
    dynamodb_calls_per_contact: float | None = None
    headline: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    tables: tuple[str, ...] = ()
    #: Set only when the memory that matters is not the worker's own (e.g. processes it started);
    #: otherwise the framework reports the worker process's peak RSS.
    peak_rss_mb: float | None = None

    @property
    def calls_ratio(self) -> float | None:
        """SuperOffice calls over their lower bound (None when not applicable)."""
        return calls_ratio(self.superoffice_calls, self.lower_bound_calls)

    def to_json(self, name: str, peak_rss_mb: float | None) -> dict[str, Any]:
        """The JSON document of this result: the common keys first, then the figures."""
        document: dict[str, Any] = {
            "scenario": name,
            "wall_s": round(self.wall_s, 6),
            "superoffice_calls": self.superoffice_calls,
            "lower_bound_calls": self.lower_bound_calls,
            "calls_ratio": None if self.calls_ratio is None else round(self.calls_ratio, 4),
            "dynamodb_calls_per_contact": self.dynamodb_calls_per_contact,
            "peak_rss_mb": None if peak_rss_mb is None else round(peak_rss_mb, 1),
            "headline": self.headline,
            "tables": list(self.tables),
        }
        clash = set(document) & set(self.figures)
        if clash:
            raise ValueError(f"figures must not redefine {sorted(clash)}")
        document.update(self.figures)
        return document


class Stopwatch:
    """Elapsed wall time of a ``with ctx.stopwatch() as sw:`` block (``sw.seconds``, also while running)."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._end: float | None = None

    def stop(self) -> None:
        """Freeze the elapsed time."""
        if self._end is None:
            self._end = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Seconds from start to stop (or to now while running)."""
        end = self._end if self._end is not None else time.perf_counter()
        return end - self._start


@dataclass(frozen=True)
class BenchContext:
    """What a scenario function receives.

    ``params`` are the scenario's parameters for this run (the full sizes, or the quick ones under
    ``--quick``); ``seed`` seeds every random choice (the simulator's CRM included), so the same seed gives
    the same call counts. ``work_dir`` is an empty temporary directory owned by this run.
    """

    seed: int
    quick: bool
    params: Mapping[str, Any]
    repo_root: Path
    work_dir: Path

    def param(self, name: str) -> Any:
        """One parameter; a KeyError names the scenario's missing parameter."""
        try:
            return self.params[name]
        except KeyError:
            raise KeyError(f"scenario parameter {name!r} is not defined") from None

    def int_param(self, name: str) -> int:
        """A parameter that must be an int."""
        value = self.param(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"scenario parameter {name!r} must be an int, not {value!r}")
        return value

    @contextmanager
    def stopwatch(self) -> Iterator[Stopwatch]:
        """Time the measured part of a scenario."""
        watch = Stopwatch()
        try:
            yield watch
        finally:
            watch.stop()
