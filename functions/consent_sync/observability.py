"""The one place Powertools objects are built. Every log line is scrubbed of e-mail addresses and secrets.

Every field of a record is scrubbed, the formatted exception (``exception``) and Powertools' structured
``stack_trace`` (whose ``value`` is the exception object itself) included: a value that is not JSON
already is turned into its text, as the serializer would, and that text is scrubbed. What looks like an
address is :mod:`consent_sync.domain.redaction`'s rule (percent-encoded, quoted and internationalised
addresses too), so the functions and the SuperOffice client mask alike.

Tracing (``tracer``) costs a cold start only what it must. Whether it is on is decided once, at
import, from the environment, by :func:`consent_sync.config.tracing_enabled` (Powertools' own rule: on
inside Lambda, off under SAM local or Chalice, off when ``POWERTOOLS_TRACE_DISABLED`` is true):

* **On** (AWS, the template's ``Tracing: Active``): a Powertools ``Tracer`` on the X-Ray recorder,
  which is imported at its first use (:class:`XRayOnFirstUse`: the first invocation's handler
  subsegment), not at import: ``aws_xray_sdk.core`` with wrapt and asyncio cost a cold import ~15-20
  ms that the first invocation pays instead, before it makes any call. It instruments only what the
  functions call out with — botocore (AWS) and httpx (SuperOffice) — not every library X-Ray knows
  (``patch_all`` would import requests, sqlite3… merely to patch them). Each is patched when it is
  first imported (a post-import hook; at once if it already is), so a function that never loads httpx
  does not import it for the tracer.
* **Off** (tests, the local stack, ``POWERTOOLS_TRACE_DISABLED=true``): a disabled ``Tracer`` on a
  provider that records nothing, so the X-Ray SDK's recorder and patchers are never imported.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from types import ModuleType
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

from consent_sync.config import tracing_enabled
from consent_sync.domain.redaction import mask_emails, redact_credentials

# Compiled by `re` at the first key scrubbed (and cached there), not at every cold start.
_SENSITIVE_KEYS = (
    r"(?i)(password|passwd|secret|ticket|token|authorization|private_key|privatekey|credentials?|api_?key)"
)
_REDACTED = "*****"


def scrub(value: Any, key: str | None = None) -> Any:
    """Return `value` with secrets redacted and e-mail addresses masked, recursively (for logs)."""
    return _walk(value, key, mask=True)


def redact_secrets(value: Any, key: str | None = None) -> Any:
    """Return `value` with secret-looking fields and authorization values redacted (for stored events)."""
    return _walk(value, key, mask=False)


def _is_secret_key(key: str | None) -> bool:
    return key is not None and bool(re.search(_SENSITIVE_KEYS, key)) and not key.endswith("_arn")


def _walk(value: Any, key: str | None, *, mask: bool) -> Any:
    if _is_secret_key(key):
        return _REDACTED if value not in (None, "", False) else value
    if isinstance(value, dict):
        # Keys are scrubbed too (a map keyed by address); whether a value is secret goes by the raw key.
        return {_walk(k, None, mask=mask): _walk(v, str(k), mask=mask) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_walk(v, None, mask=mask) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    # A string, or anything the JSON serializer would write as its text (an exception in Powertools'
    # stack_trace, a datetime, a model): the text is what would be written, so the text is scrubbed.
    text = redact_credentials(value if isinstance(value, str) else str(value))
    return mask_emails(text) if mask else text


class ScrubbingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with every field passed through `scrub` before it is written."""

    def serialize(self, log: Any) -> str:
        return super().serialize(scrub(log))


#: The libraries the functions call out with, traced when tracing is on.
TRACED_MODULES = ("botocore", "httpx")


class _Unrecorded(BaseSegment):
    """A segment that records nothing (tracing off)."""

    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        pass

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        pass


class UntracedProvider(BaseProvider):
    """A tracing provider that records nothing: the ``Tracer``'s provider when tracing is off."""

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Iterator[BaseSegment]:
        yield _Unrecorded()

    @asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncIterator[BaseSegment]:
        yield _Unrecorded()

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def patch(self, modules: Sequence[str]) -> None:
        pass

    def patch_all(self) -> None:
        pass


class XRayOnFirstUse(BaseProvider):
    """X-Ray's recorder as a Powertools tracing provider, imported at its first use, not at import.

    Loading it configures what Powertools configures for its own X-Ray provider (each subsegment sent
    at once, not batched) and registers the post-import hooks that patch `TRACED_MODULES`: botocore,
    imported by then, is patched at once, so before the invocation's first AWS call.
    """

    def __init__(self) -> None:
        self._recorder: Any = None

    def recorder(self) -> Any:
        """The X-Ray SDK's global recorder, loaded (and the traced modules hooked) on the first call."""
        if self._recorder is None:
            import wrapt  # an X-Ray SDK dependency, loaded with it
            from aws_xray_sdk.core import xray_recorder

            xray_recorder.configure(streaming_threshold=0)
            self._recorder = xray_recorder
            for name in TRACED_MODULES:
                wrapt.register_post_import_hook(_patcher(self, name), name)
        return self._recorder

    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Any:
        return self.recorder().in_subsegment(name=name, **kwargs)

    def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> Any:
        return self.recorder().in_subsegment_async(name=name, **kwargs)

    def put_annotation(self, key: str, value: Any) -> None:
        self.recorder().put_annotation(key, value)

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.recorder().put_metadata(key, value, namespace)

    def patch(self, modules: Sequence[str]) -> None:
        self.recorder()
        from aws_xray_sdk.core import patch

        patch(modules)

    def patch_all(self) -> None:
        self.recorder()
        from aws_xray_sdk.core import patch_all

        patch_all()


def build_tracer(enabled: bool) -> Tracer:
    """The functions' tracer: X-Ray at its first use, patching `TRACED_MODULES`, or one that records nothing."""
    if not enabled:
        return Tracer(disabled=True, auto_patch=False, provider=UntracedProvider())
    return Tracer(disabled=False, auto_patch=False, provider=XRayOnFirstUse())


def _patcher(provider: BaseProvider, name: str) -> Any:
    def patch(_module: ModuleType) -> None:
        # Runs inside the function's own `import`: a failure to instrument must not fail the import
        # (X-Ray's patch_all, which this replaces, ignores such errors too).
        try:
            provider.patch([name])
        except Exception:
            logger.warning("X-Ray could not instrument %s", name, exc_info=True)

    return patch


logger = Logger(logger_formatter=ScrubbingFormatter())
tracer = build_tracer(tracing_enabled())
metrics = Metrics()
