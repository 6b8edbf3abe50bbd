"""`consent-sync demo` (what `make run` runs) end to end: the whole story in a subprocess, exit 0, a summary.

The only test of the demo: every step of the story checks its own outcome and the demo exits 1 naming
what failed, so exit 0 means the story went as told.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.e2e.conftest import ROOT, cli_command

SECTION_TITLES = (
    "SuperOffice CRM",
    "Imports",
    "Consent changes",
    "Sync runs",
    "Send-out checks",
    "Blocked recipients",
    "Decision log",
    "Steps",
)


@pytest.mark.slow
def test_make_run_tells_the_whole_story_and_exits_0() -> None:
    # Given a machine with no AWS configuration at all (the demo brings its own local stack)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["COLUMNS"] = "200"

    # When the demo runs
    result = subprocess.run(
        [*cli_command(), "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
        cwd=ROOT,
    )

    # Then every step did what it should, and the summary has each of its sections
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    for title in SECTION_TITLES:
        assert title in result.stdout, f"no {title!r} section in the summary"
    assert "✗" not in result.stdout
    # and it ends with `status` of its account: its tables of accounts and queues
    tail = result.stdout.split("consent-sync status ")[-1]
    assert "accounts of consent-sync" in tail
    assert "events-dlq" in tail
    assert "failed:" not in result.stderr
    # and the handlers' logs went to their file, not to the terminal
    assert "build/demo-handlers.log" in result.stdout
    assert '"function_name"' not in result.stdout + result.stderr
