"""A function URL's worker process never outlives the local stack that started it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid

import psutil

from tests.e2e.conftest import ROOT, cli_command


def test_a_killed_local_up_leaves_no_function_url_worker() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    stack = f"urls-{uuid.uuid4().hex[:6]}"
    server = subprocess.Popen(
        [*cli_command(), "--stack", stack, "local", "up", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
        text=True,
    )
    try:
        # Given local up serving the receiver's function URL from its worker (started warm)
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        workers: list[psutil.Process] = []
        while not workers:
            assert time.monotonic() < deadline, "no function URL worker within 60 s"
            workers = [
                p
                for p in psutil.Process(server.pid).children(recursive=True)
                if "url_worker" in " ".join(p.cmdline())
            ]
            time.sleep(0.2)
        # When local up is killed, with no chance to clean up
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        # Then its workers end by themselves
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == []
    finally:
        if server.poll() is None:
            server.kill()
