"""`consent-sync presend`: send a send-out stage event for a recipient list and, with --wait, its verdicts."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from consent_sync.domain.vocabulary import JobKind
from consent_sync.events import MAX_INLINE_RECIPIENTS, PLATFORM_SOURCE, SendoutChecklist, SendoutSending
from consent_sync.store.accounts import AccountStore
from consent_sync.store.artifacts import ArtifactMissing, get_json
from consent_sync.store.bus import publish
from consent_sync.store.jobs import JobStore
from devtools.operator import OperatorError
from devtools.stack import Stack
from devtools.uploads import put_text_lines

WAIT_TIMEOUT_S = 600.0

Progress = Callable[[int, int], None]
"""Called with (chunks done, chunks in all) while waiting."""


def request_check(
    stack: Stack,
    account_id: str,
    sendout_id: str,
    channel: str,
    stage: str,
    recipients: list[str],
) -> str:
    """Put the stage event (recipients inline, or through S3 when more than 1,000); return the check id."""
    if AccountStore(stack.table_name).get(account_id) is None:
        raise OperatorError("unknown_account", f"account {account_id!r} has no settings")
    check_id = f"{sendout_id}.{stage}.{datetime.now(UTC):%Y%m%dT%H%M%S}.{uuid.uuid4().hex[:6]}"
    detail: dict[str, Any] = {
        "account_id": account_id,
        "sendout_id": sendout_id,
        "channel": channel,
        "check_id": check_id,
    }
    if len(recipients) <= MAX_INLINE_RECIPIENTS:
        detail["recipients"] = recipients
    else:
        detail["recipients_uri"] = put_text_lines(
            stack.bucket, f"recipients/{account_id}/{check_id}.txt", recipients
        )
    model = SendoutChecklist if stage == "checklist" else SendoutSending
    publish(stack.bus_name, model.model_validate(detail), source=PLATFORM_SOURCE)
    return check_id


def wait_for_verdicts(
    stack: Stack, account_id: str, check_id: str, progress: Progress | None = None
) -> dict[str, Any]:
    """Poll the check's job until it is finished; return the results document."""
    jobs = JobStore(stack.table_name)
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while time.monotonic() < deadline:
        job = jobs.get(account_id, JobKind.SENDOUT, check_id)
        if job is not None and progress is not None and job.total_chunks is not None:
            progress(job.done_chunks, job.total_chunks)
        if job is not None and job.finished:
            # The job completes a moment before its last chunk has merged the results file.
            with contextlib.suppress(ArtifactMissing):
                return dict(get_json(f"s3://{stack.bucket}/results/{account_id}/{check_id}.json"))
        time.sleep(0.25)
    raise OperatorError("timeout", f"the check {check_id} did not finish within {WAIT_TIMEOUT_S:.0f} s")
