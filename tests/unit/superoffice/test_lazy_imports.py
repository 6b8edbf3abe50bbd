"""The package, its errors and its names load without httpx: only opening a client imports it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"

PRELUDE = """
import sys
sys.path.insert(0, sys.argv[1])
HEAVY = ("httpx", "tenacity", "h11", "httpcore")
def loaded():
    return sorted(m for m in HEAVY if m in sys.modules)
"""

CASES = {
    "package and errors": """
import consent_sync.superoffice
import consent_sync.superoffice.errors
from consent_sync.superoffice.errors import error_for_response, error_text, scrub
assert not loaded(), loaded()
assert "consent_sync.superoffice.models" not in sys.modules  # no model class is even created
""",
    "what flows import": """
from consent_sync.superoffice import (
    BadRequest, ConsentRow, ListedPerson, NotFound, SuperOfficeClient, SuperOfficeError, Throttled,
    TokenBucket, Unavailable,
)
from consent_sync.superoffice.models import ConsentRow as Row, superoffice_states
import consent_sync.superoffice.client, consent_sync.superoffice.auth, consent_sync.superoffice.odata
assert Row is ConsentRow and issubclass(NotFound, SuperOfficeError)
assert not loaded(), loaded()
""",
    "opening a client": """
from consent_sync.domain.settings import SuperOfficeConnection, SuperOfficeCredentials
from consent_sync.superoffice import SuperOfficeClient
assert not loaded(), loaded()
connection = SuperOfficeConnection(kind="onsite", base_url="https://crm.example.com/api/v1", auth="basic")
with SuperOfficeClient.open(connection, SuperOfficeCredentials(username="u", password="p4ssword")):
    assert "httpx" in sys.modules and "tenacity" in sys.modules
""",
    "retry policy": """
from consent_sync.superoffice import RetryPolicy  # lives with the transport: loads it
assert RetryPolicy().max_attempts > 0 and "httpx" in sys.modules
""",
}


@pytest.mark.parametrize("case", list(CASES))
def test_httpx_is_loaded_only_with_a_client(case: str) -> None:
    # A fresh interpreter: this test process has imported httpx for other tests.
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + CASES[case], str(FUNCTIONS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_lazy_names_resolve_and_unknown_ones_fail() -> None:
    import consent_sync.superoffice as superoffice
    from consent_sync.superoffice.client import SuperOfficeClient
    from consent_sync.superoffice.transport import RetryPolicy

    assert superoffice.SuperOfficeClient is SuperOfficeClient
    assert superoffice.RetryPolicy is RetryPolicy
    assert set(superoffice.__all__) <= set(dir(superoffice))
    for name in superoffice.__all__:
        assert getattr(superoffice, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        superoffice.Nope  # noqa: B018
