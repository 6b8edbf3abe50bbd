"""``cold-import``: each handler module's cold import time, as a Lambda cold start pays it.

The functions come from template.yaml, read by the local runtime's loader (cfn-lint's decoder plus the
intrinsic-function resolver), so each handler module is imported under the environment Lambda would
give it: the template's variables (Globals merged with the function's) and Lambda's own
(``AWS_LAMBDA_FUNCTION_NAME`` and friends, so Powertools' tracer is on, as with ``Tracing: Active``).
For each, ``python -X importtime -c "import <module>"`` runs in a fresh interpreter and the module's
*cumulative* microseconds are read from its own line: everything importing it pulled in, its parent
packages included (Python nests them under it). Bytecode caches are warmed once first, so the figure is
the import itself, not compilation; the median of ``runs`` rounds is reported. ``peak_rss_mb`` is the
largest peak RSS of those interpreters right after the import (per handler in ``handler_peak_rss_mb``).
Writes ``cold-import.json`` with ``{"handler_import_ms": {"settings": …, …}}``.

Each round also imports the reference, ``import boto3, pydantic`` (what any function of this shape
pays; the sum of the two modules' top-level cumulative µs), in its own fresh interpreter under the first
function's environment, so a machine's speed cancels out: ``handler_import_ratio`` is each handler's
median over the reference's median, in the same run. ``python`` names the interpreter measured (the
functions run on the template's ``Runtime``; the ratio carries over better than the milliseconds).
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.bench.model import BenchContext, ScenarioResult
from devtools.bench.registry import scenario

_IMPORTTIME_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")
#: Any region will do: nothing is called at import; the resolved names only need to look real.
_REGION = "eu-west-1"
#: What a handler's import is compared with: the two libraries every function needs at cold start.
REFERENCE_MODULES = ("boto3", "pydantic")
REFERENCE_NAME = "import " + ", ".join(REFERENCE_MODULES)
#: The target: no handler's cold import above this many times the reference's, in the same run.
RATIO_LIMIT = 1.5


@dataclass(frozen=True)
class HandlerModule:
    """One function's handler module and the environment Lambda starts it with."""

    name: str  # the module's last segment: "settings" for consent_sync.handlers.settings
    module: str
    function: str  # the template's logical id
    environment: Mapping[str, str]


def handler_modules(template: Path) -> list[HandlerModule]:
    """Every function's handler module in template order (``Handler`` less its attribute)."""
    # Imported here: devtools.local (and cfn-lint) take a second to import, which no other scenario needs.
    from devtools.local.sam import read_routing
    from devtools.local.template import Template

    loaded = Template.load(template, stack_name="bench", region=_REGION)
    modules: list[HandlerModule] = []
    for spec in read_routing(loaded).functions.values():
        lambda_variables = {
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_REGION": _REGION,
            "AWS_DEFAULT_REGION": _REGION,
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
        }
        modules.append(
            HandlerModule(
                name=spec.module_name.rsplit(".", 1)[-1],
                module=spec.module_name,
                function=spec.logical_id,
                environment={**spec.environment, **lambda_variables},
            )
        )
    if not modules:
        raise ValueError(f"{template} declares no functions")
    names = [m.name for m in modules]
    if len(set(names)) != len(names):
        raise ValueError(f"two functions share a handler module name: {names}")
    return modules


def cumulative_us(importtime_output: str, module: str) -> int:
    """The cumulative µs on ``module``'s own line of ``-X importtime`` output."""
    for line in importtime_output.splitlines():
        match = _IMPORTTIME_LINE.match(line)
        if match and match.group(4) == module:
            return int(match.group(2))
    raise ValueError(f"{module} does not appear in the -X importtime output")


def top_level_us(importtime_output: str, modules: tuple[str, ...]) -> int:
    """The summed cumulative µs of ``modules``' top-level lines (those the ``-c`` code imported itself).

    A module another of them imported is nested under it and not counted again.
    """
    found: dict[str, int] = {}
    for line in importtime_output.splitlines():
        match = _IMPORTTIME_LINE.match(line)
        if match and match.group(4) in modules and len(match.group(3)) == 1:
            found[match.group(4)] = int(match.group(2))
    if not found:
        raise ValueError(f"none of {list(modules)} appears at the top level of the -X importtime output")
    return sum(found.values())


def _python(args: list[str], cwd: Path, environment: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    # The host's environment without what would change what or how Python imports (PYTHON*) or where
    # AWS calls would go (AWS_*), then the function's own.
    host = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "POWERTOOLS_"))}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**host, **environment},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


#: Appended to the import: the interpreter's peak RSS (KiB on Linux, bytes on macOS) on stdout.
_REPORT_PEAK_RSS = """
try:
    import resource, sys
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10))
except ImportError:
    pass
"""


