"""Run one function's handler in-process as if it were alone in its Lambda execution environment.

Isolation, and why it looks like this:

* **Environment.** ``os.environ`` is process-wide, so a handler runs under a process-wide lock
  (:data:`INVOKE_LOCK`) with the environment replaced by the function's own: a few host variables a
  process needs (``PATH``, ``HOME``, locale, proxies, ``MOTO_*``…), then Lambda's reserved variables,
  then the template's variables, then the local endpoint, region and fake credentials. The host
  environment is restored afterwards. Two functions' environments therefore never mix, and a test's
  own variables never leak into a function.
* **Modules.** Handlers read their configuration at import (cold start), so each function imports its
  code *fresh*, into a private set of modules: every top-level name importable from the function's
  ``CodeUri`` (e.g. ``consent_sync``) is swapped out of ``sys.modules`` while the handler runs and
  the function's own copies are swapped in; afterwards they are stashed again and the host's copies
  restored. A function's first invocation is its cold start; later ones reuse its modules (warm),
  like a Lambda container. Third-party packages (the layer's contents) are shared, as they are
  read-only in practice.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from devtools.local.aws import FAKE_CREDENTIALS
from devtools.local.sam import FunctionSpec

#: Serialises every handler invocation in the process: environments and modules are process-wide.
INVOKE_LOCK = threading.RLock()

_HOST_VARIABLES = (
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "TMPDIR",
    "TEMP",
    "TMP",
    "TZ",
    "SYSTEMROOT",
    "VIRTUAL_ENV",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
_HOST_PREFIXES = ("LC_", "PYTHON", "MOTO_", "PYTEST_")


class LambdaContext:
    """The context object Lambda's Python runtime passes to a handler."""

    def __init__(self, spec: FunctionSpec, request_id: str, *, now: float | None = None) -> None:
        started = time.monotonic() if now is None else now
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.identity: Any = None
        self.client_context: Any = None
        self._deadline = started + spec.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's ``Timeout`` (never negative)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def function_environment(
    spec: FunctionSpec,
    *,
    endpoint_url: str,
    region: str,
    host: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The complete environment a function's handler sees, as described in the module docstring."""
    host = os.environ if host is None else host
    environment = {
        key: value for key, value in host.items() if key in _HOST_VARIABLES or key.startswith(_HOST_PREFIXES)
    }
    environment.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]local",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "_HANDLER": spec.handler,
            # What `sam local` sets: Powertools then leaves tracing off, as there is no X-Ray daemon.
            "AWS_SAM_LOCAL": "true",
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        }
    )
    environment.update(spec.environment)
    environment.update(
        {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            **FAKE_CREDENTIALS,
        }
    )
    return environment


def importable_names(code_dir: Path) -> frozenset[str]:
    """Top-level module and package names a ``CodeUri`` folder provides."""
    names = set()
    for entry in code_dir.iterdir():
        stem = entry.name.split(".")[0]
        if entry.is_dir() and entry.name.isidentifier() and entry.name != "__pycache__":
            names.add(entry.name)
        elif entry.is_file() and entry.suffix in (".py", ".so", ".pyd") and stem.isidentifier():
            names.add(stem)
    return frozenset(names)


class FunctionSandbox:
    """One function's execution environment: its variables and its private copy of its code."""

    def __init__(self, spec: FunctionSpec, environment: Mapping[str, str]) -> None:
        self.spec = spec
        self.environment = dict(environment)
        self._names = importable_names(spec.code_dir)
        if spec.module_name.split(".")[0] not in self._names:
            raise ImportError(f"{spec.logical_id}: {spec.module_name} is not in CodeUri {spec.code_dir}")
        self._modules: dict[str, ModuleType] = {}
        self._handler: Callable[[Any, Any], Any] | None = None

    @property
    def cold(self) -> bool:
        """True until the handler has been imported (the next invocation is a cold start)."""
        return self._handler is None

    def load(self) -> float:
        """Import the handler if this is a cold start (Lambda's init phase); returns its seconds."""
        with INVOKE_LOCK:
            if self._handler is not None:
                return 0.0
            started = time.monotonic()
            with self._activated():
                module = importlib.import_module(self.spec.module_name)
                self._handler = getattr(module, self.spec.attribute)
            return time.monotonic() - started

    def call(self, event: Any, context: LambdaContext) -> Any:
        """Run the handler on ``event`` inside this function's environment and modules."""
        with INVOKE_LOCK:
            self.load()
            with self._activated():
                return cast(Callable[[Any, Any], Any], self._handler)(event, context)

    def _owned(self, name: str) -> bool:
        return name.split(".")[0] in self._names

    @contextmanager
    def _activated(self) -> Iterator[None]:
        saved_environment = dict(os.environ)
        saved_path = list(sys.path)
        host_modules = {name: module for name, module in sys.modules.items() if self._owned(name)}
        for name in host_modules:
            del sys.modules[name]
        sys.modules.update(self._modules)
        sys.path.insert(0, str(self.spec.code_dir))
        os.environ.clear()
        os.environ.update(self.environment)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved_environment)
            sys.path[:] = saved_path
            self._modules = {name: module for name, module in sys.modules.items() if self._owned(name)}
            for name in self._modules:
                del sys.modules[name]
            sys.modules.update(host_modules)
