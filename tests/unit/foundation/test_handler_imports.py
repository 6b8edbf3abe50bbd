"""What a handler's cold import leaves for its first invocation (the cold-import bench's leftovers).

No handler imports httpx (it comes with the first SuperOffice client), and the reconcile handler loads
Powertools' batch and idempotency utilities at its first invocation.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"
HANDLERS = ("settings", "import_members", "scheduled_sync", "presend", "platform_consent", "reconcile")

CHECK = """
import sys
sys.path.insert(0, sys.argv[1])
import importlib
importlib.import_module("consent_sync.handlers." + sys.argv[2])
deferred = ["httpx", "httpcore"]
if sys.argv[2] == "reconcile":
    deferred += ["aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.idempotency"]
loaded = [m for m in deferred if m in sys.modules]
assert not loaded, loaded
"""


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_imports_no_http_client(handler: str) -> None:
    # A fresh interpreter: this test process has imported them all for other tests.
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(FUNCTIONS), handler],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