@dataclass(frozen=True)
class ImportSample:
    """One cold import: its cumulative time and the interpreter's peak RSS afterwards (None if unknown)."""

    ms: float
    peak_rss_mb: float | None


def _import(modules: tuple[str, ...], cwd: Path, environment: Mapping[str, str]) -> tuple[str, float | None]:
    """``-X importtime`` of ``import <modules>`` in a fresh interpreter: its report and the peak RSS."""
    code = f"import {', '.join(modules)}\n{_REPORT_PEAK_RSS}"
    completed = _python(["-X", "importtime", "-c", code], cwd, environment)
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-10:])
        raise RuntimeError(f"import {', '.join(modules)} failed:\n{tail}")
    lines = completed.stdout.strip().splitlines()
    return completed.stderr, float(lines[-1]) if lines else None


def import_sample(handler: HandlerModule, cwd: Path) -> ImportSample:
    """One fresh interpreter's cold import of the handler module."""
    report, peak = _import((handler.module,), cwd, handler.environment)
    return ImportSample(ms=cumulative_us(report, handler.module) / 1000, peak_rss_mb=peak)


def reference_sample(cwd: Path, environment: Mapping[str, str]) -> ImportSample:
    """One fresh interpreter's ``import boto3, pydantic`` (`REFERENCE_MODULES`)."""
    report, peak = _import(REFERENCE_MODULES, cwd, environment)
    return ImportSample(ms=top_level_us(report, REFERENCE_MODULES) / 1000, peak_rss_mb=peak)


def ratios(medians: Mapping[str, float], reference_ms: float) -> dict[str, float]:
    """Each median over the reference's, to two decimals."""
    return {name: round(ms / reference_ms, 2) for name, ms in medians.items()}


@scenario(
    "cold-import",
    "each handler module's cold import time (python -X importtime, median of fresh interpreters)",
    params={"runs": 9},
    quick={"runs": 1},
)
def cold_import(ctx: BenchContext) -> ScenarioResult:
    """Median cumulative import time per handler module of template.yaml."""
    runs = ctx.int_param("runs")
    handlers = handler_modules(ctx.repo_root / "template.yaml")
    # One interpreter imports them all first: writes the bytecode caches, fails early on a broken module.
    everything = "; ".join(f"import {h.module}" for h in handlers)
    warm = _python(["-c", everything], ctx.repo_root, handlers[0].environment)
    if warm.returncode != 0:
        raise RuntimeError(f"the handler modules do not import:\n{warm.stderr[-2000:]}")
    samples: dict[str, list[ImportSample]] = {h.name: [] for h in handlers}
    reference: list[ImportSample] = []
    with ctx.stopwatch() as watch:
        # Round-robin over the handlers and the reference so that a slow moment of the machine is spread
        # over all of them.
        for _ in range(runs):
            reference.append(reference_sample(ctx.repo_root, handlers[0].environment))
            for handler in handlers:
                samples[handler.name].append(import_sample(handler, ctx.repo_root))
    medians = {name: round(statistics.median(s.ms for s in values), 1) for name, values in samples.items()}
    reference_ms = round(statistics.median(s.ms for s in reference), 1)
    ratio = ratios(medians, reference_ms)
    worst = max(ratio, key=lambda name: ratio[name])
    python = platform.python_version()
    rss = {
        name: round(max(s.peak_rss_mb for s in values if s.peak_rss_mb is not None), 1)
        for name, values in samples.items()
        if any(s.peak_rss_mb is not None for s in values)
    }
    slowest = max(medians, key=lambda name: medians[name])
    figures: dict[str, Any] = {
        "handler_import_ms": medians,
        "handler_import_ratio": ratio,
        "handler_peak_rss_mb": rss,
        "reference": REFERENCE_NAME,
        "reference_import_ms": reference_ms,
        "ratio_limit": RATIO_LIMIT,
        "ratio_within_limit": ratio[worst] <= RATIO_LIMIT,
        "python": python,
        "handler_modules": {h.name: h.module for h in handlers},
        "runs": runs,
        "handler_import_samples_ms": {
            name: [round(s.ms, 1) for s in values] for name, values in samples.items()
        },
        "reference_import_samples_ms": [round(s.ms, 1) for s in reference],
    }
    return ScenarioResult(
        wall_s=watch.seconds,
        headline=f"slowest {slowest} {medians[slowest]:,.0f} ms · fastest {min(medians.values()):,.0f} ms "
        f"· worst {worst} {ratio[worst]:.2f}× {REFERENCE_NAME} ({reference_ms:,.0f} ms; limit "
        f"{RATIO_LIMIT}×) · Python {python} · median of {runs}",
        figures=figures,
        tables=("handler_import_ms", "handler_import_ratio", "handler_peak_rss_mb"),
        # The memory a cold start needs: the heaviest handler's interpreter, not this measuring process.
        peak_rss_mb=max(rss.values()) if rss else None,
    )
