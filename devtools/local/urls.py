"""Function URLs on loopback: each function with a ``FunctionUrlConfig`` gets a port of its own.

AWS gives such a function an https URL (``https://<id>.lambda-url.<region>.on.aws/``) whose requests
reach the function as payload-2.0 events. Locally the stack binds a loopback port per function before
the functions' environments are resolved (so ``!GetAtt <Function>Url.FunctionUrl`` is the local
URL), and serves it from a worker process of its own (:mod:`devtools.local.url_worker`), started at the
first connection, so a stack whose URL nobody calls costs nothing. Approximated: plain http, one
invocation at a time per URL (AWS would run more environments), ``AuthType`` ``AWS_IAM`` not checked,
and the invocations are not in the runtime's counts and history.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devtools.local.sam import FunctionSpec
from devtools.local.template import Template

log = logging.getLogger(__name__)

_ACCEPT_POLL_S = 0.2
_STOP_WAIT_S = 5.0
_REPOSITORY = Path(__file__).resolve().parents[2]


def url_functions(template: Template) -> list[str]:
    """The logical ids of the template's functions that have a function URL."""
    return sorted(
        logical_id
        for logical_id, resource in template.resources.items()
        if resource.get("Type") == "AWS::Serverless::Function"
        and (resource.get("Properties") or {}).get("FunctionUrlConfig") is not None
    )


@dataclass
class FunctionUrl:
    """One function's URL: its listening socket and, once called, its worker process."""

    function_id: str
    socket: socket.socket
    url: str
    _worker: subprocess.Popen[bytes] | None = None
    _stopped: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, spec: FunctionSpec, environment: Mapping[str, str], *, warm: bool = False) -> None:
        """Start the worker at the first connection (in a thread that waits for it), or at once (``warm``:
        the function's cold start is paid before anyone calls, as a provisioned URL would)."""
        threading.Thread(
            target=self._spawn_when_called,
            args=(spec, dict(environment), warm),
            name=f"url-{spec.logical_id}",
            daemon=True,
        ).start()

    def _spawn_when_called(self, spec: FunctionSpec, environment: dict[str, str], warm: bool) -> None:
        while not warm and not self._stopped.is_set():
            try:
                readable, _, _ = select.select([self.socket], [], [], _ACCEPT_POLL_S)
            except (OSError, ValueError):
                return  # closed by stop()
            if readable:
                break
        if self._stopped.is_set():
            return
        with self._lock:
            if self._stopped.is_set():
                return
            self._worker = self._spawn(spec, environment)
        log.info("function URL %s served by process %s", self.url, self._worker.pid)
        self._relay(self._worker)

    def _relay(self, worker: subprocess.Popen[bytes]) -> None:
        """The worker's output (the function's JSON log lines, as Lambda writes them to CloudWatch) goes
        to this module's logger, line by line, where the local stack's other function logs go."""
        assert worker.stdout is not None
        for raw in worker.stdout:
            line = raw.decode(errors="replace").rstrip()
            if line:
                log.info("%s: %s", self.function_id, line)

    def _spawn(self, spec: FunctionSpec, environment: dict[str, str]) -> subprocess.Popen[bytes]:
        described = {
            "logical_id": spec.logical_id,
            "name": spec.name,
            "arn": spec.arn,
            "code_dir": str(spec.code_dir),
            "handler": spec.handler,
            "runtime": spec.runtime,
            "timeout_s": spec.timeout_s,
            "memory_mb": spec.memory_mb,
            "environment": {},
        }
        path = os.pathsep.join([str(spec.code_dir), str(_REPOSITORY), environment.get("PYTHONPATH", "")])
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devtools.local.url_worker",
                "--fd",
                str(self.socket.fileno()),
                "--spec",
                json.dumps(described),
                "--parent-pid",
                str(os.getpid()),
            ],
            env={**environment, "PYTHONPATH": path.rstrip(os.pathsep)},
            pass_fds=(self.socket.fileno(),),
            cwd=str(_REPOSITORY),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        """Stop the worker (if it started) and close the socket."""
        with self._lock:
            self._stopped.set()
        if self._worker is not None:
            self._worker.terminate()
            try:
                self._worker.wait(_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self._worker.kill()
                self._worker.wait()
        self.socket.close()


class FunctionUrls:
    """The function URLs of one local stack."""

    def __init__(self, template: Template, host: str = "127.0.0.1") -> None:
        self._urls: dict[str, FunctionUrl] = {}
        for function_id in url_functions(template):
            listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.bind((host, 0))
            listening.listen(128)
            listening.set_inheritable(True)
            url = f"http://{host}:{listening.getsockname()[1]}/"
            # What !GetAtt <Function>Url.FunctionUrl gives the other functions' environments.
            template.set_attribute(f"{function_id}Url", "FunctionUrl", url)
            self._urls[function_id] = FunctionUrl(function_id, listening, url)

    @property
    def urls(self) -> dict[str, str]:
        """Function logical id → its local URL."""
        return {function_id: entry.url for function_id, entry in self._urls.items()}

    def serve(
        self,
        specs: Mapping[str, FunctionSpec],
        environments: Mapping[str, Mapping[str, str]],
        *,
        warm: bool = False,
    ) -> None:
        """Serve each URL with its function's spec and environment (``warm``: start the workers now)."""
        for function_id, entry in self._urls.items():
            entry.serve(specs[function_id], environments[function_id], warm=warm)

    def stop(self) -> None:
        """Stop every worker and close every socket."""
        for entry in self._urls.values():
            entry.stop()
