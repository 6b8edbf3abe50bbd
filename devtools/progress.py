"""Progress bars on stderr for the commands that wait (import, sync, presend): one bar per label."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

Advance = Callable[[str, int, int | None], None]
"""`advance(label, done, total)`: moves the bar of `label` (made on first use); total None = unknown yet."""


@contextmanager
def progress_bars(console: Console, *, indent: str = "") -> Iterator[Advance]:
    """Bars on `console` for as long as the block runs, each label after `indent`."""
    columns = (
        TextColumn(indent + "{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    # No stdout/stderr redirection: handlers running in this process (the demo) log JSON to stdout,
    # which must not be drawn into the bars.
    with Progress(*columns, console=console, redirect_stdout=False, redirect_stderr=False) as bars:
        tasks: dict[str, TaskID] = {}

        def advance(label: str, done: int, total: int | None) -> None:
            if label not in tasks:
                tasks[label] = bars.add_task(label, total=None)
            bars.update(tasks[label], completed=done, total=total)

        yield advance
