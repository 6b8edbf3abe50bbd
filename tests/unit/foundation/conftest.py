"""template.yaml, parsed once per module with cfn-lint's decoder (CloudFormation tags included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    parsed, problems = decode(str(ROOT / "template.yaml"))
    assert not problems, problems
    assert parsed is not None
    return parsed
