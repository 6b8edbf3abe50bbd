"""Duplicates anywhere in SuperOffice: the oldest person with an address is linked and read, whether or
not the selection names it, and the e-marketing filter applies to that person after linking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consent_sync.domain.consent import WITHDRAWN
from consent_sync.domain.gate import BlockReason, verdict
from consent_sync.domain.vocabulary import Purpose
from tests.integration.importing.conftest import Importer, summary

LONG_AGO = datetime(2019, 1, 1, tzinfo=UTC)


def test_a_withdrawn_younger_duplicate_is_counted_and_listed_under_the_filter(importer: Importer) -> None:
    # Given two persons with one address in a selection: the older 61F, the younger WITHDRAWN
    control = importer.simulator.control
    older = control.create_person("Bo", "Older", "bo.shared@example.com", registered_at=LONG_AGO)
    younger = control.create_person(
        "Bo", "Younger", "BO.Shared@example.com", registered_at=LONG_AGO + timedelta(days=30)
    )
    control.set_consent(older, "EMARKETING", "61F", source="USER", at=LONG_AGO + timedelta(days=40))
    control.set_consent(younger, "EMARKETING", WITHDRAWN, source="USER", at=LONG_AGO + timedelta(days=50))
    account = importer.account("dup-filter", sync=False)
    # When it is imported, e-marketing-consented persons only
    job = importer.run(account, "selection", control.create_selection([younger, older]), only_emarketing=True)
    # Then the filter judged the linked (oldest) person: the contact is there, the withdrawn younger
    # person is its duplicate, counted as one and flagged as a conflict, never silently dropped
    counted = summary(job)
    assert (counted["created"], counted["duplicates"], counted["skipped"]) == (1, 1, {})
    assert job.counters["duplicate_conflicts"] == 1
    contact = importer.contact(account, "bo.shared@example.com")
    assert (contact.superoffice_person_id, contact.duplicate_person_ids) == (older, [younger])
    assert any(younger in r.duplicate_conflicts for r in importer.decisions(account, "bo.shared@example.com"))


def test_an_older_withdrawn_person_outside_the_selection_is_the_one_synced(importer: Importer) -> None:
    # Given a selection holding only the younger of two persons with one address; the older one,
    # elsewhere in SuperOffice, withdrew e-marketing
    control = importer.simulator.control
    older = control.create_person("Cy", "Older", "cy.shared@example.com", registered_at=LONG_AGO)
    younger = control.create_person(
        "Cy", "Younger", "cy.shared@example.com", registered_at=LONG_AGO + timedelta(days=30)
    )
    control.set_consent(older, "EMARKETING", WITHDRAWN, source="USER", at=LONG_AGO + timedelta(days=40))
    control.set_consent(younger, "EMARKETING", "61A", source="WEBFORM", at=LONG_AGO + timedelta(days=50))
    account = importer.account("dup-elsewhere", sync=False)
    # When the selection is imported
    job = importer.run(account, "selection", control.create_selection([younger]))
    # Then the contact is linked to the older person, with its withdrawal, the younger one a duplicate
    contact = importer.contact(account, "cy.shared@example.com")
    assert (contact.superoffice_person_id, contact.duplicate_person_ids) == (older, [younger])
    assert contact.consents[Purpose.EMARKETING].withdrawn
    assert summary(job)["duplicates"] == 1
    # and a send-out check blocks the address
    judged = verdict(
        contact.consents.get(Purpose.STORE), contact.consents.get(Purpose.EMARKETING), known=True
    )
    assert judged.reason is BlockReason.EMARKETING_WITHDRAWN
