"""The echo of our own push is dated by the change that was pushed, not by the push."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consent_sync.sync.consent import ConsentState
from consent_sync.sync.contact import PushedState
from consent_sync.sync.plan import ECHO_WINDOW, without_echo
from consent_sync.sync.rules import Rule, decide

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
