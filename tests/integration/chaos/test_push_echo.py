"""A push's echo must not beat a later platform change.

A push writes SuperOffice's row with the push's time (SuperOffice keeps when a row was written, not
when the consent was given). A platform change made more than the skew window after the change that
was pushed, but within the skew window of the push itself, is then compared with the row's time: the
rules see two changes within the skew and let the withdrawal win, although the later change (the
re-subscription) is the platform's own and the withdrawal is older by more than the skew.

The contact remembers what it pushed (`Contact.pushed`), and the echo is dated by the pushed change
(`plan.without_echo`). Deterministic here: withdraw 8 s ago (pushed now), re-subscribe now.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consent_sync.domain.vocabulary import Purpose
from devtools.local import LocalStack
from devtools.simulator.testing import SimulatorHandle
from tests.integration.conftest import Platform
from tests.integration.sync.conftest import People, SyncWorld


@pytest.fixture
def world(consent_stack: LocalStack, simulator: SimulatorHandle, platform: Platform) -> SyncWorld:
    simulator.control.clear_faults()
    return SyncWorld(consent_stack, simulator, platform)


def test_a_resubscription_after_a_pushed_withdrawal_is_not_lost(world: SyncWorld) -> None:
    account = "acc-push-echo"
    ((person_id, email),) = world.account_in_step(account, People(world.simulator), 1)
    now = datetime.now(UTC).replace(microsecond=0)
    # The contact unsubscribed 8 s ago; the push reaches SuperOffice now (its row says "now").
    world.platform_change(account, email, "EMARKETING", "WITHDRAWN", now - timedelta(seconds=8))
    world.drain()
    assert world.simulator.control.consent(person_id, "EMARKETING")["LegalBaseKey"] == "WITHDRAWN"  # type: ignore[index]
    # It subscribes again now: 8 s after the withdrawal, more than the 5 s skew window.
    world.platform_change(account, email, "EMARKETING", "61B", now)
    world.drain()

    # By the rules the later change wins, on both sides.
    assert world.contact(account, email).consents[Purpose.EMARKETING].legal_base == "61B"
    assert world.simulator.control.consent(person_id, "EMARKETING")["LegalBaseKey"] == "61B"  # type: ignore[index]
