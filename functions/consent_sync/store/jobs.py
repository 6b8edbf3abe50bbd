"""Jobs (imports, sync runs, send-out checks) and their fan-in counters.

A job is fanned out into numbered chunks (``0 … total_chunks - 1``), each an SQS message that may be
delivered more than once. Fan-in is one item updated atomically:

- ``record_chunk`` adds a chunk's counters and its number in ONE conditional UpdateItem that fails
  when the number is already in ``chunk_set``, so a re-delivered chunk is counted once;
- ``try_complete`` flips ``status`` from ``running`` only when ``done_chunks = total_chunks``, so of
  all the callers (the fan-out after ``set_total``, every chunk after recording) exactly one wins and
  emits the completion event, whichever order the chunks and the total arrive in.

The account's jobs are listed newest first through ChangedIndex (``gsi1pk = JOBS#<account>#<kind>``,
``#<run kind>`` appended for runs, so a run of the 30-minute sync is not buried under the platform's
pushes; ``gsi1sk = <created_at>#<job_id>``): the last run or import of an account is one query
(:meth:`JobStore.latest`), never a scan. Jobs created before the index key existed are not listed.

Item: ``pk = JOB#<account>#<kind>#<job_id>``, ``sk = JOB``; ``status``, ``meta`` (JSON text),
``total_chunks``, ``done_chunks``, ``chunk_set`` / ``failed_chunk_set`` (number sets),
``count_<name>`` and ``skipped_<reason>`` (top-level numbers, because ADD only works on top-level
attributes), ``error``, times as stored strings and ``expires_at`` (epoch seconds, the table's TTL).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from consent_sync.domain.jobs import FAILED, Job
from consent_sync.domain.vocabulary import JobKind, JobStatus
from consent_sync.store.aws import dynamodb_table
from consent_sync.store.contacts import from_dynamo, is_condition_failure, parse_stored_time, stored_time

JOB_SK = "JOB"
RUNNING_INDEX_KEY = "JOBS#RUNNING"
"""PendingIndex partition of running jobs (sparse: a job leaves it when it completes)."""
OUTBOX_INDEX_KEY = "JOBS#OUTBOX"
"""PendingIndex partition of completed jobs whose completion event is not published yet (the outbox)."""
ANNOUNCE_LEASE = timedelta(minutes=2)
"""How long a claim to publish a completion holds before another caller may publish it."""
DEFAULT_RETENTION = timedelta(days=30)
"""How long a job item is kept (TTL): long enough for any ``--wait`` and for looking back at a run."""

COUNT_PREFIX = "count_"
SKIPPED_PREFIX = "skipped_"

# Counter names become attribute names; keep them to a safe, predictable alphabet.
_COUNTER_NAME = r"[a-z][a-z0-9_]{0,62}"  # compiled by `re` at first use


class ChunkRecorded(NamedTuple):
    """The result of recording a chunk: whether this call counted it, and the job afterwards."""

    counted: bool
    job: Job


class UnknownJob(LookupError):
    """No job with this account, kind and id exists."""


class ChunkOutOfRange(ValueError):
    """A chunk number at or beyond the job's ``total_chunks``: the fan-out numbered its chunks wrongly."""


class TotalMismatch(ValueError):
    """``set_total`` was called again with a different number of chunks."""


def history_key(account_id: str, kind: JobKind, run_kind: str | None = None) -> str:
    """The ChangedIndex partition of an account's jobs of one kind (and, for runs, one run kind)."""
    key = f"JOBS#{account_id}#{JobKind(kind).value}"
    return f"{key}#{run_kind}" if run_kind else key


def _check_counters(counts: Mapping[str, int]) -> None:
    for name, value in counts.items():
        if not re.fullmatch(_COUNTER_NAME, name):
            raise ValueError(f"invalid counter name: {name!r}")
        if value < 0:
            raise ValueError(f"counter {name!r} must not be negative")


_DESERIALIZER = TypeDeserializer()


def _old_item(error: ClientError) -> dict[str, Any] | None:
    """The item returned with a failed condition (ReturnValuesOnConditionCheckFailure), as plain values."""
    item = error.response.get("Item")
    if not item:
        return None
    # Error responses skip the resource's output transformation: values are still typed ({"S": …}).
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}


