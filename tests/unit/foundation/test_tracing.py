"""The tracer costs a cold start only what it must: X-Ray only when tracing is on, patching lazily.

Each case imports ``consent_sync.observability`` in a fresh interpreter: what a cold start imports
is process-wide state (``sys.modules``, Powertools' shared Tracer configuration).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from consent_sync.observability import UntracedProvider, build_tracer

FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"
ON_AWS = {"LAMBDA_TASK_ROOT": "/var/task", "AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_REGION": "eu-west-1"}


def _cold(code: str, **environment: str) -> dict[str, Any]:
    host = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "LAMBDA_"))}
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**host, "PYTHONPATH": str(FUNCTIONS), **environment},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def test_off_the_x_ray_sdk_is_not_imported() -> None:
    seen = _cold(
        """
        import json, sys
        from consent_sync.observability import tracer
        @tracer.capture_lambda_handler
        def handler(event, context):
            return {"ok": True}
        print(json.dumps({
            "result": handler({}, None),
            "disabled": tracer.disabled,
            "xray_core": "aws_xray_sdk.core" in sys.modules,
            "httpx": "httpx" in sys.modules,
        }))
        """,
        LAMBDA_TASK_ROOT="/var/task",
        AWS_SAM_LOCAL="true",
    )
    assert seen == {"result": {"ok": True}, "disabled": True, "xray_core": False, "httpx": False}


def test_on_aws_x_ray_comes_with_the_first_invocation_and_traces_botocore_and_httpx() -> None:
    seen = _cold(
        """
        import json, sys
        from consent_sync.observability import XRayOnFirstUse, tracer
        @tracer.capture_lambda_handler
        def handler(event, context):
            import botocore.client
            return {"botocore_patched": hasattr(botocore.client, "_xray_enabled")}
        imported = {"xray_core": "aws_xray_sdk.core" in sys.modules, "wrapt": "wrapt" in sys.modules,
                    "httpx": "httpx" in sys.modules, "requests": "requests" in sys.modules}
        first = handler({}, None)
        from aws_xray_sdk.core import xray_recorder
        import httpx
        from aws_xray_sdk.ext.httpx.patch import _InstrumentedClient
        print(json.dumps({
            "imported": imported,
            "first": first,
            "disabled": tracer.disabled,
            "provider": isinstance(tracer.provider, XRayOnFirstUse),
            "recorder": tracer.provider.recorder() is xray_recorder,
            "streaming_threshold": xray_recorder.streaming_threshold,
            "httpx_patched": httpx.Client is _InstrumentedClient,
            "requests": "requests" in sys.modules,
        }))
        """,
        _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        **ON_AWS,
    )
    assert seen == {
        # Nothing of X-Ray at import: the first invocation loads it.
        "imported": {"xray_core": False, "wrapt": False, "httpx": False, "requests": False},
        "first": {"botocore_patched": True},  # before the invocation's own code ran
        "disabled": False,
        "provider": True,
        "recorder": True,
        "streaming_threshold": 0,  # as Powertools configures its own X-Ray provider
        "httpx_patched": True,  # imported after: patched by the post-import hook
        "requests": False,  # not patched at all: the functions do not use it
    }


def test_on_aws_an_already_imported_httpx_is_patched_at_once() -> None:
    seen = _cold(
        """
        import json
        import httpx
        from consent_sync.observability import tracer
        tracer.put_annotation("k", "v")  # any use of the recorder loads it
        from aws_xray_sdk.ext.httpx.patch import _InstrumentedClient
        print(json.dumps({"httpx_patched": httpx.Client is _InstrumentedClient}))
        """,
        **ON_AWS,
    )
    assert seen == {"httpx_patched": True}


def test_trace_disabled_switch_turns_it_off_in_lambda() -> None:
    seen = _cold(
        """
        import json, sys
        from consent_sync.observability import tracer
        print(json.dumps({"disabled": tracer.disabled, "xray_core": "aws_xray_sdk.core" in sys.modules}))
        """,
        POWERTOOLS_TRACE_DISABLED="true",
        **ON_AWS,
    )
    assert seen == {"disabled": True, "xray_core": False}


def test_the_untraced_tracer_decorates_and_re_raises() -> None:
    tracer = build_tracer(False)
    assert isinstance(tracer.provider, UntracedProvider)

    @tracer.capture_method
    def double(n: int) -> int:
        return 2 * n

    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event.get("fail"):
            raise RuntimeError("boom")
        return {"n": double(event["n"])}

    assert handler({"n": 2}, None) == {"n": 4}
    with pytest.raises(RuntimeError, match="boom"):
        handler({"fail": True}, None)
    tracer.put_annotation("k", "v")
    tracer.put_metadata("k", {"v": 1})
