"""The operator CLI as one typer app assembled from its command modules (`devtools.cli`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devtools.cli import app, main

COMMANDS = ("simulator", "demo", "import", "sync", "presend", "status", "check")
GROUPS = {
    "audit": ["export"],
    "local": ["up", "env-json"],
    "account": ["set", "show"],
    "consent": ["set"],
    "contact": ["show"],
    "dlq": ["list", "show", "redrive"],
}


def commands_listed(output: str) -> list[str]:
    section = output.split("Commands")[1]
    # A command's row starts one space in; a wrapped help text continues further in.
    rows = [line[1:] for line in section.splitlines()[1:] if line.startswith("│")]
    return [row.split()[0] for row in rows if row.strip() and not row.startswith("  ")]


def test_the_help_lists_the_commands_then_the_groups() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert commands_listed(result.output) == [*COMMANDS, *GROUPS]


@pytest.mark.parametrize(("group", "commands"), GROUPS.items())
def test_every_group_has_its_commands(group: str, commands: list[str]) -> None:
    result = CliRunner().invoke(app, [group, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert commands_listed(result.output) == commands


def test_a_usage_error_exits_2() -> None:
    result = CliRunner().invoke(app, ["import", "acme"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "give exactly one of --selection and --project" in result.output


def test_the_console_script_exits_with_the_command_status(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["consent-sync", "--help"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 0


def _complete(words: str) -> list[str]:
    """What bash completion offers for `words` (typer's completion protocol, through the console script)."""
    script = shutil.which("consent-sync", path=str(Path(sys.executable).parent))
    assert script, "the consent-sync console script is installed in the virtualenv"
    env = {
        **os.environ,
        "_CONSENT_SYNC_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    result = subprocess.run([script], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_shell_completion_is_on_and_completes_commands_and_subcommands() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "--install-completion" in result.output
    assert _complete("consent-sync acc") == ["account"]
    assert _complete("consent-sync local u") == ["up"]
