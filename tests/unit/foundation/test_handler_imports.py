"""What a handler's cold import leaves for its first invocation (the cold-import bench's leftovers).

Imported under the environment Lambda gives a traced function (``LAMBDA_TASK_ROOT``: tracing on). No
handler imports httpx (it comes with the first SuperOffice client), the X-Ray SDK with wrapt and
asyncio (the tracer's first use), tenacity (the first batch read or optimistic write), the SuperOffice
client or its models (the first client opened), Powertools' parameters utility (the first secret
read), or compiles a regular expression of its own (the log scrubber's at the first line scrubbed,
the others at their first use); the reconcile and webhook receiver handlers load Powertools' batch and idempotency
utilities at their first invocation; the platform consent function never imports the sync run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"
HANDLERS = (
    "settings",
    "import_members",
    "scheduled_sync",
    "presend",
    "platform_consent",
    "reconcile",
    "webhook_receiver",
    "webhook_pull",
)
DEFERRED = (
    "httpx",
    "httpcore",
    "aws_xray_sdk",
    "wrapt",
    "asyncio",
    "tenacity",
    "consent_sync.superoffice.client",
    "consent_sync.superoffice.transport",
    "consent_sync.superoffice.models",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.utilities.parameters",
)
NOT_IMPORTED = {"platform_consent": ("consent_sync.flows.sync_run", "consent_sync.flows.keep_webhook")}

CHECK = """
import re, sys
sys.path.insert(0, sys.argv[1])
compiled = []
compile = re.compile
def recording(pattern, flags=0):
    compiled.append((sys._getframe(1).f_globals.get("__name__", ""), pattern))
    return compile(pattern, flags)
re.compile = recording
import importlib
importlib.import_module("consent_sync.handlers." + sys.argv[2])
from consent_sync.domain import redaction
loaded = [m for m in sys.argv[3].split(",") if m in sys.modules]
assert not loaded, loaded
assert redaction._pattern.cache_info().currsize == 0
ours = [(module, pattern) for module, pattern in compiled if module.startswith("consent_sync")]
assert not ours, ours
"""


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_leaves_for_its_first_invocation(handler: str) -> None:
    deferred = [*DEFERRED, *NOT_IMPORTED.get(handler, ())]
    host = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "LAMBDA_"))}
    # A fresh interpreter: this test process has imported them all for other tests.
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(FUNCTIONS), handler, ",".join(deferred)],
        env={**host, "LAMBDA_TASK_ROOT": str(FUNCTIONS), "AWS_LAMBDA_FUNCTION_NAME": handler},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
