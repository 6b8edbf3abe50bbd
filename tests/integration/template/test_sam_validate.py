"""`sam validate --lint` with aws-sam-cli in its own virtualenv (it pins its own boto3)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SAM_VENV = ROOT / ".venv-sam"
SAM_VERSION = "1.170.0"


def _sam() -> Path:
    sam = SAM_VENV / "bin" / "sam"
    if sam.exists():
        return sam
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(SAM_VENV)], check=True, capture_output=True, timeout=120
        )
        subprocess.run(
            [str(SAM_VENV / "bin" / "pip"), "install", "--quiet", f"aws-sam-cli=={SAM_VERSION}"],
            check=True,
            capture_output=True,
            timeout=480,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        output = getattr(exc, "stderr", b"") or b""
        reason = f"aws-sam-cli {SAM_VERSION} could not be installed: {output.decode(errors='replace')[-300:]}"
        print(reason)
        pytest.skip(reason)
    return sam


@pytest.mark.slow
def test_sam_validate_lint() -> None:
    sam = _sam()
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "validate",
        "AWS_SECRET_ACCESS_KEY": "validate",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    result = subprocess.run(
        [str(sam), "validate", "--lint", "--template-file", str(ROOT / "template.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr
