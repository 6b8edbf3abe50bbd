"""`consent-sync demo`: start the simulator and the local stack, tell the story, print the summary.

The handlers' JSON logs (and the local runtime's REPORT lines and warnings) go to
build/demo-handlers.log, so the terminal shows the story.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from devtools.demo.story import EVENTS, PERSONS, ROOT, SEED, STEP_INDENT, Story, StoryAborted
from devtools.demo.summary import print_summary
from devtools.local import LocalStack, local_stack
from devtools.progress import progress_bars
from devtools.simulator.testing import running_simulator
from devtools.stack import Stack

STACK_NAME = "consent-sync-demo"
HANDLER_LOG = ROOT / "build" / "demo-handlers.log"


@contextlib.contextmanager
def handler_output(log_file: Path) -> Iterator[None]:
    """Send everything but the story to `log_file`: the handlers' JSON logs (stdout, as in Lambda), the
    local runtime's REPORT and failure lines, and warnings."""
    log_file.parent.mkdir(exist_ok=True)
    root = logging.getLogger()
    runtime_log = logging.getLogger("devtools.local")
    with log_file.open("w") as sink, contextlib.redirect_stdout(sink):
        handler = logging.StreamHandler(sink)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        previous = (root.level, runtime_log.level)
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
        runtime_log.setLevel(logging.INFO)
        logging.captureWarnings(True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                yield
        finally:
            logging.captureWarnings(False)
            root.removeHandler(handler)
            root.setLevel(previous[0])
            runtime_log.setLevel(previous[1])


def run_demo(out: Console, err: Console) -> int:
    """Run the story; return the exit status (0 when every step did what it should)."""
    started = time.monotonic()
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    # The story prints to the real stdout; the handlers' stdout goes to the log file.
    out = Console(file=sys.stdout, width=out.width if out.is_terminal else max(out.width, 160))
    story: Story | None = None
    failures: list[str] = []
    with contextlib.ExitStack() as resources:
        resources.enter_context(handler_output(HANDLER_LOG))
        try:
            with progress_bars(err, indent=STEP_INDENT) as advance:
                advance(f"start the SuperOffice simulator ({PERSONS:,} persons)", 0, 1)
                sim = resources.enter_context(running_simulator(persons=PERSONS, seed=SEED))
                advance(f"start the SuperOffice simulator ({PERSONS:,} persons)", 1, 1)
                advance("start the local stack (template.yaml on moto)", 0, 1)
                stack = resources.enter_context(
                    local_stack(
                        template=ROOT / "template.yaml",
                        stack_name=STACK_NAME,
                        background=True,
                        warm_function_urls=True,
                    )
                )
                advance("start the local stack (template.yaml on moto)", 1, 1)
        except Exception as exc:  # nothing to tell a story with
            err.print(f"[red]failed:[/red] starting the simulator and the local stack: {exc}")
            return 1
        out.print(
            f"[bold]local stack[/bold] {STACK_NAME} on {stack.endpoint_url}; "
            f"[bold]SuperOffice simulator[/bold] on {sim.api_url}",
            highlight=False,
        )
        account = json.loads((EVENTS / "integration-settings-updated.json").read_text())["detail"][
            "account_id"
        ]
        story = Story(out, err, stack, sim, Stack.resolve(STACK_NAME), account)
        try:
            story.tell()
        except StoryAborted:
            out.print("[red]the story stopped here[/red]")
        print_summary(story)
        _wait_until_idle(stack)
        _print_status(story)
        failures = story.failures
    out.print(f"handler logs (JSON, e-mail addresses masked): {HANDLER_LOG.relative_to(ROOT)}")
    for failure in failures:
        err.print(f"[red]failed:[/red] {failure}", highlight=False)
    out.print(f"done in {time.monotonic() - started:.1f} s", highlight=False)
    return 1 if failures else 0


def _print_status(story: Story) -> None:
    """End with what `consent-sync status <account>` prints for the demo's account."""
    from devtools import status

    story.stack.runtime.publish_queue_ages()  # the sample `local up` takes every few seconds
    story.out.rule(f"[bold]consent-sync status {story.account}")
    try:
        status.render(story.out, status.status(story.cs, story.account))
    except Exception as exc:  # the demo reports every failure and exits 1, it never stops half-way
        story.failures.append(f"status of {story.account}: {exc}")


def _wait_until_idle(stack: LocalStack, timeout_s: float = 15.0) -> None:
    """Let the runtime finish what is queued before the stack goes down (a handler still running
    when the local stack stops would lose its endpoint and credentials half-way)."""
    deadline = time.monotonic() + timeout_s
    while stack.runtime.pending() and time.monotonic() < deadline:
        time.sleep(0.1)
