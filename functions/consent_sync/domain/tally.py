"""A chunk's counters: import jobs count members (created, updated, duplicates, skipped by reason),
run jobs count contacts (reconciled, pushed, pulled, unchanged), send-out checks count verdicts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from consent_sync.domain.contact import ImportOutcome
from consent_sync.domain.jobs import (
    CREATED,
    DUPLICATE_CONFLICTS,
    DUPLICATES,
    FAILED,
    MEMBERS,
    PULLED,
    PUSHED,
    RECONCILED,
    UNCHANGED,
    UPDATED,
)
from consent_sync.domain.linking import DOCUMENTED_SKIP_REASONS, SkipReason
from consent_sync.domain.vocabulary import JobKind

_IMPORT_COUNTER = {
    ImportOutcome.CREATED: CREATED,
    ImportOutcome.UPDATED: UPDATED,
    ImportOutcome.DUPLICATE: DUPLICATES,
}


@dataclass
class Tally:
    """What one chunk adds to its job; every counter of its kind is present, zero or not, so that a
    job's summary has a stable shape."""

    importing: bool
    counters: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    @classmethod
    def for_job(cls, kind: JobKind) -> Tally:
        """An empty tally for a chunk of a job of ``kind``."""
        tally = cls(importing=kind is JobKind.IMPORT)
        names: tuple[str, ...]
        if tally.importing:
            names = (MEMBERS, CREATED, UPDATED, DUPLICATES, DUPLICATE_CONFLICTS, FAILED)
            tally.skipped.update({reason.value: 0 for reason in DOCUMENTED_SKIP_REASONS})
        else:
            names = (RECONCILED, PUSHED, PULLED, UNCHANGED, FAILED)
        tally.counters.update(dict.fromkeys(names, 0))
        return tally

    def member(self) -> None:
        """An import listed one more member."""
        if self.importing:
            self.counters[MEMBERS] += 1

    def skip(self, reason: SkipReason) -> None:
        """An import skipped a member for ``reason``."""
        if self.importing:
            self.skipped[reason.value] += 1

    def imported(
        self, outcomes: Mapping[int, ImportOutcome], linked: int, *, push_failed: bool, conflicts: int
    ) -> None:
        """One contact's members as an import counts them."""
        for person_id, outcome in outcomes.items():
            if push_failed and person_id == linked and outcome is not ImportOutcome.DUPLICATE:
                self.counters[FAILED] += 1  # imported, but SuperOffice still owes the winner's state
            else:
                self.counters[_IMPORT_COUNTER[outcome]] += 1
        self.counters[DUPLICATE_CONFLICTS] += conflicts

    def filtered(self, outcomes: Mapping[int, ImportOutcome], *, conflicts: int) -> None:
        """One contact an import of e-marketing-consented persons left out: its linked person is not."""
        for outcome in outcomes.values():
            if outcome is ImportOutcome.DUPLICATE:
                self.counters[DUPLICATES] += 1
            else:
                self.skip(SkipReason.NO_EMARKETING_CONSENT)
        self.counters[DUPLICATE_CONFLICTS] += conflicts

    def reconciled(self, *, pushed: bool, pulled: bool, failed: bool) -> None:
        """One contact as a run counts it."""
        self.counters[RECONCILED] += 1
        self.counters[PUSHED] += pushed
        self.counters[PULLED] += pulled
        self.counters[FAILED] += failed
        self.counters[UNCHANGED] += not (pushed or pulled or failed)

    def add(self, counters: Mapping[str, int]) -> None:
        """Counters computed elsewhere (a send-out check's verdicts)."""
        self.counters.update(counters)
