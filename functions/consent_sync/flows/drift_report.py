"""The dry run of an account's sync (`consent-sync sync ACCOUNT --dry-run`): what a run would change, and
nothing changed.

It selects what a real run would (`sync_run.select_run`: SuperOffice's consent rows changed since the
watermark minus the overlap, the contacts the platform changed since then, the pushes still owed; a
baseline without a watermark), cuts it into the run's chunks, and plans each chunk as the worker does
(`reconcile_chunk.plan_chunk`: the same bulk reads and the same pure rules), then classifies the plans
(`domain.drift`). No write on either side: no SuperOffice PUT, and no contact, decision, job or
watermark written. The only DynamoDB writes are the tenant's shared SuperOffice request budget
(`store.budget`), which every caller of the tenant takes from so that the tenant never gets more than
its rate, a dry run included.

Run right before a real one with nothing changed in between, the real run pushes and pulls exactly
what the report lists (only a push that fails can differ: it stays owed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consent_sync.config import FunctionConfig
from consent_sync.domain.drift import DEFAULT_SAMPLES, DriftReport, contact_drift
from consent_sync.domain.vocabulary import RunKind
from consent_sync.events import SyncRequested
from consent_sync.flows.connect import open_superoffice
from consent_sync.flows.reconcile_chunk import Stores, plan_chunk
from consent_sync.flows.sync_run import changed_person_ids, plan_chunks, run_kind, select_run

DRY_RUN_ID = "dry-run"
WRITES = (
    "none: no SuperOffice write, no contact, decision, job or watermark written; "
    "SuperOffice calls take from the tenant's shared request budget in DynamoDB, which protects the tenant"
)


class DryRunRefused(RuntimeError):
    """The account cannot be dry-run (`code`: ``unknown_account``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class DryRun:
    """What a run of the account would do now."""

    account_id: str
    kind: RunKind
    syncs: bool
    watermark: datetime | None = None
    since: datetime | None = None
    person_ids: int = 0
    emails: int = 0
    report: DriftReport = field(default_factory=DriftReport)
    superoffice_calls: dict[str, int] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """The JSON document of `sync ACCOUNT --dry-run --json` (docs/cli.md)."""
        return {
            "account_id": self.account_id,
            "dry_run": True,
            "kind": self.kind.value,
            "syncs": self.syncs,
            "watermark": None if self.watermark is None else self.watermark.isoformat(),
            "since": None if self.since is None else self.since.isoformat(),
            "selected": {"person_ids": self.person_ids, "emails": self.emails},
            **self.report.document(),
            "superoffice_calls": self.superoffice_calls,
            "writes": WRITES,
        }


def dry_run(
    config: FunctionConfig, account_id: str, *, baseline: bool = False, sample_size: int = DEFAULT_SAMPLES
) -> DryRun:
    """Plan the account's run as `sync_run.run_account` and the worker would, and report it."""
    stores = Stores.of(config)
    settings = stores.accounts.get(account_id)
    if settings is None:
        raise DryRunRefused("unknown_account", f"account {account_id!r} has no settings")
    watermark = stores.accounts.sync_watermark(account_id)
    request = SyncRequested(account_id=account_id, baseline=baseline)
    report = DriftReport(sample_size=sample_size)
    if not settings.syncs:
        # A real run of such an account completes at once with zeros and calls nothing.
        kind = RunKind.BASELINE if baseline else RunKind.REQUESTED
        return DryRun(account_id, kind, syncs=False, watermark=watermark, report=report)
    kind = run_kind(request, watermark)
    with open_superoffice(settings, config) as client:
        selection = select_run(
            settings,
            kind,
            watermark,
            stores.contacts,
            lambda since: changed_person_ids(client.consent_rows_changed_since(since)),
        )
        chunks = plan_chunks(
            account_id, kind, DRY_RUN_ID, selection.person_ids, selection.emails, config.chunk_size
        )
        for chunk in chunks:
            for planned in plan_chunk(chunk, settings, client, stores):
                report.add(contact_drift(planned.email, planned.contact, planned.superoffice, planned.plan))
        calls = dict(client.calls)
    return DryRun(
        account_id,
        kind,
        syncs=True,
        watermark=watermark,
        since=selection.since,
        person_ids=len(selection.person_ids),
        emails=len(selection.emails),
        report=report,
        superoffice_calls=calls,
    )
