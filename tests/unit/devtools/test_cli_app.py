"""The operator CLI as one typer app assembled from its command modules (`devtools.cli`)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from devtools.cli import app, main

COMMANDS = ("simulator", "demo", "import", "sync", "presend", "audit")
GROUPS = {
    "local": ["up"],
    "account": ["set", "show"],
    "consent": ["set"],
    "contact": ["show"],
    "dlq": ["list", "show", "redrive"],
}


def commands_listed(output: str) -> list[str]:
    section = output.split("Commands")[1]
    return [line.strip("│ ").split()[0] for line in section.splitlines()[1:] if line.startswith("│")]


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
