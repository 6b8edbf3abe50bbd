"""The chaos scenario from start to end: the world set up, rounds of changes and runs with the faults on
(and, half-way, the worker killed at each crash point in turn), the faults off until nothing is
pending, then the checks."""

from __future__ import annotations

import contextlib
import io
import math
import random
import time
import uuid
from typing import Any, TextIO

from consent_sync.domain.vocabulary import Purpose
from devtools.chaos.checks import run_checks
from devtools.chaos.crash import (
    ALL_POINTS,
    CLIENT_REQUEST_TIMEOUT_S,
    CrashReport,
    counting_retries,
    crash_points,
    fault_settings,
)
from devtools.chaos.report import ChaosReport
from devtools.chaos.world import ACCOUNT, LEGAL_BASES, REGION, ROOT, World, api_requests
from devtools.local import local_stack
from devtools.simulator.testing import running_simulator


def run_chaos(
    contacts: int = 200,
    changes: int = 150,
    seed: int = 7,
    *,
    outage_s: float = 4.0,
    timeout_ratio: float = 0.02,
    held_s: float = CLIENT_REQUEST_TIMEOUT_S + 1,
    rate_limit_per_s: float = 5.0,
    requests_per_second: float = 25.0,
    chunk_size: int = 25,
    crash_timeout_s: float = 2.0,
    points: tuple[int, ...] = ALL_POINTS,
    log: TextIO | None = None,
) -> ChaosReport:
    """The scenario (`devtools.chaos`) at this size; returns what happened and the checks' findings.

    ``held_s`` is how long the simulator holds a "timed out" request: past the client's request
    timeout (10 s) the worker gives up on it while the simulator still applies it. ``points`` are the
    crash points run half-way (`devtools.chaos.crash.POINTS`, all by default), each with the faults
    off (so that SuperOffice's PUTs can be counted exactly), the faults on again after them.
    ``crash_timeout_s`` is the killed worker's context budget: its idempotency record stays "in
    progress" that long, then the message is delivered again.
    """
    rng = random.Random(seed)
    started = time.monotonic()
    sink = log if log is not None else io.StringIO()
    with (
        contextlib.redirect_stdout(sink),  # the functions' JSON log lines
        running_simulator(persons=max(300, contacts * 3), seed=seed) as sim,
        local_stack(
            template=ROOT / "template.yaml",
            port=0,
            stack_name=f"chaos-{uuid.uuid4().hex[:8]}",
            region=REGION,
            parameters={"ChunkSize": chunk_size},
            failed_visibility_timeout_s=0,
        ) as stack,
        counting_retries() as retry_log,
    ):
        phases: dict[str, float] = {"start": time.monotonic() - started}
        mark = time.monotonic()
        world = World(stack, sim, rng)
        world.pick_persons(contacts)
        world.link_contacts()
        world.switch_sync_on(requests_per_second)
        sim.control.reset_counts()
        phases["setup"] = time.monotonic() - mark
        mark = time.monotonic()
        faults = fault_settings(
            seed=seed, rate_limit_per_s=rate_limit_per_s, timeout_ratio=timeout_ratio, held_s=held_s
        )
        sim.control.set_faults(**faults)
        rounds = max(3, min(12, changes // 7))
        per_round = [changes // rounds + (1 if r < changes % rounds else 0) for r in range(rounds)]
        crashes: list[CrashReport] = []
        for round_no, count in enumerate(per_round):
            if round_no == 0:
                world.send_poison()
            pairs = rng.sample([(i, p) for i in range(contacts) for p in Purpose], k=min(count, contacts * 2))
            platform: list[dict[str, Any]] = []
            for index, purpose in pairs:
                roll = rng.random()
                if roll < 0.55:
                    world.change_superoffice(index, purpose, rng.choice(LEGAL_BASES))
                if roll >= 0.45:
                    platform.append(world.platform_detail(index, purpose, rng.choice(LEGAL_BASES)))
            # Interleaved: half of the platform's events, the run, the other half.
            half = len(platform) // 2
            for detail in platform[:half]:
                world.send("Contact Consent Changed", detail)
            world.run(round_no)
            for detail in platform[half:]:
                world.send("Contact Consent Changed", detail)
            if round_no == 1:
                sim.control.set_faults(**faults, outage_s=outage_s)  # the window starts now
            world.drain()
            if round_no % 4 == 1:
                duplicating = time.monotonic()
                world.duplicate_messages()
                phases["duplicates"] = phases.get("duplicates", 0.0) + time.monotonic() - duplicating
            if round_no == rounds // 2 and points:
                crashing = time.monotonic()
                sim.control.clear_faults()
                crashes = crash_points(world, rng, points, crash_timeout_s)
                sim.control.set_faults(**faults)
                world.drain()
                phases["crash points"] = time.monotonic() - crashing
        # Faults off: runs until nothing is pending and both sides agree.
        sim.control.clear_faults()
        faults_off = time.monotonic()
        phases["faults on"] = faults_off - mark
        settle_runs = 0
        converge_s = math.nan
        for settle_runs in range(1, 6):
            world.run(settle_runs * 2)
            world.drain()
            if not list(world.contacts.pending(ACCOUNT)) and not stack.runtime.pending():
                converge_s = time.monotonic() - faults_off
                break
        phases["settling"] = time.monotonic() - faults_off
        mark = time.monotonic()
        counts = sim.control.counts()
        checks = run_checks(world, crashes=crashes)
        phases["checks"] = time.monotonic() - mark
        statuses = {key: n for key, n in counts.items() if key.startswith("status:")}
        total = api_requests(counts)
        return ChaosReport(
            contacts=contacts,
            changes=world.changes,
            faults=statuses,
            requests=total,
            successful_requests=total - sum(statuses.values()),
            retries=dict(retry_log.retries),
            duplicates=world.duplicates,
            poison=world.poison,
            crashes=crashes,
            runs_to_settle=settle_runs,
            converge_s=converge_s,
            total_s=time.monotonic() - started,
            checks=checks,
            phases=phases,
        )
