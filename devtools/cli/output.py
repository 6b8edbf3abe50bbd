"""What every command shares: the consoles, the `--json` flag, and how failures and usage errors end.

Exit status: 0 success; 1 the thing asked for does not exist or failed (with --json, an
`{"error", "message"}` document on stdout); 2 a usage error (README.md, "The CLI").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from devtools import operator
from devtools.stack import Stack, StackNotFound

out = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


class CommandFailed(Exception):
    """A command that could not do what was asked; `code` is the JSON error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def print_json(document: Any, *, indent: int | None = None) -> None:
    """One JSON document on stdout (plain `print`: no rich markup or wrapping)."""
    print(json.dumps(document, indent=indent))


def fail(code: str, message: str, as_json: bool) -> NoReturn:
    """Report a failure in the requested form and exit 1."""
    if as_json:
        print_json({"error": code, "message": message})
    else:
        err.print(f"[red]error[/red] ({code}): {message}", highlight=False)
    raise typer.Exit(1)


@contextmanager
def failures(as_json: bool) -> Iterator[None]:
    """Turn the errors a command expects into exit status 1 with a clear message."""
    try:
        yield
    except StackNotFound as exc:
        fail("stack_not_found", str(exc), as_json)
    except CommandFailed as exc:
        fail(exc.code, str(exc), as_json)
    except operator.OperatorError as exc:
        fail(exc.code, str(exc), as_json)


def resolve(ctx: typer.Context) -> Stack:
    """The stack the global `--stack` option names (`ctx.obj`)."""
    return Stack.resolve(ctx.obj)


def usage(message: str) -> NoReturn:
    """A usage error: exit 2, as click does for its own."""
    raise typer.BadParameter(message)
