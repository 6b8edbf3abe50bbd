"""`consent-sync import`: ask for an import of a selection or project and follow it.

The CLI checks what it can before asking (the account exists and is integrated with SuperOffice),
puts `Import Requested` with an import id it made up, and with `--wait` polls the import's job
(`JobStore.get(account, "import", import_id)`) until it is finished.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from consent_sync.domain.jobs import Job
from consent_sync.domain.vocabulary import JobKind, JobStatus
from consent_sync.events import PLATFORM_SOURCE, ImportRequested, ImportSource, SourceKind
from consent_sync.flows import completion
from consent_sync.store.accounts import AccountStore
from consent_sync.store.bus import publish
from consent_sync.store.jobs import JobStore
from devtools.operator import OperatorError
from devtools.progress import progress_bars
from devtools.stack import Stack

WAIT_TIMEOUT_S = 1800.0
POLL_INTERVAL_S = 0.25

Progress = Callable[[int, int | None], None]
"""Called with (members processed, members in all or None until listed) while waiting."""


def new_import_id() -> str:
    """An import id that sorts by time and does not collide: `imp-<UTC time>-<random>`."""
    return f"imp-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def request_import(
    stack: Stack, account_id: str, kind: SourceKind, source_id: int, *, only_emarketing_consented: bool
) -> ImportRequested:
    """Put `Import Requested` for an account that can import; return the request (with its import id).

    Refused before anything is sent: `unknown_account`, and `integration_none` (the import function
    would refuse it too, without calling SuperOffice).
    """
    settings = AccountStore(stack.table_name).get(account_id)
    if settings is None:
        raise OperatorError("unknown_account", f"account {account_id!r} has no settings")
    if not settings.talks_to_superoffice:
        raise OperatorError(
            "integration_none", f"account {account_id!r} has integration none: nothing can be imported"
        )
    request = ImportRequested(
        account_id=account_id,
        import_id=new_import_id(),
        source=ImportSource(kind=kind, id=source_id),
        only_emarketing_consented=only_emarketing_consented,
    )
    publish(stack.bus_name, request, source=PLATFORM_SOURCE)
    return request


def import_document(request: ImportRequested, job: Job | None) -> dict[str, Any]:
    """The `import` document (README.md, "The CLI") of an import as it stands (`running` until its job is
    finished)."""
    document: dict[str, Any] = {
        "import_id": request.import_id,
        "status": JobStatus.RUNNING.value if job is None else job.status.value,
    }
    if job is None:
        return document | {"account_id": request.account_id, "source": request.source.model_dump(mode="json")}
    if job.finished:
        document.update(
            completion.import_completed(job).model_dump(exclude={"account_id", "import_id", "status"})
        )
    else:
        document.update({"members": job.meta.get(completion.MEMBERS), "processed": _processed(job)})
    if job.error:
        document["error"] = job.error
    return document


def _processed(job: Job) -> int:
    members = int(job.meta.get(completion.MEMBERS, 0))
    return members if job.finished else min(members, job.counters.get(completion.MEMBERS, 0))


def wait_for_import(
    stack: Stack,
    request: ImportRequested,
    progress: Progress | None = None,
    timeout_s: float = WAIT_TIMEOUT_S,
) -> Job:
    """Poll the import's job until it is finished; return it.

    Raises `OperatorError('timeout')` when it has not finished in time (its job may not even exist:
    the import function failed, and the events dead-letter queue says why).
    """
    jobs = JobStore(stack.table_name)
    deadline = time.monotonic() + timeout_s
    while True:
        job = jobs.get(request.account_id, JobKind.IMPORT, request.import_id)
        if progress is not None:
            progress(
                0 if job is None else _processed(job),
                None if job is None else job.meta.get(completion.MEMBERS),
            )
        if job is not None and job.finished:
            return job
        if time.monotonic() >= deadline:
            raise OperatorError(
                "timeout",
                f"the import {request.import_id} did not finish within {timeout_s:.0f} s; "
                "if it never started, the events dead-letter queue says why",
            )
        time.sleep(POLL_INTERVAL_S)


@contextmanager
def progress_on(console: Console, import_id: str) -> Iterator[Progress]:
    """A progress bar on `console` (stderr): members processed of the members listed."""
    with progress_bars(console) as advance:
        yield functools.partial(advance, f"import {import_id}")
