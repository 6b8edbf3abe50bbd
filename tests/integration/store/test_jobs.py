"""JobStore against DynamoDB (moto server): once-per-chunk counting and a single completion winner."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from consent_sync.domain.vocabulary import JobKind, JobStatus
from consent_sync.store.jobs import ChunkOutOfRange, JobStore, TotalMismatch, UnknownJob

ACCOUNT = "acme"


def test_create_is_idempotent(table_name: str) -> None:
    jobs = JobStore(table_name)
    assert jobs.create(ACCOUNT, JobKind.IMPORT, "imp-1", {"source": {"kind": "selection", "id": 7}})
    assert not jobs.create(ACCOUNT, JobKind.IMPORT, "imp-1", {"source": "changed"})

    job = jobs.get(ACCOUNT, "import", "imp-1")
    assert job is not None
    assert job.status is JobStatus.RUNNING
    assert job.meta == {"source": {"kind": "selection", "id": 7}}
    assert (job.total_chunks, job.done_chunks, job.counters, job.skipped) == (None, 0, {}, {})
    assert jobs.get(ACCOUNT, JobKind.RUN, "imp-1") is None


def test_a_chunk_recorded_twice_is_counted_once(table_name: str) -> None:
    # Given a job of two chunks
    jobs = JobStore(table_name)
    jobs.create(ACCOUNT, JobKind.IMPORT, "imp-2", {})
    jobs.set_total(ACCOUNT, JobKind.IMPORT, "imp-2", 2)

    # When chunk 0 is delivered twice
    first = jobs.record_chunk(
        ACCOUNT, JobKind.IMPORT, "imp-2", 0, {"created": 3, "updated": 1}, {"no_email": 2}
    )
    again = jobs.record_chunk(
        ACCOUNT, JobKind.IMPORT, "imp-2", 0, {"created": 3, "updated": 1}, {"no_email": 2}
    )

    # Then the second changes nothing, and the job is not complete yet
    assert first.counted
    assert not again.counted
    assert again.job == first.job
    assert first.job.done_chunks == 1
    assert first.job.counters == {"created": 3, "updated": 1}
    assert first.job.skipped == {"no_email": 2}
    assert jobs.try_complete(ACCOUNT, JobKind.IMPORT, "imp-2") is None
    assert jobs.requests["UpdateItem"] == 4

    # When the last chunk arrives, the job completes once
    jobs.record_chunk(ACCOUNT, JobKind.IMPORT, "imp-2", 1, {"created": 1}, {"invalid_email": 1})
    done = jobs.try_complete(ACCOUNT, JobKind.IMPORT, "imp-2")
    assert done is not None
    assert done.status is JobStatus.COMPLETED
    assert done.counters == {"created": 4, "updated": 1}
    assert done.skipped == {"no_email": 2, "invalid_email": 1}
    assert done.completed_at is not None
    assert jobs.try_complete(ACCOUNT, JobKind.IMPORT, "imp-2") is None
    # And a late duplicate still changes nothing
    assert not jobs.record_chunk(ACCOUNT, JobKind.IMPORT, "imp-2", 1, {"created": 1}).counted
    assert jobs.get(ACCOUNT, JobKind.IMPORT, "imp-2") == done.model_copy(
        update={"updated_at": done.updated_at}
    )


@pytest.mark.parametrize("only_when_it_may", [False, True], ids=["always", "only-when-may-complete"])
def test_concurrent_chunks_complete_exactly_once(table_name: str, only_when_it_may: bool) -> None:
    # Given a run of 24 chunks whose total is known
    jobs = JobStore(table_name)
    jobs.create(ACCOUNT, JobKind.RUN, "run-1", {"kind": "scheduled"})
    jobs.set_total(ACCOUNT, JobKind.RUN, "run-1", 24)
    assert jobs.try_complete(ACCOUNT, JobKind.RUN, "run-1") is None

    # When every chunk is recorded twice (re-deliveries) from 8 threads, each then trying to complete
    # (always, or as the worker does: only when its recording left the job ready to complete)
    def worker(chunk_no: int) -> bool:
        store = JobStore(table_name)
        recorded = store.record_chunk(
            ACCOUNT, JobKind.RUN, "run-1", chunk_no, {"reconciled": 10, "pushed": 1}
        )
        if only_when_it_may and not recorded.job.may_complete:
            return False
        return store.try_complete(ACCOUNT, JobKind.RUN, "run-1") is not None

    with ThreadPoolExecutor(max_workers=8) as pool:
        winners = list(pool.map(worker, [n for n in range(24) for _ in range(2)]))

    # Then exactly one caller completed it, and every chunk was counted once
    assert winners.count(True) == 1
    job = jobs.get(ACCOUNT, JobKind.RUN, "run-1")
    assert job is not None
    assert job.status is JobStatus.COMPLETED
    assert (job.done_chunks, job.counters) == (24, {"reconciled": 240, "pushed": 24})


def test_chunks_before_the_total_complete_at_set_total(table_name: str) -> None:
    # Given chunks that finish before the fan-out records how many there are
    jobs = JobStore(table_name)
    jobs.create(ACCOUNT, JobKind.SENDOUT, "s-1", {})
    for chunk_no in range(3):
        recorded = jobs.record_chunk(ACCOUNT, JobKind.SENDOUT, "s-1", chunk_no, {"allowed": 5})
        assert not recorded.job.may_complete  # no total yet: set_total's caller will try
        assert jobs.try_complete(ACCOUNT, JobKind.SENDOUT, "s-1") is None

    # When the total is set, the fan-out is the one that completes it
    jobs.set_total(ACCOUNT, JobKind.SENDOUT, "s-1", 3)
    assert jobs.set_total(ACCOUNT, JobKind.SENDOUT, "s-1", 3).total_chunks == 3
    done = jobs.try_complete(ACCOUNT, JobKind.SENDOUT, "s-1")
    assert done is not None
    assert done.status is JobStatus.COMPLETED
    with pytest.raises(TotalMismatch):
        jobs.set_total(ACCOUNT, JobKind.SENDOUT, "s-1", 4)


def test_an_empty_job_completes_at_once(table_name: str) -> None:
    jobs = JobStore(table_name)
    jobs.create(ACCOUNT, JobKind.IMPORT, "empty", {})
    jobs.set_total(ACCOUNT, JobKind.IMPORT, "empty", 0)
    done = jobs.try_complete(ACCOUNT, JobKind.IMPORT, "empty")
    assert done is not None
    assert (done.status, done.done_chunks, done.counters) == (JobStatus.COMPLETED, 0, {})


def test_failed_chunks_complete_with_errors(table_name: str) -> None:
    # Given a job of three chunks, one of which went to the dead-letter queue (reported twice)
    jobs = JobStore(table_name)
    jobs.create(ACCOUNT, JobKind.IMPORT, "imp-3", {})
    jobs.set_total(ACCOUNT, JobKind.IMPORT, "imp-3", 3)
    jobs.record_chunk(ACCOUNT, JobKind.IMPORT, "imp-3", 0, {"created": 2, "failed": 1})
    assert jobs.mark_chunk_failed(ACCOUNT, JobKind.IMPORT, "imp-3", 1, 200).counted
    assert not jobs.mark_chunk_failed(ACCOUNT, JobKind.IMPORT, "imp-3", 1, 200).counted
    # A chunk counted as failed is not counted again when a late success arrives
    assert not jobs.record_chunk(ACCOUNT, JobKind.IMPORT, "imp-3", 1, {"created": 200}).counted
    assert jobs.try_complete(ACCOUNT, JobKind.IMPORT, "imp-3") is None

    # When the last chunk is recorded
    jobs.record_chunk(ACCOUNT, JobKind.IMPORT, "imp-3", 2, {"created": 1})
    done = jobs.try_complete(ACCOUNT, JobKind.IMPORT, "imp-3")

    # Then the job completed with errors, once
    assert done is not None
    assert done.status is JobStatus.COMPLETED_WITH_ERRORS
    assert done.failed == 201
    assert done.failed_chunks == [1]
    assert done.counters == {"created": 3, "failed": 201}
    assert jobs.try_complete(ACCOUNT, JobKind.IMPORT, "imp-3") is None


def test_fail_marks_a_running_job_once(table_name: str) -> None:
    jobs = JobStore(table_name)
    jobs.create(ACCOUNT, JobKind.IMPORT, "imp-4", {})
    assert jobs.fail(ACCOUNT, JobKind.IMPORT, "imp-4", "superoffice_unavailable")
    assert not jobs.fail(ACCOUNT, JobKind.IMPORT, "imp-4", "again")
    job = jobs.get(ACCOUNT, JobKind.IMPORT, "imp-4")
    assert job is not None
    assert (job.status, job.error) == (JobStatus.FAILED, "superoffice_unavailable")


def test_misuse_is_refused(table_name: str) -> None:
    jobs = JobStore(table_name)
    with pytest.raises(UnknownJob):
        jobs.record_chunk(ACCOUNT, JobKind.RUN, "nope", 0, {"pushed": 1})
    with pytest.raises(UnknownJob):
        jobs.set_total(ACCOUNT, JobKind.RUN, "nope", 1)
    with pytest.raises(UnknownJob):
        jobs.try_complete(ACCOUNT, JobKind.RUN, "nope")
    assert jobs.get(ACCOUNT, JobKind.RUN, "nope") is None

    jobs.create(ACCOUNT, JobKind.RUN, "r", {})
    jobs.set_total(ACCOUNT, JobKind.RUN, "r", 2)
    with pytest.raises(ChunkOutOfRange):
        jobs.record_chunk(ACCOUNT, JobKind.RUN, "r", 2, {"pushed": 1})
    with pytest.raises(ValueError, match="counter name"):
        jobs.record_chunk(ACCOUNT, JobKind.RUN, "r", 0, {"Bad Name": 1})
    with pytest.raises(ValueError, match="negative"):
        jobs.record_chunk(ACCOUNT, JobKind.RUN, "r", 0, {"pushed": -1})
    job = jobs.get(ACCOUNT, JobKind.RUN, "r")
    assert job is not None
    assert (job.done_chunks, job.counters) == (0, {})


def test_latest_is_the_accounts_newest_job_of_a_kind_and_run_kind(table_name: str) -> None:
    # Given two scheduled runs, a platform push after them, an import, and another account's run
    jobs = JobStore(table_name)
    assert jobs.latest(ACCOUNT, JobKind.RUN, "scheduled") is None
    jobs.create(ACCOUNT, JobKind.RUN, "run-1", {"kind": "scheduled"})
    jobs.create(ACCOUNT, JobKind.RUN, "run-2", {"kind": "scheduled"})
    jobs.create(ACCOUNT, JobKind.RUN, "push-1", {"kind": "platform"})
    jobs.create(ACCOUNT, JobKind.IMPORT, "imp-1", {"source": {"kind": "selection", "id": 7}})
    jobs.create("other", JobKind.RUN, "run-3", {"kind": "scheduled"})
    jobs.set_total(ACCOUNT, JobKind.RUN, "run-2", 0)
    jobs.try_complete(ACCOUNT, JobKind.RUN, "run-2")

    # Then each is found by its own key, with the job as it is now, in one query and one read
    jobs.requests.clear()
    latest = jobs.latest(ACCOUNT, JobKind.RUN, "scheduled")
    assert latest is not None
    assert (latest.job_id, latest.status) == ("run-2", JobStatus.COMPLETED)
    assert (jobs.requests["Query"], jobs.requests["GetItem"]) == (1, 1)
    assert getattr(jobs.latest(ACCOUNT, JobKind.RUN, "platform"), "job_id", None) == "push-1"
    assert getattr(jobs.latest(ACCOUNT, JobKind.IMPORT), "job_id", None) == "imp-1"
    assert jobs.latest(ACCOUNT, JobKind.RUN, "baseline") is None
    assert getattr(jobs.latest("other", JobKind.RUN, "scheduled"), "job_id", None) == "run-3"
