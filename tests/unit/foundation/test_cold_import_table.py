"""The bench prints the cold-import ratios with two decimals (the limit is 1.5: 1.5 and 1.54 differ)."""

from __future__ import annotations

from rich.console import Console

from devtools.bench.report import detail_tables
from devtools.bench.runner import Outcome


def test_ratios_have_two_decimals_and_milliseconds_one() -> None:
    document = {
        "tables": ["handler_import_ms", "handler_import_ratio"],
        "handler_import_ms": {"settings": 271.26, "reconcile": 301.04},
        "handler_import_ratio": {"settings": 1.456, "reconcile": 1.6},
    }
    (table,) = detail_tables([Outcome(name="cold-import", document=document, process_wall_s=1.0)])
    console = Console(width=200, record=True)
    console.print(table)
    text = console.export_text()
    for figure in ("1.46", "1.60", "271.3", "301.0"):
        assert figure in text
