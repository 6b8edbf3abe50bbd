"""The legal-basis sync rules of docs/sync-rules.md, as one pure function of the two sides' states."""

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from consent_sync.domain.consent import ConsentState, is_active, same_key
from consent_sync.domain.vocabulary import Side

DEFAULT_SKEW = timedelta(seconds=5)


class Rule(StrEnum):
    """Which rule of docs/sync-rules.md produced a decision (recorded in the decision log)."""

    BOTH_ABSENT = "both_absent"
    """Neither side has a row: nothing to do."""
    EQUAL = "equal"
    """Same legal-base key on both sides: no write, whatever the times (stops echoes)."""
    BOTH_INACTIVE = "both_inactive"
    """One side withdrawn, the other absent: equal in meaning, so no write."""
    ABSENT_LOSES = "absent_loses"
    """One side absent, the other active: the present state is copied over."""
    LATER_WINS = "later_wins"
    """Times further apart than the skew window: the later change wins."""
    SAME_CLOCK = "same_clock"
    """Both times read from the same clock, and different: the later change wins, however close.

    The skew window stands for two clocks that cannot be trusted to order changes seconds apart. When
    the platform's state is a copy of an earlier SuperOffice state (a pull) and SuperOffice shows a
    newer one, both times are SuperOffice's: its user changed the consent again, in that order. Likewise
    a push's echo, dated by the platform change that was pushed, against a newer platform change."""
    SKEW_RESTRICTIVE = "skew_restrictive"
    """Times within the skew window, one side withdrawn: the withdrawal wins."""
    SKEW_KEY_ORDER = "skew_key_order"
    """Times within the skew window, both active with different keys: the lower key wins."""


class Decision(BaseModel):
    """The outcome of reconciling one contact and purpose.

    ``write_superoffice`` / ``write_platform`` hold the state to write to that side (``None``: leave
    it alone). A written state is the winner's state unchanged, so after applying it both sides are
    equal and deciding again gives no change.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    winner: Side | None
    rule: Rule
    write_superoffice: ConsentState | None = None
    write_platform: ConsentState | None = None

    @property
    def changed(self) -> bool:
        """True when either side is to be written."""
        return self.write_superoffice is not None or self.write_platform is not None

    def mirrored(self) -> "Decision":
        """The same decision with the sides swapped (what ``decide`` gives for swapped arguments)."""
        return Decision(
            winner=None if self.winner is None else self.winner.other,
            rule=self.rule,
            write_superoffice=self.write_platform,
            write_platform=self.write_superoffice,
        )


def _won_by(winner: Side, rule: Rule, state: ConsentState) -> Decision:
    # The loser is the side that receives the winner's state.
    if winner is Side.PLATFORM:
        return Decision(winner=winner, rule=rule, write_superoffice=state)
    return Decision(winner=winner, rule=rule, write_platform=state)


def decide(
    platform: ConsentState | None,
    superoffice: ConsentState | None,
    *,
    skew: timedelta = DEFAULT_SKEW,
    same_clock: bool = False,
) -> Decision:
    """Reconcile one contact's consent for one purpose between the platform and SuperOffice.

    Rules, first match wins (docs/sync-rules.md):

    1. Both absent → ``both_absent``, no write.
    2. Same legal-base key (ignoring letter case) → ``equal``, no write, whatever the times or sources: after a push
       SuperOffice shows the same key with a later time, and this is what stops it flowing back.
    3. One side withdrawn, the other absent → ``both_inactive``, no write (both are inactive).
    4. One side absent, the other active → ``absent_loses``: the present state is copied over.
    5. Both present with different keys and ``|Δt| > skew`` → ``later_wins``.
    6. Both present, ``|Δt| <= skew``, one withdrawn → ``skew_restrictive``: the withdrawal wins,
       because clocks that close cannot be trusted to order the changes and a wrongly kept consent
       is the harmful error.
    7. Both present, ``|Δt| <= skew``, both active with different keys → ``skew_key_order``: the
       state whose legal-base key sorts first (plain string order, so ``61A`` before ``61B`` … before
       ``61F``) wins. Times inside the window are deliberately not used, and nothing depends on which
       argument is which, so the result is the same whichever side the run reads first.

    With ``same_clock`` (both times read from one clock, see ``Rule.SAME_CLOCK``), rule 5 applies to
    any two different times (as ``same_clock``); only equal times fall to rules 6 and 7.

    A withdrawal is never overwritten by an older (or same-time) consent: rule 5 lets only a
    consent later by more than the skew (on one clock: later at all) replace it, and rule 6 keeps it
    otherwise.

    Args:
        platform: the marketing platform's state, or ``None`` when it has none.
        superoffice: SuperOffice's state, or ``None`` when it has none.
        skew: the clock-skew window (default 5 s, a setting); must not be negative.
        same_clock: both times come from the same clock, so their order is trusted however close.

    Returns:
        The decision; its ``write_*`` states are the winner's state, unchanged.
    """
    if skew < timedelta(0):
        raise ValueError("skew must not be negative")

    if platform is None and superoffice is None:
        return Decision(winner=None, rule=Rule.BOTH_ABSENT)
    if (
        platform is not None
        and superoffice is not None
        and same_key(platform.legal_base, superoffice.legal_base)
    ):
        return Decision(winner=None, rule=Rule.EQUAL)
    if not is_active(platform) and not is_active(superoffice):
        # Both withdrawn would have matched EQUAL, so this is withdrawn against absent.
        return Decision(winner=None, rule=Rule.BOTH_INACTIVE)
    if superoffice is None:
        assert platform is not None  # narrowed by the checks above
        return _won_by(Side.PLATFORM, Rule.ABSENT_LOSES, platform)
    if platform is None:
        return _won_by(Side.SUPEROFFICE, Rule.ABSENT_LOSES, superoffice)

    delta = platform.changed_at - superoffice.changed_at
    if same_clock and delta:
        if delta > timedelta(0):
            return _won_by(Side.PLATFORM, Rule.SAME_CLOCK, platform)
        return _won_by(Side.SUPEROFFICE, Rule.SAME_CLOCK, superoffice)
    if abs(delta) > skew:
        if delta > timedelta(0):
            return _won_by(Side.PLATFORM, Rule.LATER_WINS, platform)
        return _won_by(Side.SUPEROFFICE, Rule.LATER_WINS, superoffice)

    if platform.withdrawn:
        return _won_by(Side.PLATFORM, Rule.SKEW_RESTRICTIVE, platform)
    if superoffice.withdrawn:
        return _won_by(Side.SUPEROFFICE, Rule.SKEW_RESTRICTIVE, superoffice)
    # Keys differ here, ignoring case (equal keys returned above), so the order of the upper-cased keys
    # is a strict total order, the same whatever case either side wrote.
    if platform.legal_base.upper() < superoffice.legal_base.upper():
        return _won_by(Side.PLATFORM, Rule.SKEW_KEY_ORDER, platform)
    return _won_by(Side.SUPEROFFICE, Rule.SKEW_KEY_ORDER, superoffice)
