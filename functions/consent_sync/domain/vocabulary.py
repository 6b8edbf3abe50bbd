"""The words consent-sync's parts share, each defined once: purposes, sides, triggers, job and run kinds."""

from __future__ import annotations

from enum import StrEnum


class Purpose(StrEnum):
    """The two SuperOffice consent purposes consent-sync keeps in step."""

    STORE = "STORE"
    EMARKETING = "EMARKETING"


class Side(StrEnum):
    """The two systems whose consent states are reconciled."""

    SUPEROFFICE = "superoffice"
    PLATFORM = "platform"

    @property
    def other(self) -> Side:
        """The opposite side (where a winner's state is written)."""
        return Side.PLATFORM if self is Side.SUPEROFFICE else Side.SUPEROFFICE


class Trigger(StrEnum):
    """What started a reconciliation (carried by every chunk, recorded with every decision)."""

    IMPORT = "import"
    SCHEDULED = "scheduled"
    BASELINE = "baseline"
    PRESEND = "presend"
    PLATFORM = "platform"
    REQUESTED = "requested"
    WEBHOOK = "webhook"


class JobKind(StrEnum):
    """What a job tracks."""

    IMPORT = "import"
    RUN = "run"
    SENDOUT = "sendout"


class JobStatus(StrEnum):
    """A job's state; everything but ``running`` is final."""

    RUNNING = "running"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"


class RunKind(StrEnum):
    """The public kinds of sync run (`Sync Run Completed.kind`); each is also the run's trigger."""

    SCHEDULED = "scheduled"
    BASELINE = "baseline"
    REQUESTED = "requested"

    @property
    def trigger(self) -> Trigger:
        """The trigger the run's chunks carry."""
        return Trigger(self.value)
