"""The house plan, enforced: handlers over flows over adapters over the domain (pyproject's
[tool.importlinter] contracts), checked on the real package and shown to catch a breach."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _lint(config: Path, cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    script = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(config_filename=sys.argv[1]))"
    return subprocess.run(
        [sys.executable, "-c", script, str(config)],
        cwd=cwd,
        env={"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_package_keeps_every_contract() -> None:
    # Given the contracts in pyproject.toml, when they are checked against consent_sync
    result = _lint(ROOT / "pyproject.toml", ROOT, ROOT / "functions")
    # Then every one is kept
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.replace("0 broken", "")


def _fake_package(tmp_path: Path, bad_module: str) -> Path:
    """A consent_sync with the real layout's packages and one domain module of the given source."""
    package = tmp_path / "src" / "consent_sync"
    for sub in ("domain", "flows", "handlers", "store", "superoffice"):
        (package / sub).mkdir(parents=True)
        (package / sub / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    for module in ("events", "config", "observability"):
        (package / f"{module}.py").write_text("")
    (package / "flows" / "reconcile_chunk.py").write_text("")
    (package / "domain" / "rules.py").write_text(bad_module)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ["[importlinter]\nroot_packages =\n    consent_sync\ninclude_external_packages = True\n"]
    for number, contract in enumerate(config["contracts"]):
        lines.append(f"\n[importlinter:contract:{number}]")
        for key, value in contract.items():
            if isinstance(value, list):
                lines.append(f"{key} =" + "".join(f"\n    {item}" for item in value))
            else:
                lines.append(f"{key} = {value}")
    ini = tmp_path / "contracts.ini"
    ini.write_text("\n".join(lines) + "\n")
    return ini


@pytest.mark.parametrize(
    "source",
    ["import boto3\n", "from consent_sync.flows import reconcile_chunk\n", "import httpx\n"],
    ids=["boto3", "a flow", "httpx"],
)
def test_a_domain_module_importing_io_or_a_flow_breaks_a_contract(tmp_path: Path, source: str) -> None:
    # Given a domain module that imports an adapter library or a flow
    ini = _fake_package(tmp_path, source)
    # When the same contracts are checked
    result = _lint(ini, tmp_path, tmp_path / "src")
    # Then the check fails
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout.upper()


def test_a_clean_fake_package_keeps_the_contracts(tmp_path: Path) -> None:
    # The negative tests fail for the import, not for the fake package itself.
    ini = _fake_package(tmp_path, "from collections import Counter\n")
    result = _lint(ini, tmp_path, tmp_path / "src")
    assert result.returncode == 0, result.stdout + result.stderr
