"""Importing the client loads neither ``cryptography`` nor PyJWT: only Online logins need them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"

CHECK = """
import sys
sys.path.insert(0, sys.argv[1])
import consent_sync.superoffice
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("cryptography", "jwt"))
assert "cryptography" not in sys.modules and "jwt" not in sys.modules, loaded
"""


def test_importing_the_client_loads_no_crypto_or_jwt() -> None:
    # A fresh interpreter: this test process has imported both for other tests.
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(FUNCTIONS)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
