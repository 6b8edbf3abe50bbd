"""The SuperOffice client's logger, whose every record is scrubbed before any handler sees it.

The client logs through the standard library, not through the functions' Powertools logger and its
scrubbing formatter (an adapter knows the domain only), so a handler attached here (a test's ``caplog``,
``devtools/chaos``' retry counter, the Lambda runtime's own) could otherwise receive an address or a
credential from server text. A filter on the logger masks them in the message template and in each
argument (``consent_sync.domain.redaction.scrub_text``), keeping the arguments apart: listeners may read
``record.args``. A logged exception's traceback text is scrubbed too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from consent_sync.domain.redaction import scrub_text

#: The client's logger name, which callers (devtools/chaos/) listen on for retries.
LOGGER_NAME = "consent_sync.superoffice.client"

_PLAIN = (int, float, bool, type(None))


class _Scrubbed:
    """An argument that is neither a string nor a number: formatted, then scrubbed, when it is logged."""

    __slots__ = ("_value",)

    def __init__(self, value: object) -> None:
        self._value = value

    def __str__(self) -> str:
        return scrub_text(str(self._value))

    def __repr__(self) -> str:
        return scrub_text(repr(self._value))


def _scrub_arg(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, _PLAIN):
        return value  # "%d" and "%.2f" keep working
    return _Scrubbed(value)


class ScrubbingFilter(logging.Filter):
    """Masks e-mail addresses and redacts credentials in a record's message, arguments and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = scrub_text(record.msg)
        else:
            record.msg = _Scrubbed(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {key: _scrub_arg(value) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(_scrub_arg(value) for value in record.args)
        if record.exc_info and not record.exc_text:
            # Formatters use a record's exc_text when it has one instead of formatting the traceback.
            record.exc_text = scrub_text(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = scrub_text(record.stack_info)
        return True


def client_logger() -> logging.Logger:
    """The client's logger, with its `ScrubbingFilter` (added once, however often this is called)."""
    target = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(f, ScrubbingFilter) for f in target.filters):
        target.addFilter(ScrubbingFilter())
    return target


logger = client_logger()
