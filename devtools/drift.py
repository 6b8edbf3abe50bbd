"""`consent-sync sync ACCOUNT --dry-run`: the product's dry run (`consent_sync.flows.drift_report`) in the
operator's process with the stack's configuration, and its human form."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from consent_sync.flows.check_connection import failure_code
from consent_sync.flows.drift_report import DryRunRefused, dry_run
from consent_sync.store.secrets import CredentialsUnavailable
from consent_sync.superoffice import SuperOfficeError
from devtools.operator import OperatorError
from devtools.stack import Stack


def dry_run_document(stack: Stack, account_id: str, *, baseline: bool) -> dict[str, Any]:
    """What a sync run of the account would change now (nothing is written)."""
    try:
        return dry_run(stack.function_config(), account_id, baseline=baseline).document()
    except DryRunRefused as exc:
        raise OperatorError(exc.code, str(exc)) from None
    except (SuperOfficeError, CredentialsUnavailable) as exc:
        # The codes of `check` (auth_failed, dns, timeout, ...): `consent-sync check` says more.
        raise OperatorError(failure_code(exc), str(exc)) from None


def _side(state: dict[str, Any] | None) -> str:
    return "-" if state is None else f"{state['legal_base']} @ {state['changed_at']}"


def render_dry_run(console: Console, document: dict[str, Any]) -> None:
    """The counts per purpose and action, then the samples."""
    console.print(
        f"{document['account_id']}: a {document['kind']} run would reconcile {document['reconciled']} contacts "
        f"({document['pushed']} pushed, {document['pulled']} pulled, {document['unchanged']} unchanged); "
        "nothing was written",
        highlight=False,
    )
    counts = Table("purpose", "push", "pull", "none", title="per purpose")
    samples = Table("purpose", "action", "e-mail", "rule", "platform", "SuperOffice", title="samples")
    for purpose, entry in document["purposes"].items():
        counts.add_row(purpose, str(entry["push"]), str(entry["pull"]), str(entry["none"]))
        for action in ("push", "pull"):
            for sample in entry["samples"][action]:
                samples.add_row(
                    purpose,
                    action,
                    sample["email"],
                    sample["rule"],
                    _side(sample["platform"]),
                    _side(sample["superoffice"]),
                )
    console.print(counts)
    if samples.row_count:
        console.print(samples)
