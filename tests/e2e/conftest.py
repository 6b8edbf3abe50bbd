"""End-to-end: the `consent-sync` CLI in subprocesses against `consent-sync local up` in another one."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psutil
import pytest

from devtools.simulator.testing import SimulatorHandle, running_simulator

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_command() -> list[str]:
    script = shutil.which("consent-sync", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "devtools"]


@dataclass
class Cli:
    """Runs `consent-sync` against one local stack."""

    endpoint_url: str
    stack: str
    log: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ENDPOINT_URL=self.endpoint_url,
            AWS_DEFAULT_REGION="eu-west-1",
            AWS_ACCESS_KEY_ID="e2e",
            AWS_SECRET_ACCESS_KEY="e2e",
            CONSENT_SYNC_STACK=self.stack,
            COLUMNS="200",
        )
        return env

    def __call__(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli_command(), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            input=input_text,
            timeout=120,
            check=False,
            cwd=ROOT,
        )

    def aws(self, service: str) -> Any:
        """A boto3 client on the local stack (moto takes any credentials)."""
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name="eu-west-1",
            aws_access_key_id="e2e",
            aws_secret_access_key="e2e",
        )

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)


def set_onsite_account(cli: Cli, account: str, url: str, username: str, password: str) -> None:
    """`account set` with sync on, an on-site URL (plain http allowed) and Basic credentials."""
    cli.json(
        "account", "set", account, "--integration", "superoffice", "--legal-basis-sync",
        "--superoffice-url", url, "--allow-insecure", "--username", username, "--password", password,
    )  # fmt: skip


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    with running_simulator(persons=200, seed=3) as sim:
        yield sim


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory, simulator: SimulatorHandle) -> Iterator[Cli]:
    # Started after the simulator, so stopped before it: work still in flight when a module ends (a
    # push) finishes against a running simulator instead of retrying one that is gone while local up
    # waits for it.
    port = free_port()
    stack = f"e2e-{uuid.uuid4().hex[:8]}"
    log = tmp_path_factory.mktemp("local-up") / "local-up.log"
    runner = Cli(endpoint_url=f"http://127.0.0.1:{port}", stack=stack, log=log)
    with log.open("w") as sink:
        server = subprocess.Popen(
            [*cli_command(), "local", "up", "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=runner.env(),
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 60
            while "is up" not in log.read_text():
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "local up did not come up in 60 s"
                time.sleep(0.2)
            yield runner
        finally:
            children = psutil.Process(server.pid).children(recursive=True)  # the function URL workers
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
            # SIGTERM stops local up with its clean-up: no worker outlives it
            _, alive = psutil.wait_procs(children, timeout=10)
            assert alive == [], f"processes left behind by local up: {alive}"
