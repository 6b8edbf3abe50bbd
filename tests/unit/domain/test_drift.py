"""The drift report's classification: push, pull or nothing per purpose, from the worker's own plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consent_sync.domain.consent import ConsentState
from consent_sync.domain.contact import Contact, StoredConsent
from consent_sync.domain.drift import NOT_LINKED, DriftAction, DriftReport, contact_drift
from consent_sync.domain.plan import plan_contact
from consent_sync.domain.vocabulary import Purpose, Side, Trigger

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SKEW = timedelta(seconds=5)


def state(key: str, at: datetime, side: Side | None = None) -> ConsentState:
    if side is None:
        return ConsentState(legal_base=key, source="WEBFORM", changed_at=at)
    return StoredConsent(legal_base=key, source="WEBFORM", changed_at=at, changed_in=side)


def contact(email: str, person_id: int | None, **consents: ConsentState) -> Contact:
    return Contact(
        account_id="acme",
        email=email,
        superoffice_person_id=person_id,
        consents={Purpose(k): StoredConsent.of(v, Side.PLATFORM) for k, v in consents.items()},
        version=1,
    )


def drift_of(
    c: Contact, superoffice: dict[Purpose, ConsentState], *, push_allowed: bool = True
) -> dict[Purpose, tuple[DriftAction, str]]:
    plan = plan_contact(
        c, superoffice, skew=SKEW, push_allowed=push_allowed, trigger=Trigger.REQUESTED, now=T0
    )
    return {d.purpose: (d.action, d.rule) for d in contact_drift(c.email, c, superoffice, plan)}


def test_a_later_platform_change_is_a_push_and_a_later_superoffice_one_a_pull() -> None:
    c = contact(
        "a@example.com", 1, EMARKETING=state("WITHDRAWN", T0), STORE=state("61F", T0 - timedelta(days=2))
    )
    superoffice = {
        Purpose.EMARKETING: state("61A", T0 - timedelta(days=1)),
        Purpose.STORE: state("61A", T0 - timedelta(hours=1)),
    }
    assert drift_of(c, superoffice) == {
        Purpose.EMARKETING: (DriftAction.PUSH, "later_wins"),
        Purpose.STORE: (DriftAction.PULL, "later_wins"),
    }


def test_equal_states_and_absent_rows_are_left_alone_with_their_rule() -> None:
    c = contact("b@example.com", 2, EMARKETING=state("61A", T0))
    assert drift_of(c, {Purpose.EMARKETING: state("61a", T0 + timedelta(days=1))}) == {
        Purpose.EMARKETING: (DriftAction.NONE, "equal"),
        Purpose.STORE: (DriftAction.NONE, "both_absent"),
    }


def test_with_sync_off_a_platform_winner_is_not_pushed() -> None:
    c = contact("c@example.com", 3, EMARKETING=state("WITHDRAWN", T0))
    drift = drift_of(c, {Purpose.EMARKETING: state("61A", T0 - timedelta(days=1))}, push_allowed=False)
    assert drift[Purpose.EMARKETING] == (DriftAction.NONE, "later_wins")


def test_an_unlinked_contact_is_left_alone() -> None:
    c = contact("d@example.com", None, EMARKETING=state("61A", T0))
    drifts = contact_drift(c.email, c, {}, None)
    assert {(d.action, d.rule) for d in drifts} == {(DriftAction.NONE, NOT_LINKED)}


def test_the_report_counts_each_contact_once_and_keeps_a_few_samples() -> None:
    report = DriftReport(sample_size=2)
    superoffice = {Purpose.EMARKETING: state("61A", T0 - timedelta(days=1))}
    for n in range(3):
        c = contact(f"p{n}@example.com", n + 1, EMARKETING=state("WITHDRAWN", T0))
        drifts = contact_drift(
            c.email,
            c,
            superoffice,
            plan_contact(c, superoffice, skew=SKEW, push_allowed=True, trigger=Trigger.REQUESTED, now=T0),
        )
        report.add(drifts)
        report.add(drifts)  # the same contact in a second chunk of the run
    document = report.document()
    assert {k: document[k] for k in ("reconciled", "pushed", "pulled", "unchanged")} == {
        "reconciled": 3, "pushed": 3, "pulled": 0, "unchanged": 0,
    }  # fmt: skip
    emarketing = document["purposes"]["EMARKETING"]
    assert (emarketing["push"], emarketing["pull"], emarketing["none"]) == (3, 0, 0)
    assert [s["email"] for s in emarketing["samples"]["push"]] == ["p0@example.com", "p1@example.com"]
    sample = emarketing["samples"]["push"][0]
    assert sample["platform"] == {
        "legal_base": "WITHDRAWN",
        "source": "WEBFORM",
        "changed_at": T0.isoformat(),
        "changed_in": "platform",
    }
    assert sample["superoffice"]["person_id"] == 1
    assert document["purposes"]["STORE"]["none"] == 3
