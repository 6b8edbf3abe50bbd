"""Starting an import: list the members of a selection or project, fan their person ids out in chunks.

Listing is one Members call for a selection and keyset-paged calls for a project; company rows without
a person are not members. The chunks go to the reconcile queue tagged with the import's job; the job
item counts them in, and the reconcile worker that counts the last one announces `Import Completed`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from aws_lambda_powertools.metrics import MetricUnit

from consent_sync.config import FunctionConfig, get_config
from consent_sync.domain.errors import Rejected
from consent_sync.domain.jobs import chunked
from consent_sync.domain.settings import AccountSettings
from consent_sync.domain.vocabulary import JobKind
from consent_sync.events import ImportRequested, JobRef, ReconcileChunk, SourceKind
from consent_sync.flows import completion
from consent_sync.flows.connect import open_superoffice
from consent_sync.flows.fanout import start_job
from consent_sync.observability import logger, metrics
from consent_sync.store.accounts import AccountStore
from consent_sync.store.jobs import JobStore
from consent_sync.superoffice import NotFound

if TYPE_CHECKING:
    # The client and its models come with the first client opened (flows.connect), not at import.
    from consent_sync.superoffice import ListedPerson, SuperOfficeClient


def list_members(client: SuperOfficeClient, request: ImportRequested) -> list[ListedPerson]:
    """The persons of the requested selection or project (raises ``NotFound`` when it does not exist)."""
    if request.source.kind is SourceKind.SELECTION:
        return client.selection_members(request.source.id)
    return client.project_members(request.source.id)


def import_meta(request: ImportRequested, members: int | None) -> dict[str, Any]:
    """The job's meta: what was imported, and how many members were listed."""
    meta: dict[str, Any] = {
        "source": request.source.model_dump(mode="json"),
        "only_emarketing_consented": request.only_emarketing_consented,
    }
    if members is not None:
        meta[completion.MEMBERS] = members
    return meta


def import_requested(request: ImportRequested, event_id: str) -> dict[str, Any]:
    """`Import Requested`: refused for an unknown account or integration `none`, else started."""
    config = get_config()
    settings = AccountStore(config.table_name).require(request.account_id)
    if not settings.talks_to_superoffice:
        raise Rejected(
            "integration_none", "the account's integration is none: nothing is read from SuperOffice"
        )
    logger.info("import requested", extra={"account_id": request.account_id, "import_id": request.import_id})
    return start_import(request, settings, config)


def start_import(
    request: ImportRequested, settings: AccountSettings, config: FunctionConfig
) -> dict[str, Any]:
    """List the members and fan them out; returns what the import function reports.

    SuperOffice unreachable while listing raises (Lambda retries the event). A selection or project
    that does not exist is refused as ``unknown_source``; its job is recorded as failed first, and
    `Import Completed` says so, so whoever waits for the import learns why.
    """
    jobs = JobStore(config.table_name)
    existing = jobs.get(request.account_id, JobKind.IMPORT, request.import_id)
    if existing is not None and existing.finished:
        # The same event again (a retry or a replay): the import is done, nothing to redo.
        logger.info("import already finished", extra={"import_id": request.import_id})
        return {
            "status": "already_finished",
            "import_id": request.import_id,
            "job_status": existing.status.value,
        }
    with open_superoffice(settings, config) as client:
        try:
            members = list_members(client, request)
        except NotFound:
            _refuse_unknown_source(jobs, request)
        calls = dict(client.calls)
    person_ids = [member.person_id for member in members]
    chunks = [
        ReconcileChunk(
            account_id=request.account_id,
            trigger="import",
            job=JobRef(kind="import", id=request.import_id, chunk_no=number),
            person_ids=ids,
            only_emarketing_consented=request.only_emarketing_consented,
        )
        for number, ids in enumerate(chunked(person_ids, config.chunk_size))
    ]
    start_job(
        config,
        request.account_id,
        JobKind.IMPORT,
        request.import_id,
        chunks,
        meta=import_meta(request, len(person_ids)),
    )
    metrics.add_metric(name="ImportMembersQueued", unit=MetricUnit.Count, value=len(person_ids))
    logger.info(
        "import fanned out",
        extra={
            "account_id": request.account_id,
            "import_id": request.import_id,
            "members": len(person_ids),
            "chunks": len(chunks),
            "superoffice_calls": calls,
        },
    )
    return {
        "status": "started",
        "import_id": request.import_id,
        "members": len(person_ids),
        "chunks": len(chunks),
    }


def _refuse_unknown_source(jobs: JobStore, request: ImportRequested) -> NoReturn:
    source = f"{request.source.kind.value} {request.source.id}"
    message = f"SuperOffice has no {source}"
    jobs.create(request.account_id, JobKind.IMPORT, request.import_id, import_meta(request, None))
    if jobs.fail(request.account_id, JobKind.IMPORT, request.import_id, message):
        failed = jobs.get(request.account_id, JobKind.IMPORT, request.import_id)
        assert failed is not None  # just created and failed
        completion.announce(failed)
    raise Rejected("unknown_source", message)
