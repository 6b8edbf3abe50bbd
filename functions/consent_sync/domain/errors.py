"""The domain's errors: what consent-sync refuses, and why, in words callers can act on."""

from __future__ import annotations


class Rejected(Exception):
    """An event consent-sync refuses; `code` is the machine-readable reason (e.g. `unknown_account`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class UnknownKey(ValueError):
    """A legal base or source the tenant does not have: the push cannot be made (a per-contact error)."""


class BudgetExhausted(RuntimeError):
    """A tenant's next request may not be sent before the caller's deadline (the tenant asked every
    worker to wait, or its request budget is spent for now)."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"the tenant's request budget allows the next request in {wait_s:.1f} s")
        self.wait_s = wait_s
