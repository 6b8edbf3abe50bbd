"""What `sam validate` checks: the SAM translator turns template.yaml into plain CloudFormation.

cfn-lint (`make cfn-lint`) checks the SAM resources against SAM's schemas but no longer runs the
transform; `sam validate` does, with the AWS SAM translator, after replacing local code paths with
placeholder S3 URIs. This runs that translator, the version SAM CLI 1.170 bundles, in a virtualenv of
its own (it pins another pydantic), so a template SAM would refuse fails here, not at `sam deploy`.
The whole SAM CLI (`sam validate --lint`, ~340 MB) is `make sam-validate`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow  # the first run installs the translator: handed out early
TRANSLATOR_VENV = ROOT / ".venv-sam-translator"
TRANSLATOR_VERSION = "1.115.0"

#: Run in the translator's virtualenv: the template (JSON, tags already resolved) on stdin, the
#: translated template or the translator's errors on stdout.
_TRANSLATE = """
import json, sys
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform

class NoManagedPolicies:
    def load(self):
        return {}

try:
    print(json.dumps({"template": transform(json.load(sys.stdin), {}, NoManagedPolicies())}))
except InvalidDocumentException as exc:
    print(json.dumps({"errors": [str(cause) for cause in exc.causes]}))
"""


def _translator_python() -> Path:
    python = TRANSLATOR_VENV / "bin" / "python"
    if python.exists():
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", str(TRANSLATOR_VENV)], check=True, capture_output=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             f"aws-sam-translator=={TRANSLATOR_VERSION}"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        output = getattr(exc, "stderr", b"") or b""
        pytest.fail(
            f"aws-sam-translator {TRANSLATOR_VERSION} could not be installed: {output.decode()[-300:]}"
        )
    return python


def _with_placeholder_code(template: dict[str, Any]) -> dict[str, Any]:
    """Local ``CodeUri``/``ContentUri`` paths replaced with S3 URIs, as `sam validate` does."""
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
                properties[key] = "s3://bucket/value"
    globals_function = template.get("Globals", {}).get("Function", {})
    if isinstance(globals_function.get("CodeUri"), str):
        globals_function["CodeUri"] = "s3://bucket/value"
    return template


def translate(template: dict[str, Any]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    env["AWS_DEFAULT_REGION"] = "eu-west-1"  # the translator resolves AWS::Region
    result = subprocess.run(
        [str(_translator_python()), "-c", _TRANSLATE],
        input=json.dumps(template, default=str),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(json.loads(result.stdout))


@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    template, matches = decode(str(ROOT / "template.yaml"))
    assert not matches, matches
    return _with_placeholder_code(json.loads(json.dumps(template, default=str)))


def test_the_sam_translator_accepts_the_template(sam_template: dict[str, Any]) -> None:
    serverless = {
        name: resource["Type"]
        for name, resource in sam_template["Resources"].items()
        if resource["Type"].startswith("AWS::Serverless::")
    }
    translated = translate(sam_template)

    assert translated.get("errors") is None, translated.get("errors")
    resources = translated["template"]["Resources"]
    # Every SAM resource became plain CloudFormation: nothing serverless is left for CloudFormation.
    assert not [r for r in resources.values() if r["Type"].startswith("AWS::Serverless::")]
    functions = [name for name, kind in serverless.items() if kind == "AWS::Serverless::Function"]
    assert functions
    for name in functions:
        assert resources[name]["Type"] == "AWS::Lambda::Function", name
    kinds = [r["Type"] for r in resources.values()]
    assert "AWS::Lambda::EventSourceMapping" in kinds  # the SQS event sources
    assert "AWS::Events::Rule" in kinds  # the EventBridge rules and the schedule
    assert "AWS::Lambda::Url" in kinds  # the webhook receiver's function URL


def test_a_template_sam_would_refuse_is_refused(sam_template: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(sam_template))
    function = next(r for r in broken["Resources"].values() if r["Type"] == "AWS::Serverless::Function")
    function["Properties"]["Events"] = {"Broken": {"Type": "SQS", "Properties": {}}}  # no Queue

    translated = translate(broken)

    assert translated.get("errors"), translated
