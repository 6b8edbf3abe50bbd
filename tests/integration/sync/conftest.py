"""Helpers for the sync run and platform-change tests: accounts, linked contacts, runs, outgoing events."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consent_sync.domain.consent import ConsentState
from consent_sync.domain.contact import Card, Contact, StoredConsent
from consent_sync.domain.emails import normalise_email
from consent_sync.domain.jobs import Job
from consent_sync.domain.settings import AccountSettings
from consent_sync.domain.vocabulary import JobKind, Purpose, Side
from consent_sync.store.accounts import AccountStore
from consent_sync.store.contacts import ContactStore
from consent_sync.store.jobs import JobStore
from devtools.local import LocalStack
from devtools.local.outgoing import OutgoingEvents as Outgoing
from devtools.simulator.testing import SimulatorHandle, consent_state
from tests.integration.conftest import Platform

# Fast enough for tests, still paced like a real tenant's budget.
TEST_REQUESTS_PER_SECOND = 50


def superoffice_state(simulator: SimulatorHandle, person_id: int, purpose: str) -> ConsentState | None:
    """The person's consent as SuperOffice holds it (change time = max(Registered, Updated), UTC)."""
    return consent_state(simulator.control.consent(person_id, purpose))


class People:
    """Hands out simulator persons no other test of the module uses: with an e-mail of their own."""

    def __init__(self, simulator: SimulatorHandle) -> None:
        self.simulator = simulator
        self._next = itertools.count(1)

    def take(self) -> tuple[int, str]:
        """A fresh (person id, normalised e-mail) whose e-mail no other person has."""
        for person_id in self._next:
            person = self.simulator.control.person(person_id)
            if person is None:
                raise LookupError("the simulator has no more persons")
            email = person["primary_email"]
            if email and len(self.simulator.control.persons_by_email(email)) == 1:
                return person_id, normalise_email(email)
        raise LookupError("unreachable")

    def duplicated(self) -> tuple[str, int, list[int]]:
        """An e-mail several persons share: (e-mail, the oldest person, the others)."""
        for person_id in range(300, 0, -1):
            person = self.simulator.control.person(person_id)
            if person and person["primary_email"]:
                ids = self.simulator.control.persons_by_email(person["primary_email"])
                if len(ids) > 1:
                    oldest = min(
                        ids,
                        key=lambda i: (self.simulator.control.person(i)["registered"], i),  # type: ignore[index]
                    )
                    return normalise_email(person["primary_email"]), oldest, sorted(set(ids) - {oldest})
        raise LookupError("the seeded CRM has no duplicate e-mails")


class SyncWorld:
    """The local stack, the simulator and the platform, with what the sync tests do to them."""

    def __init__(self, stack: LocalStack, simulator: SimulatorHandle, platform: Platform) -> None:
        self.stack = stack
        self.simulator = simulator
        self.platform = platform
        self.table = stack.outputs["ConsentTableName"]
        self.contacts = ContactStore(self.table)
        self.accounts = AccountStore(self.table)
        self.jobs = JobStore(self.table)

    # -- Given ----------------------------------------------------------------------------------------

    def settings(self, account_id: str, **overrides: Any) -> dict[str, Any]:
        settings = self.platform.onsite_settings(account_id, self.simulator, **overrides)
        if settings.get("superoffice"):
            settings["superoffice"]["requests_per_second"] = TEST_REQUESTS_PER_SECOND
        return settings

    def store_settings(self, account_id: str, **overrides: Any) -> AccountSettings:
        """Settings written straight to the store (no baseline run is started)."""
        settings = AccountSettings.model_validate(self.settings(account_id, **overrides))
        self.accounts.save(settings)
        return settings

    def link(
        self,
        account_id: str,
        person_id: int,
        email: str,
        *,
        in_step: bool = True,
        duplicates: list[int] | None = None,
    ) -> Contact:
        """A contact linked to the person, as an import leaves it (in step: SuperOffice's states copied)."""
        consents: dict[Purpose, StoredConsent] = {}
        if in_step:
            for purpose in Purpose:
                state = superoffice_state(self.simulator, person_id, purpose.value)
                if state is not None:
                    consents[purpose] = StoredConsent.of(state, Side.SUPEROFFICE)
        person = self.simulator.control.person(person_id)
        assert person is not None
        contact = Contact(
            account_id=account_id,
            email=email,
            card=Card(email_display=person["primary_email"]),
            superoffice_person_id=person_id,
            # What the import records, so that the worker can tell an older duplicate from a newer one.
            superoffice_registered_at=datetime.fromisoformat(person["registered"]).replace(tzinfo=UTC),
            duplicate_person_ids=duplicates or [],
            consents=consents,
        )
        return self.contacts.put_new(contact)

    def account_in_step(
        self, account_id: str, people: People, count: int, **overrides: Any
    ) -> list[tuple[int, str]]:
        """An account whose settings went through the settings function (sync on: its baseline ran),
        with `count` linked contacts in step with SuperOffice, each with `EMARKETING` 61A since yesterday."""
        yesterday = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
        linked = [people.take() for _ in range(count)]
        for person_id, email in linked:
            self.simulator.control.set_consent(person_id, "EMARKETING", "61A", source="WEBFORM", at=yesterday)
            self.link(account_id, person_id, email)
        self.platform.send("Integration Settings Updated", self.settings(account_id, **overrides))
        self.drain()
        return linked

    # -- When -----------------------------------------------------------------------------------------

    def drain(self) -> None:
        self.stack.runtime.drain(timeout=30)

    def request_sync(self, account_id: str, *, baseline: bool = False) -> str:
        run_id = f"t-{uuid.uuid4().hex[:10]}"
        self.platform.send(
            "Sync Requested", {"account_id": account_id, "baseline": baseline, "run_id": run_id}
        )
        self.drain()
        return run_id

    def platform_change(
        self,
        account_id: str,
        email: str,
        purpose: str,
        legal_base: str,
        at: datetime,
        source: str = "WEBFORM",
    ) -> None:
        self.platform.send(
            "Contact Consent Changed",
            {
                "account_id": account_id,
                "email": email,
                "purpose": purpose,
                "legal_base": legal_base,
                "source": source,
                "changed_at": at.isoformat(),
            },
        )

    # -- Then -----------------------------------------------------------------------------------------

    def contact(self, account_id: str, email: str) -> Contact:
        contact = self.contacts.get(account_id, email)
        assert contact is not None
        return contact

    def run(self, account_id: str, run_id: str) -> Job:
        job = self.jobs.get(account_id, JobKind.RUN, run_id)
        assert job is not None, f"no run job {run_id}"
        return job

    def superoffice_calls(self) -> int:
        """Tenant API requests since the last reset (login and control calls are not counted)."""
        return sum(n for key, n in self.simulator.control.counts().items() if not key.startswith("status:"))


@pytest.fixture(scope="module")
def people(simulator: SimulatorHandle) -> People:
    return People(simulator)


@pytest.fixture(scope="module")
def outgoing(consent_stack: LocalStack) -> Outgoing:
    return consent_stack.catch_outgoing()


@pytest.fixture
def world(consent_stack: LocalStack, simulator: SimulatorHandle, platform: Platform) -> Iterator[SyncWorld]:
    simulator.control.clear_faults()
    consent_stack.forget_tenant_budgets()
    yield SyncWorld(consent_stack, simulator, platform)
    simulator.control.clear_faults()
    consent_stack.forget_tenant_budgets()