class JobStore:
    """Creates jobs and counts their chunks in.

    ``requests`` counts DynamoDB requests by operation (``PutItem``, ``UpdateItem``, ``GetItem``).
    """

    def __init__(self, table_name: str, retention: timedelta = DEFAULT_RETENTION) -> None:
        self._table = dynamodb_table(table_name)
        self._retention = retention
        self.requests: Counter[str] = Counter()

    @staticmethod
    def _key(account_id: str, kind: JobKind, job_id: str) -> dict[str, str]:
        return {"pk": f"JOB#{account_id}#{JobKind(kind).value}#{job_id}", "sk": JOB_SK}

    def create(self, account_id: str, kind: JobKind, job_id: str, meta: Mapping[str, Any]) -> bool:
        """Create the job with status ``running``; True when this call created it.

        Idempotent: for an id that already exists nothing changes and the result is False (the
        triggering event was delivered again).
        """
        now = datetime.now(UTC)
        item = {
            **self._key(account_id, kind, job_id),
            "account_id": account_id,
            "kind": JobKind(kind).value,
            "job_id": job_id,
            "status": JobStatus.RUNNING.value,
            # JSON text: meta is free-form, and as native values its numbers would come back as Decimals.
            "meta": json.dumps(dict(meta), sort_keys=True),
            "done_chunks": 0,
            "created_at": stored_time(now),
            "updated_at": stored_time(now),
            "expires_at": int((now + self._retention).timestamp()),
            # PendingIndex (sparse): running jobs, for the sweep of jobs whose chunks died silently.
            "gsi3pk": RUNNING_INDEX_KEY,
            "gsi3sk": f"{stored_time(now)}#{self._key(account_id, kind, job_id)['pk']}",
            # ChangedIndex: the account's jobs of this kind, newest last (`latest`).
            "gsi1pk": history_key(
                account_id, kind, meta.get("kind") if JobKind(kind) is JobKind.RUN else None
            ),
            "gsi1sk": f"{stored_time(now)}#{job_id}",
        }
        try:
            self.requests["PutItem"] += 1
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def latest(self, account_id: str, kind: JobKind, run_kind: str | None = None) -> Job | None:
        """The account's most recently created job of ``kind`` (of ``run_kind``, for runs), or None.

        One query of ChangedIndex (newest first, one key) and one read of the job.
        """
        self.requests["Query"] += 1
        page = self._table.query(
            IndexName="ChangedIndex",
            KeyConditionExpression=Key("gsi1pk").eq(history_key(account_id, kind, run_kind)),
            ScanIndexForward=False,
            Limit=1,
        )
        if not page["Items"]:
            return None
        key = page["Items"][0]
        self.requests["GetItem"] += 1
        item = self._table.get_item(Key={"pk": key["pk"], "sk": key["sk"]}, ConsistentRead=True).get("Item")
        return None if item is None else self._job(item)

    def get(self, account_id: str, kind: JobKind, job_id: str) -> Job | None:
        """The job, or None when unknown (strongly consistent)."""
        self.requests["GetItem"] += 1
        item = self._table.get_item(Key=self._key(account_id, kind, job_id), ConsistentRead=True).get("Item")
        return None if item is None else self._job(item)

    def set_total(self, account_id: str, kind: JobKind, job_id: str, total_chunks: int) -> Job:
        """Record how many chunks the job was fanned out into; repeating the same total is harmless.

        Call :meth:`try_complete` afterwards: the chunks may all have been counted already.
        Raises :class:`UnknownJob`, or :class:`TotalMismatch` for a different total than stored.
        """
        if total_chunks < 0:
            raise ValueError("total_chunks must not be negative")
        try:
            self.requests["UpdateItem"] += 1
            response = self._table.update_item(
                Key=self._key(account_id, kind, job_id),
                UpdateExpression="SET #total = :total, #updated = :now",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#total) OR #total = :total)",
                ExpressionAttributeNames={"#total": "total_chunks", "#updated": "updated_at"},
                ExpressionAttributeValues={":total": total_chunks, ":now": stored_time(datetime.now(UTC))},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            if _old_item(error) is None:
                raise UnknownJob(self._key(account_id, kind, job_id)["pk"]) from error
            raise TotalMismatch(f"job already has a different total than {total_chunks}") from error
        return self._job(response["Attributes"])

    def record_chunk(
        self,
        account_id: str,
        kind: JobKind,
        job_id: str,
        chunk_no: int,
        counters: Mapping[str, int],
        skipped: Mapping[str, int] | None = None,
    ) -> ChunkRecorded:
        """Add a processed chunk's counters to the job, once per chunk number.

        One conditional UpdateItem. A chunk already counted (a re-delivered message) changes nothing
        and returns ``counted=False`` with the job as it is. Call :meth:`try_complete` afterwards.
        Raises :class:`UnknownJob`, or :class:`ChunkOutOfRange` for a number at or beyond the total.
        """
        _check_counters(counters)
        _check_counters(skipped or {})
        adds = {COUNT_PREFIX + name: n for name, n in counters.items()}
        adds.update({SKIPPED_PREFIX + reason: n for reason, n in (skipped or {}).items()})
        return self._count_chunk(account_id, kind, job_id, chunk_no, adds, failed_chunk=False)

    def mark_chunk_failed(
        self, account_id: str, kind: JobKind, job_id: str, chunk_no: int, count: int
    ) -> ChunkRecorded:
        """Count a chunk that went to the dead-letter queue as done, with its ``count`` items failed.

        Same once-per-chunk guarantee as :meth:`record_chunk` (a chunk is either recorded or failed,
        never both). Call :meth:`try_complete` afterwards.
        """
        _check_counters({FAILED: count})
        adds = {COUNT_PREFIX + FAILED: count}
        return self._count_chunk(account_id, kind, job_id, chunk_no, adds, failed_chunk=True)

    def _count_chunk(
        self,
        account_id: str,
        kind: JobKind,
        job_id: str,
        chunk_no: int,
        adds: Mapping[str, int],
        *,
        failed_chunk: bool,
    ) -> ChunkRecorded:
        if chunk_no < 0:
            raise ValueError("chunk numbers start at 0")
        names = {
            "#done": "done_chunks",
            "#set": "chunk_set",
            "#total": "total_chunks",
            "#updated": "updated_at",
        }
        values: dict[str, Any] = {
            ":one": 1,
            ":chunk": chunk_no,
            ":chunks": {chunk_no},
            ":now": stored_time(datetime.now(UTC)),
        }
        clauses = ["#done :one", "#set :chunks"]
        for i, (attribute, n) in enumerate(adds.items()):
            names[f"#a{i}"] = attribute
            values[f":a{i}"] = n
            clauses.append(f"#a{i} :a{i}")
        if failed_chunk:
            names["#failed_set"] = "failed_chunk_set"
            clauses.append("#failed_set :chunks")
        try:
            self.requests["UpdateItem"] += 1
            response = self._table.update_item(
                Key=self._key(account_id, kind, job_id),
                UpdateExpression=f"ADD {', '.join(clauses)} SET #updated = :now",
                # contains() on a missing set is not true, so the first chunk needs attribute_not_exists.
                ConditionExpression=(
                    "attribute_exists(pk)"
                    " AND (attribute_not_exists(#set) OR NOT contains(#set, :chunk))"
                    " AND (attribute_not_exists(#total) OR :chunk < #total)"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            old = _old_item(error)
            if old is None:
                raise UnknownJob(self._key(account_id, kind, job_id)["pk"]) from error
            if chunk_no in old.get("chunk_set", set()):
                return ChunkRecorded(counted=False, job=self._job(old))
            raise ChunkOutOfRange(
                f"chunk {chunk_no} of a job with {old.get('total_chunks')} chunks"
            ) from error
        return ChunkRecorded(counted=True, job=self._job(response["Attributes"]))

    def try_complete(self, account_id: str, kind: JobKind, job_id: str) -> Job | None:
        """Complete the job if every chunk is counted; the completed job for exactly one caller.

        Returns None when chunks are outstanding, the total is not known yet, or another caller
        completed it: only the caller that gets the job back emits the completion event. Status is
        ``completed_with_errors`` when the ``failed`` counter is above zero, else ``completed``.
        """
        key = self._key(account_id, kind, job_id)
        ready = "#status = :running AND #done = #total"
        # Usually one request: the first attempt either completes a clean job or, failing, returns the
        # item, which tells whether the job is complete-with-failures or simply not finished.
        job = self._complete_if(key, f"{ready} AND (attribute_not_exists(#failed) OR #failed = :zero)", False)
        if isinstance(job, Job):
            return job
        if job is None:
            raise UnknownJob(key["pk"])
        old = job
        complete_with_errors = (
            old.get("status") == JobStatus.RUNNING.value
            and old.get("total_chunks") is not None
            and old.get("done_chunks") == old.get("total_chunks")
            and old.get(COUNT_PREFIX + FAILED, 0) > 0
        )
        if not complete_with_errors:
            return None
        job = self._complete_if(key, f"{ready} AND #failed > :zero", True)
        return job if isinstance(job, Job) else None

    def _complete_if(
        self, key: dict[str, str], condition: str, with_errors: bool
    ) -> Job | dict[str, Any] | None:
        """The completed job, or (condition failed) the item as it is, or None when there is no item."""
        status = JobStatus.COMPLETED_WITH_ERRORS if with_errors else JobStatus.COMPLETED
        now = stored_time(datetime.now(UTC))
        try:
            self.requests["UpdateItem"] += 1
            response = self._table.update_item(
                Key=key,
                UpdateExpression=(
                    "SET #status = :status, #completed = :now, #updated = :now, #ipk = :outbox, #isk = :isk"
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames={
                    "#status": "status",
                    "#done": "done_chunks",
                    "#total": "total_chunks",
                    "#failed": COUNT_PREFIX + FAILED,
                    "#completed": "completed_at",
                    "#updated": "updated_at",
                    "#ipk": "gsi3pk",
                    "#isk": "gsi3sk",
                },
                ExpressionAttributeValues={
                    ":running": JobStatus.RUNNING.value,
                    ":status": status.value,
                    ":zero": 0,
                    ":now": now,
                    ":outbox": OUTBOX_INDEX_KEY,
                    ":isk": f"{now}#{key['pk']}",
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            return _old_item(error)
        return self._job(response["Attributes"])

    def fail(self, account_id: str, kind: JobKind, job_id: str, error: str) -> bool:
        """Mark a running job ``failed`` (e.g. its members could not be listed); True when this call did.

        ``error`` is shown to operators: give the reason, never credentials or personal data.
        """
        key = self._key(account_id, kind, job_id)
        now = stored_time(datetime.now(UTC))
        try:
            self.requests["UpdateItem"] += 1
            self._table.update_item(
                Key=key,
                UpdateExpression=(
                    "SET #status = :failed, #error = :error, #completed = :now, #updated = :now,"
                    " #ipk = :outbox, #isk = :isk"
                ),
                ConditionExpression="#status = :running",
                ExpressionAttributeNames={
                    "#status": "status",
                    "#error": "error",
                    "#completed": "completed_at",
                    "#updated": "updated_at",
                    "#ipk": "gsi3pk",
                    "#isk": "gsi3sk",
                },
                ExpressionAttributeValues={
                    ":failed": JobStatus.FAILED.value,
                    ":running": JobStatus.RUNNING.value,
                    ":error": error,
                    ":now": now,
                    ":outbox": OUTBOX_INDEX_KEY,
                    ":isk": f"{now}#{key['pk']}",
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as client_error:
            if not is_condition_failure(client_error):
                raise
            if _old_item(client_error) is None:
                raise UnknownJob(key["pk"]) from client_error
            return False
        return True

    # -- the outbox and the sweep ------------------------------------------------------------------------

    def claim_announcement(self, job: Job, *, now: datetime | None = None) -> bool:
        """Claim the right to publish a completed job's event; False when it is published or claimed.

        The claim holds for `ANNOUNCE_LEASE`: a caller that dies after claiming leaves the job in the
        outbox, and the sweep publishes it once the claim has lapsed.
        """
        now = now or datetime.now(UTC)
        key = self._key(job.account_id, job.kind, job.job_id)
        try:
            self.requests["UpdateItem"] += 1
            self._table.update_item(
                Key=key,
                UpdateExpression="SET #claimed = :now",
                ConditionExpression="#ipk = :outbox AND (attribute_not_exists(#claimed) OR #claimed < :lapsed)",
                ExpressionAttributeNames={"#claimed": "announce_claimed_at", "#ipk": "gsi3pk"},
                ExpressionAttributeValues={
                    ":now": stored_time(now),
                    ":lapsed": stored_time(now - ANNOUNCE_LEASE),
                    ":outbox": OUTBOX_INDEX_KEY,
                },
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def release_claim(self, job: Job) -> None:
        """Publishing failed: let the next caller (a retry, the sweep) publish at once."""
        self.requests["UpdateItem"] += 1
        self._table.update_item(
            Key=self._key(job.account_id, job.kind, job.job_id),
            UpdateExpression="REMOVE #claimed",
            ExpressionAttributeNames={"#claimed": "announce_claimed_at"},
        )

    def mark_announced(self, job: Job) -> None:
        """The completion event is published: the job leaves the outbox."""
        self.requests["UpdateItem"] += 1
        self._table.update_item(
            Key=self._key(job.account_id, job.kind, job.job_id),
            UpdateExpression="SET #announced = :now REMOVE #ipk, #isk",
            ExpressionAttributeNames={"#announced": "announced_at", "#ipk": "gsi3pk", "#isk": "gsi3sk"},
            ExpressionAttributeValues={":now": stored_time(datetime.now(UTC))},
        )

    def in_outbox(self) -> list[Job]:
        """Completed jobs whose event is not published yet, oldest first."""
        return self._indexed(OUTBOX_INDEX_KEY)

    def running(self) -> list[Job]:
        """Jobs still running, oldest first."""
        return self._indexed(RUNNING_INDEX_KEY)

    def _indexed(self, partition: str) -> list[Job]:
        jobs: list[Job] = []
        kwargs: dict[str, Any] = {
            "IndexName": "PendingIndex",
            "KeyConditionExpression": Key("gsi3pk").eq(partition),
        }
        while True:
            self.requests["Query"] += 1
            page = self._table.query(**kwargs)
            for item in page["Items"]:
                self.requests["GetItem"] += 1
                full = self._table.get_item(Key={"pk": item["pk"], "sk": item["sk"]}, ConsistentRead=True)
                if "Item" in full:
                    jobs.append(self._job(full["Item"]))
            if "LastEvaluatedKey" not in page:
                return jobs
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def finish_stale(self, job: Job) -> Job | None:
        """Finish a running job whose missing chunks died without being counted (a worker killed by a
        timeout or out of memory on a chunk's last delivery): they count as failed, with their sizes
        from ``meta.chunk_sizes``. Conditional on the job not having moved since it was read; returns
        the finished job (now in the outbox), or None when it moved or finished meanwhile.
        """
        if job.status is not JobStatus.RUNNING:
            return None
        total = job.total_chunks or 0
        done = set(job.counted_chunks)
        missing = sorted(set(range(total)) - done)
        sizes = job.meta.get("chunk_sizes") or []
        failed = sum(int(sizes[i]) if i < len(sizes) else 0 for i in missing)
        now = stored_time(datetime.now(UTC))
        key = self._key(job.account_id, job.kind, job.job_id)
        names = {
            "#status": "status",
            "#updated": "updated_at",
            "#completed": "completed_at",
            "#done": "done_chunks",
            "#failed": COUNT_PREFIX + FAILED,
            "#ipk": "gsi3pk",
            "#isk": "gsi3sk",
            "#error": "error",
        }
        values: dict[str, Any] = {
            ":status": JobStatus.COMPLETED_WITH_ERRORS.value if total else JobStatus.FAILED.value,
            ":running": JobStatus.RUNNING.value,
            ":seen": stored_time(job.updated_at),
            ":now": now,
            ":n": len(missing),
            ":failed": failed,
            ":outbox": OUTBOX_INDEX_KEY,
            ":isk": f"{now}#{key['pk']}",
            ":error": f"{len(missing)} chunk(s) never finished (the worker stopped without counting them)",
        }
        update = (
            "SET #status = :status, #completed = :now, #updated = :now, #ipk = :outbox, #isk = :isk,"
            " #error = :error ADD #done :n, #failed :failed"
        )
        if missing:
            names["#set"] = "chunk_set"
            names["#failed_set"] = "failed_chunk_set"
            values[":missing"] = set(missing)
            update += ", #set :missing, #failed_set :missing"
        try:
            self.requests["UpdateItem"] += 1
            response = self._table.update_item(
                Key=key,
                UpdateExpression=update,
                ConditionExpression="#status = :running AND #updated = :seen",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return None
            raise
        return self._job(response["Attributes"])

    @staticmethod
    def _job(raw: Mapping[str, Any]) -> Job:
        item = from_dynamo(dict(raw))
        counters = {k.removeprefix(COUNT_PREFIX): v for k, v in item.items() if k.startswith(COUNT_PREFIX)}
        skipped = {k.removeprefix(SKIPPED_PREFIX): v for k, v in item.items() if k.startswith(SKIPPED_PREFIX)}
        completed_at = item.get("completed_at")
        return Job(
            account_id=item["account_id"],
            kind=JobKind(item["kind"]),
            job_id=item["job_id"],
            status=JobStatus(item["status"]),
            meta=json.loads(item.get("meta") or "{}"),
            total_chunks=item.get("total_chunks"),
            done_chunks=item.get("done_chunks", 0),
            counters=counters,
            skipped=skipped,
            failed_chunks=item.get("failed_chunk_set", []),
            counted_chunks=item.get("chunk_set", []),
            announced_at=None
            if item.get("announced_at") is None
            else parse_stored_time(item["announced_at"]),
            error=item.get("error"),
            created_at=parse_stored_time(item["created_at"]),
            updated_at=parse_stored_time(item["updated_at"]),
            completed_at=None if completed_at is None else parse_stored_time(completed_at),
        )
