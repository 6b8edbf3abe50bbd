"""Helpers for the import tests: configure an account, run an import through the real functions, read
what it did (the job, the contacts, the decision log, the `Import Completed` events)."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from consent_sync.domain.consent import WITHDRAWN
from consent_sync.domain.contact import Contact, DecisionRecord
from consent_sync.domain.emails import InvalidEmail, validate_email
from consent_sync.domain.jobs import Job
from consent_sync.store.contacts import ContactStore
from consent_sync.store.decisions import DecisionLog
from consent_sync.store.jobs import JobStore
from devtools.local import LocalStack
from devtools.simulator.testing import SimulatorHandle
from tests.integration.conftest import Platform

REGION = "eu-west-1"


@pytest.fixture
def importer(consent_stack: LocalStack, platform: Platform, simulator: SimulatorHandle) -> Importer:
    """An importer on the module's stack and simulator, with the simulator behaving (and no tenant held
    by a Retry-After an earlier test's faults left in the shared budget)."""
    simulator.control.clear_faults()
    consent_stack.forget_tenant_budgets()
    return Importer(consent_stack, platform, simulator)


@dataclass
class Importer:
    """Drives imports through the real ImportFunction and ReconcileFunction of a local stack."""

    stack: LocalStack
    platform: Platform
    simulator: SimulatorHandle

    @property
    def table(self) -> str:
        return str(self.stack.outputs["ConsentTableName"])

    def account(self, account_id: str, *, sync: bool = True) -> str:
        """An on-site account on the simulator, legal-basis sync on or off."""
        settings = self.platform.onsite_settings(account_id, self.simulator, legal_basis_sync=sync)
        self.platform.send("Integration Settings Updated", settings)
        self.stack.runtime.drain()
        return account_id

    def request(
        self, account_id: str, kind: str, source_id: int, *, only_emarketing: bool = False
    ) -> dict[str, Any]:
        import_id = f"imp-{uuid.uuid4().hex[:10]}"
        return {
            "account_id": account_id,
            "import_id": import_id,
            "source": {"kind": kind, "id": source_id},
            "only_emarketing_consented": only_emarketing,
        }

    def run(
        self,
        account_id: str,
        kind: str,
        source_id: int,
        *,
        only_emarketing: bool = False,
        timeout: float = 30,
    ) -> Job:
        """Put `Import Requested` on the bus, deliver everything, return the finished job."""
        detail = self.request(account_id, kind, source_id, only_emarketing=only_emarketing)
        self.platform.send("Import Requested", detail)
        self.stack.runtime.drain(timeout=timeout)
        return self.job(account_id, detail["import_id"])

    def start(self, detail: dict[str, Any]) -> Any:
        """Invoke the ImportFunction directly: its chunks wait on the queue until the runtime pumps it."""
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Import Requested",
            "source": "marketing.platform",
            "account": "123456789012",
            "time": "2026-11-22T10:00:00Z",
            "region": REGION,
            "resources": [],
            "detail": detail,
        }
        return self.stack.runtime.invoke("ImportFunction", event)

    def job(self, account_id: str, import_id: str) -> Job:
        job = JobStore(self.table).get(account_id, "import", import_id)
        assert job is not None, "the import job was never created"
        return job

    def contact(self, account_id: str, email: str) -> Contact:
        contact = ContactStore(self.table).get(account_id, email)
        assert contact is not None, "no such contact"
        return contact

    def decisions(self, account_id: str, email: str) -> list[DecisionRecord]:
        return DecisionLog(self.table).for_contact(account_id, email)

    def superoffice_requests(self) -> int:
        """Requests the tenant API served (control and status counters left out)."""
        counts = self.simulator.control.counts()
        return sum(n for key, n in counts.items() if not key.startswith("status:"))


def summary(job: Job) -> dict[str, Any]:
    """The counts an import job ends with, in the shape of `Import Completed` (without ids)."""
    return {
        "status": job.status.value,
        "members": job.meta["members"],
        "created": job.counters.get("created", 0),
        "updated": job.counters.get("updated", 0),
        "duplicates": job.counters.get("duplicates", 0),
        "failed": job.failed,
        "skipped": {reason: n for reason, n in job.skipped.items() if n},
    }


def expected_summary(
    sim: SimulatorHandle, person_ids: list[int], *, only_emarketing: bool = False
) -> dict[str, Any]:
    """What importing these persons into an empty account must count, worked out from the CRM itself.

    Members are grouped by e-mail; each group's contact is linked to the oldest person with that address
    anywhere in the CRM. That person, if a member, counts as created, the other members as duplicates.
    With the e-marketing filter, a group whose oldest person has no active e-marketing consent is not
    imported: the oldest counts as skipped, the others still as duplicates.
    """
    skipped: Counter[str] = Counter()
    groups: dict[str, list[int]] = {}
    for person_id in person_ids:
        person = sim.control.person(person_id)
        assert person is not None
        if not person["primary_email"]:
            skipped["no_email"] += 1
            continue
        try:
            email = validate_email(person["primary_email"])
        except InvalidEmail:
            skipped["invalid_email"] += 1
            continue
        groups.setdefault(email, []).append(person_id)
    created = duplicates = 0
    for email, members in groups.items():
        everyone = sim.control.persons_by_email(email)
        oldest = min(everyone, key=lambda p: (sim.control.person(p)["registered"], p))  # type: ignore[index]
        emarketing = sim.control.consent(oldest, "EMARKETING")
        excluded = only_emarketing and (emarketing is None or emarketing["LegalBaseKey"] == WITHDRAWN)
        for member in dict.fromkeys(members):
            if member != oldest:
                duplicates += 1
            elif excluded:
                skipped["no_emarketing_consent"] += 1
            else:
                created += 1
    return {
        "status": "completed",
        "members": len(person_ids),
        "created": created,
        "updated": 0,
        "duplicates": duplicates,
        "failed": 0,
        "skipped": dict(skipped),
    }


def selection_persons(sim: SimulatorHandle, selection_id: int) -> list[int]:
    return [person for person, _ in sim.control.selection_members(selection_id) if person]


def project_persons(sim: SimulatorHandle, project_id: int) -> list[int]:
    # SuperOffice leaves retired persons out of project members.
    members = [m["person_id"] for m in sim.control.project_members(project_id)]
    return [p for p in members if not sim.control.person(p)["retired"]]  # type: ignore[index]
