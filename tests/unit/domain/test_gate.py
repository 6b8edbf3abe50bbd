"""The send-out gate verdict and the order of its block reasons."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from consent_sync.domain.consent import WITHDRAWN, ConsentState
from consent_sync.domain.gate import BlockReason, Verdict, verdict

from .strategies import RULES_SETTINGS, maybe_states

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ACTIVE = ConsentState(legal_base="61A", changed_at=T0)
TENANT = ConsentState(legal_base="TENANT_NEWSLETTER", changed_at=T0)
GONE = ConsentState(legal_base=WITHDRAWN, changed_at=T0)


@pytest.mark.parametrize(
    ("store", "emarketing", "known", "reason"),
    [
        pytest.param(ACTIVE, ACTIVE, True, None, id="both-active"),
        pytest.param(None, ACTIVE, True, None, id="store-absent-is-ok"),
        pytest.param(TENANT, TENANT, True, None, id="tenant-keys"),
        pytest.param(ACTIVE, ACTIVE, False, BlockReason.UNKNOWN_CONTACT, id="unknown-first"),
        pytest.param(GONE, GONE, False, BlockReason.UNKNOWN_CONTACT, id="unknown-before-withdrawn"),
        pytest.param(GONE, GONE, True, BlockReason.STORE_WITHDRAWN, id="store-before-emarketing"),
        pytest.param(GONE, ACTIVE, True, BlockReason.STORE_WITHDRAWN, id="store-withdrawn"),
        pytest.param(GONE, None, True, BlockReason.STORE_WITHDRAWN, id="store-before-no-basis"),
        pytest.param(ACTIVE, GONE, True, BlockReason.EMARKETING_WITHDRAWN, id="emarketing-withdrawn"),
        pytest.param(None, GONE, True, BlockReason.EMARKETING_WITHDRAWN, id="emarketing-withdrawn-no-store"),
        pytest.param(ACTIVE, None, True, BlockReason.NO_EMARKETING_BASIS, id="no-basis"),
        pytest.param(None, None, True, BlockReason.NO_EMARKETING_BASIS, id="nothing-known"),
    ],
)
def test_verdict_examples(
    store: ConsentState | None, emarketing: ConsentState | None, known: bool, reason: BlockReason | None
) -> None:
    result = verdict(store, emarketing, known=known)
    assert result.reason is reason
    assert result.allowed is (reason is None)


@RULES_SETTINGS
@given(store=maybe_states, emarketing=maybe_states, known=st.booleans())
def test_allowed_iff_emarketing_active_and_store_not_withdrawn(
    store: ConsentState | None, emarketing: ConsentState | None, known: bool
) -> None:
    result = verdict(store, emarketing, known=known)
    store_withdrawn = store is not None and store.legal_base == WITHDRAWN
    emarketing_active = emarketing is not None and emarketing.legal_base != WITHDRAWN
    assert result.allowed is (known and emarketing_active and not store_withdrawn)
    assert (result.reason is None) is result.allowed


def test_reason_order_is_the_documented_one() -> None:
    assert [r.value for r in BlockReason] == [
        "unknown_contact",
        "store_withdrawn",
        "emarketing_withdrawn",
        "no_emarketing_basis",
    ]


@pytest.mark.parametrize(
    ("allowed", "reason"),
    [(True, BlockReason.STORE_WITHDRAWN), (False, None)],
    ids=["allowed-with-reason", "blocked"],
)
def test_inconsistent_verdict_is_rejected(allowed: bool, reason: BlockReason | None) -> None:
    with pytest.raises(ValidationError):
        Verdict(allowed=allowed, reason=reason)


def test_verdict_serialises_reason_as_its_code() -> None:
    blocked = verdict(None, None, known=False)
    assert blocked.model_dump(mode="json") == {"allowed": False, "reason": "unknown_contact"}
