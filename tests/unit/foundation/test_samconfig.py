"""samconfig.toml: every environment it names builds, validates and deploys with the same settings.

The SAM CLI reads only the environment given with `--config-env` (no inheritance from `default`), so
each environment must carry its own build and validate sections.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def samconfig() -> dict[str, Any]:
    with (ROOT / "samconfig.toml").open("rb") as file:
        return tomllib.load(file)


def environments(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: value for name, value in config.items() if isinstance(value, dict)}


def test_it_names_the_default_dev_and_prod_environments(samconfig: dict[str, Any]) -> None:
    assert samconfig["version"] == 0.1
    assert set(environments(samconfig)) == {"default", "dev", "prod"}


def test_every_environment_builds_and_lints_as_the_default_does(samconfig: dict[str, Any]) -> None:
    default = samconfig["default"]
    assert default["build"]["parameters"] == {"cached": True, "parallel": True}
    assert default["validate"]["parameters"] == {"lint": True}
    for name, environment in environments(samconfig).items():
        assert environment["build"]["parameters"] == default["build"]["parameters"], name
        assert environment["validate"]["parameters"] == default["validate"]["parameters"], name


def test_every_environment_names_its_stack_and_deploys_with_iam_and_a_changeset(
    samconfig: dict[str, Any],
) -> None:
    stacks = {}
    for name, environment in environments(samconfig).items():
        deploy = environment["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM", name
        assert deploy["confirm_changeset"] is True, name
        assert deploy["resolve_s3"] is True, name
        stage = "prod" if name == "prod" else "dev"
        assert f"Stage={stage}" in deploy["parameter_overrides"].split(), name
        stacks[name] = deploy.get("stack_name") or environment["global"]["parameters"]["stack_name"]
    assert stacks == {"default": "consent-sync-dev", "dev": "consent-sync-dev", "prod": "consent-sync-prod"}
