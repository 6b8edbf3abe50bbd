"""The echo of our own push is dated by the change that was pushed, not by the push."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consent_sync.domain.consent import ConsentState
from consent_sync.domain.contact import Contact, PushedState, StoredConsent
from consent_sync.domain.plan import ECHO_WINDOW, ContactPlan, plan_contact, without_echo
from consent_sync.domain.rules import Rule, decide
from consent_sync.domain.vocabulary import Purpose, Side, Trigger

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
WITHDRAWN_AT = T0 - timedelta(seconds=8)
PUSHED = PushedState(legal_base="WITHDRAWN", changed_at=WITHDRAWN_AT, pushed_at=T0)


def row(key: str, at: datetime) -> ConsentState:
    return ConsentState(legal_base=key, source="API", changed_at=at)


def test_the_echo_carries_the_pushed_changes_time() -> None:
    assert without_echo(row("WITHDRAWN", T0), PUSHED) == row("WITHDRAWN", WITHDRAWN_AT)


def test_a_resubscription_after_the_pushed_withdrawal_wins() -> None:
    resubscribed = row("61B", T0)
    # With the echo as SuperOffice stamps it, the older withdrawal would win inside the skew window
    assert decide(resubscribed, row("WITHDRAWN", T0)).rule is Rule.SKEW_RESTRICTIVE
    decision = decide(resubscribed, without_echo(row("WITHDRAWN", T0), PUSHED))
    assert decision.rule is Rule.LATER_WINS
    assert decision.write_superoffice == resubscribed


def test_a_superoffice_users_own_change_is_not_an_echo() -> None:
    # another key, or the same key written long after the push
    assert without_echo(row("61A", T0), PUSHED) == row("61A", T0)
    later = T0 + ECHO_WINDOW + timedelta(seconds=1)
    assert without_echo(row("WITHDRAWN", later), PUSHED) == row("WITHDRAWN", later)
    assert without_echo(None, PUSHED) is None
    assert without_echo(row("WITHDRAWN", T0), None) == row("WITHDRAWN", T0)


# --- one clock or two: which times the skew window is for ------------------------------------------


def _contact(consent: StoredConsent, pushed: PushedState | None = None) -> Contact:
    return Contact(
        account_id="acme",
        email="anders@example.se",
        superoffice_person_id=28,
        consents={Purpose.EMARKETING: consent},
        pushed={} if pushed is None else {Purpose.EMARKETING: pushed},
        version=3,
    )


def _plan(contact: Contact, superoffice: ConsentState) -> ContactPlan:
    return plan_contact(
        contact,
        {Purpose.EMARKETING: superoffice},
        skew=timedelta(seconds=5),
        push_allowed=True,
        trigger=Trigger.SCHEDULED,
        now=T0 + timedelta(minutes=1),
    )


def test_a_superoffice_users_second_change_wins_over_the_first_copied_to_the_platform() -> None:
    # Found by the fault-injection run: a SuperOffice user withdraws (pulled to the platform, with
    # SuperOffice's time), then gives consent again 5 s later. Both times are SuperOffice's: the
    # re-consent is the later change, and the skew window (for two clocks) must not push the
    # withdrawal back over it.
    copied = StoredConsent.of(row("WITHDRAWN", T0), Side.SUPEROFFICE)
    plan = _plan(_contact(copied), row("61B", T0 + timedelta(seconds=5)))

    assert plan.pushes == []
    assert plan.pulled
    assert plan.contact.consents[Purpose.EMARKETING].legal_base == "61B"
    (decision,) = plan.records
    assert (decision.rule, decision.action) == (Rule.SAME_CLOCK.value, "pull")


def test_a_platform_change_against_a_superoffice_change_keeps_the_window() -> None:
    # Two clocks: a platform withdrawal and a SuperOffice consent 3 s later are too close to order,
    # so the withdrawal wins and is pushed.
    own = StoredConsent.of(row("WITHDRAWN", T0), Side.PLATFORM)
    plan = _plan(_contact(own), row("61B", T0 + timedelta(seconds=3)))

    assert [p.state.legal_base for p in plan.pushes] == ["WITHDRAWN"]
    assert plan.pushes[0].decision.rule is Rule.SKEW_RESTRICTIVE


def test_a_platform_resubscription_seconds_after_its_pushed_withdrawal_wins() -> None:
    # The echo of the pushed withdrawal is dated by the platform's withdrawal: one clock with the
    # platform's re-subscription 3 s later, which is pushed.
    pushed = PushedState(legal_base="WITHDRAWN", changed_at=T0, pushed_at=T0 + timedelta(seconds=1))
    resubscribed = StoredConsent.of(row("61B", T0 + timedelta(seconds=3)), Side.PLATFORM)
    plan = _plan(_contact(resubscribed, pushed), row("WITHDRAWN", T0 + timedelta(seconds=1)))

    assert [p.state.legal_base for p in plan.pushes] == ["61B"]
    assert plan.pushes[0].decision.rule is Rule.SAME_CLOCK


def test_an_echo_of_a_state_pulled_from_superoffice_is_on_superoffice_time() -> None:
    # A state once pulled from SuperOffice and pushed (to a newly linked person) keeps SuperOffice's
    # clock: against a platform change 3 s later it is two clocks again.
    pushed = PushedState(
        legal_base="WITHDRAWN",
        changed_at=T0,
        pushed_at=T0 + timedelta(seconds=1),
        changed_in=Side.SUPEROFFICE,
    )
    resubscribed = StoredConsent.of(row("61B", T0 + timedelta(seconds=3)), Side.PLATFORM)
    plan = _plan(_contact(resubscribed, pushed), row("WITHDRAWN", T0 + timedelta(seconds=1)))

    assert plan.pushes == []
    assert plan.contact.consents[Purpose.EMARKETING].legal_base == "WITHDRAWN"
    assert plan.records[0].rule == Rule.SKEW_RESTRICTIVE.value


def test_a_superoffice_user_withdrawing_again_after_our_pushed_withdrawal_is_not_an_echo() -> None:
    # Found by `make chaos`: our withdrawal was pushed (SuperOffice answered at once), then a SuperOffice
    # user saved WITHDRAWN again 8 s later while the platform re-subscribed in the same second. The
    # user's row has the pushed key, but was stamped well after the PUT: it is their own change, so
    # the two clocks' window decides (the withdrawal wins), and no push overwrites it.
    pushed = PushedState(
        legal_base="WITHDRAWN", changed_at=T0 - timedelta(seconds=1), pushed_at=T0, confirmed_at=T0
    )
    users = row("WITHDRAWN", T0 + timedelta(seconds=8))
    assert without_echo(users, pushed) == users
    assert without_echo(row("WITHDRAWN", T0 + timedelta(seconds=2)), pushed).changed_at == pushed.changed_at  # type: ignore[union-attr]

    resubscribed = StoredConsent.of(row("61A", T0 + timedelta(seconds=8)), Side.PLATFORM)
    plan = _plan(_contact(resubscribed, pushed), users)
    assert plan.pushes == []
    assert plan.contact.consents[Purpose.EMARKETING].legal_base == "WITHDRAWN"
    assert plan.records[0].rule == Rule.SKEW_RESTRICTIVE.value
