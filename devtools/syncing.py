"""`consent-sync sync`: ask for a sync run (one account, or every account with sync on) and follow it.

The CLI puts `Sync Requested` with a `run_id` it made up; the scheduled sync function names each
account's run job after it (`JobStore.get(account, "run", run_id)`), so `--wait` can poll the jobs.
Without an account, one event asks every account with sync on; the CLI follows the accounts that
had sync on when it asked.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from consent_sync.domain import jobs as counters
from consent_sync.domain.jobs import Job
from consent_sync.domain.vocabulary import JobKind, JobStatus
from consent_sync.events import PLATFORM_SOURCE, SyncRequested
from consent_sync.store.accounts import AccountStore
from consent_sync.store.bus import publish
from consent_sync.store.jobs import JobStore
from devtools.contacts import known_account
from devtools.operator import OperatorError
from devtools.progress import progress_bars
from devtools.stack import Stack

WAIT_TIMEOUT_S = 600.0
POLL_INTERVAL_S = 0.25
RUN_COUNTERS = (
    counters.RECONCILED,
    counters.PUSHED,
    counters.PULLED,
    counters.UNCHANGED,
    counters.FAILED,
)
"""The worker's counters on a run job, in the order of the `sync` document (README.md, "The CLI")."""

Progress = Callable[[str, int, int | None], None]
"""Called with (account, chunks done, chunks in all or None while unknown) while waiting."""


@dataclass(frozen=True)
class RunRequest:
    """One account's run as the CLI asked for it."""

    account_id: str
    run_id: str
    kind: str
    """What was asked (`baseline` or `requested`); the job's own kind wins once it exists."""


def new_run_id() -> str:
    """A run id that sorts by time and does not collide: `cli-<UTC time>-<random>`."""
    return f"cli-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def request_sync(stack: Stack, account_id: str | None, *, baseline: bool) -> list[RunRequest]:
    """Put `Sync Requested`; return the runs to follow (one per account with sync on, or the one named).

    A named account without sync still gets a run (it completes at once with zeros); an unknown one
    is `unknown_account`.
    """
    accounts = AccountStore(stack.table_name)
    run_id = new_run_id()
    kind = "baseline" if baseline else "requested"
    if account_id is not None:
        known_account(stack, account_id)
        targets = [account_id]
    else:
        stored = ((a, accounts.get(a)) for a in accounts.account_ids())
        targets = [a for a, settings in stored if settings is not None and settings.syncs]
    publish(
        stack.bus_name,
        SyncRequested(account_id=account_id, baseline=baseline, run_id=run_id),
        source=PLATFORM_SOURCE,
    )
    return [RunRequest(account_id=a, run_id=run_id, kind=kind) for a in targets]


def run_document(request: RunRequest, job: Job | None) -> dict[str, Any]:
    """The `sync` document (README.md, "The CLI") of a run as it stands."""
    counters = {} if job is None else job.counters
    document: dict[str, Any] = {
        "account_id": request.account_id,
        "run_id": request.run_id,
        "kind": request.kind if job is None else job.meta.get("kind", request.kind),
        "status": "requested" if job is None else job.status.value,
    }
    document.update({name: counters.get(name, 0) for name in RUN_COUNTERS})
    if job is not None and job.error:
        document["error"] = job.error
    return document


def wait_for_runs(
    stack: Stack,
    requests: list[RunRequest],
    progress: Progress | None = None,
    timeout_s: float = WAIT_TIMEOUT_S,
) -> list[dict[str, Any]]:
    """Poll the runs' jobs until every one is finished; return their documents, in request order.

    Raises `OperatorError('timeout')` when some run has not finished in time (its job may not even
    exist: the scheduled sync function failed, and the events dead-letter queue says why).
    """
    jobs = JobStore(stack.table_name)
    finished: dict[str, Job] = {}
    deadline = time.monotonic() + timeout_s
    while True:
        for request in requests:
            if request.account_id in finished:
                continue
            job = jobs.get(request.account_id, JobKind.RUN, request.run_id)
            if progress is not None:
                progress(
                    request.account_id,
                    0 if job is None else job.done_chunks,
                    None if job is None else job.total_chunks,
                )
            if job is not None and job.finished:
                finished[request.account_id] = job
        if len(finished) == len(requests):
            return [run_document(r, finished[r.account_id]) for r in requests]
        if time.monotonic() >= deadline:
            waiting = sorted(r.account_id for r in requests if r.account_id not in finished)
            raise OperatorError(
                "timeout",
                f"the sync run {requests[0].run_id} of {', '.join(waiting)} did not finish within "
                f"{timeout_s:.0f} s; if it never started, the events dead-letter queue says why",
            )
        time.sleep(POLL_INTERVAL_S)


def failed_runs(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs that failed as a whole (a run with some failed contacts completed, with errors)."""
    return [d for d in documents if d["status"] == JobStatus.FAILED.value]


@contextmanager
def progress_on(console: Console) -> Iterator[Progress]:
    """A progress bar per account on `console` (stderr): chunks done of the run's chunks."""
    with progress_bars(console) as advance:
        yield lambda account_id, done, total: advance(f"sync {account_id}", done, total)


def runs_table(documents: list[dict[str, Any]]) -> Table:
    """The runs as a table, one row per account (the human form of the `sync` document)."""
    table = Table("account", "run", "kind", "status", *RUN_COUNTERS, title="sync runs")
    for document in documents:
        table.add_row(
            document["account_id"],
            document["run_id"],
            document["kind"],
            document["status"],
            *(str(document[name]) for name in RUN_COUNTERS),
        )
    return table
