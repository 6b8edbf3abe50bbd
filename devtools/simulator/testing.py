"""Run the simulator inside a test: `with running_simulator() as sim: ...`.

The server listens on 127.0.0.1 on a free port in a background thread; `sim.control` drives the
`/_sim/` control API over HTTP, exactly as another process would.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn

from consent_sync.domain.consent import ConsentState
from devtools.simulator.auth import OnlineCredentials
from devtools.simulator.faults import DEFAULT_SKIP_COST_US, DEFAULT_TIMEOUT_S
from devtools.simulator.server import create_app
from devtools.simulator.tenant import DEFAULT_CUST_ID, Tenant
from devtools.simulator.webhooks import DEFAULT_RETRY_DELAYS_S, Attempt
from devtools.simulator.webhooks import DEFAULT_TIMEOUT_S as WEBHOOK_TIMEOUT_S

__all__ = ["Attempt", "OnlineCredentials", "SimulatorControl", "SimulatorHandle", "running_simulator"]

STARTUP_TIMEOUT_S = 15.0


class SimulatorControl:
    """A small client for the simulator's `/_sim/` control API."""

    def __init__(self, root_url: str) -> None:
        self._http = httpx.Client(base_url=f"{root_url}/_sim", timeout=60.0)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def _maybe(self, path: str) -> Any:
        response = self._http.get(path)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def health(self) -> dict[str, Any]:
        """`{"status", "cust_id", "persons", "seed", "consent_rows", "companies"}`."""
        return dict(self._call("GET", "/health"))

    def reset(self, persons: int | None = None, seed: int | None = None) -> dict[str, Any]:
        """Reseed the CRM (None keeps the current value); credentials, tickets, faults and counts stay."""
        body = {key: value for key, value in (("persons", persons), ("seed", seed)) if value is not None}
        return dict(self._call("POST", "/reset", json=body))

    def set_consent(
        self,
        person_id: int,
        purpose: str,
        legal_base: str,
        source: str = "USER",
        at: datetime | None = None,
        comment: str = "",
    ) -> dict[str, Any]:
        """Change a consent as a SuperOffice user would, at `at` (default now); returns the ConsentInfo.

        A naive `at` is taken as UTC; times are stored to whole seconds.
        """
        body = {
            "person_id": person_id,
            "purpose": purpose,
            "legal_base": legal_base,
            "source": source,
            "comment": comment,
            "at": at.isoformat() if at is not None else None,
        }
        return dict(self._call("POST", "/consent", json=body))

    def create_person(
        self,
        first: str,
        last: str,
        email: str,
        company: str | None = None,
        registered_at: datetime | None = None,
    ) -> int:
        """Create a person (with a STORE row 61F/UNKNOWN, like the REST API does); returns its id."""
        body = {
            "first": first,
            "last": last,
            "email": email,
            "company": company,
            "registered_at": registered_at.isoformat() if registered_at is not None else None,
        }
        return int(self._call("POST", "/persons", json=body)["person_id"])

    def set_email(self, person_id: int, email: str) -> dict[str, Any]:
        """Replace the person's primary e-mail address (any string: tests use invalid ones too)."""
        return dict(self._call("PUT", f"/persons/{person_id}/email", json={"email": email}))

    def counts(self) -> dict[str, int]:
        """Requests per endpoint key (`"GET /Archive/dynamic"`), plus `"status:<code>"` per non-2xx status."""
        return {key: int(value) for key, value in self._call("GET", "/counts").items()}

    def reset_counts(self) -> None:
        """Forget counts and the request log."""
        self._call("DELETE", "/counts")

    def request_log(self) -> list[tuple[datetime, str, str, int]]:
        """(time UTC, method, path, status) of each served request, oldest first."""
        return [
            (datetime.fromisoformat(e["at"]), e["method"], e["path"], int(e["status"]))
            for e in self._call("GET", "/requests")
        ]

    def set_faults(
        self,
        latency_ms: float = 0,
        rate_limit_per_s: float | None = None,
        retry_after_s: int = 1,
        error_ratio: float = 0.0,
        timeout_ratio: float = 0.0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        outage_s: float | None = None,
        seed: int = 0,
        skip_cost_us: float = DEFAULT_SKIP_COST_US,
    ) -> dict[str, Any]:
        """Replace all fault settings (anything not given goes back to normal).

        `outage_s=math.inf` keeps the outage until `clear_faults()`.
        """
        body = {
            "latency_ms": latency_ms,
            "rate_limit_per_s": rate_limit_per_s,
            "retry_after_s": retry_after_s,
            "error_ratio": error_ratio,
            "timeout_ratio": timeout_ratio,
            "timeout_s": timeout_s,
            "outage_s": "until_cleared" if outage_s is not None and math.isinf(outage_s) else outage_s,
            "seed": seed,
            "skip_cost_us": skip_cost_us,
        }
        return dict(self._call("PUT", "/faults", json=body))

    def clear_faults(self) -> None:
        """Normal service again."""
        self._call("DELETE", "/faults")

    def invalidate_tickets(self) -> int:
        """Every ticket stops working (the next call with one gets 401); returns how many there were."""
        return int(self._call("POST", "/tickets/invalidate")["invalidated"])

    def issue_ticket(self) -> str:
        """An on-site ticket for `Authorization: SOTicket <ticket>` (no SO-AppToken needed)."""
        return str(self._call("POST", "/tickets")["ticket"])

    def set_ticket_ttl(self, seconds: float) -> None:
        """Ticket lifetime (sliding) for tickets issued or used from now on; default 6 hours."""
        self._call("PUT", "/tickets/ttl", json={"seconds": seconds})

    def webhooks(self) -> list[dict[str, Any]]:
        """Registered webhooks: `webhook_id`, `name`, `events`, `target_url`, `state`,
        `consecutive_errors`, `context_identifier`, `has_secret` (the secret itself is never shown)."""
        return list(self._call("GET", "/webhooks"))

    def clear_webhooks(self) -> None:
        """Forget every webhook and the delivery log; delivery knobs back to SuperOffice's behaviour."""
        self._call("DELETE", "/webhooks")

    def set_webhook_settings(
        self,
        retry_delays_s: tuple[float, float] = DEFAULT_RETRY_DELAYS_S,
        timeout_s: float = WEBHOOK_TIMEOUT_S,
        drop_next: int = 0,
        drop_all: bool = False,
        forbidden: bool = False,
    ) -> dict[str, Any]:
        """Replace every delivery knob (anything not given goes back to SuperOffice's behaviour).

        `retry_delays_s`: the waits before the second and third try; `timeout_s`: per try;
        `drop_next`: the next N deliveries are lost, as if SuperOffice dropped them; `drop_all`: every
        delivery is lost until cleared; `forbidden`: every `/Webhook` call answers 403.
        """
        body = {
            "retry_delays_s": list(retry_delays_s),
            "timeout_s": timeout_s,
            "drop_next": drop_next,
            "drop_all": drop_all,
            "forbidden": forbidden,
        }
        return dict(self._call("PUT", "/webhooks/settings", json=body))

    def clear_webhook_settings(self) -> None:
        """Delivery knobs back to SuperOffice's behaviour."""
        self._call("DELETE", "/webhooks/settings")

    def webhook_deliveries(self) -> list[Attempt]:
        """Every delivery try (and every delivery the drop knob lost), oldest first."""
        return [
            Attempt(**{**entry, "at": datetime.fromisoformat(entry["at"])})
            for entry in self._call("GET", "/webhooks/deliveries")
        ]

    def clear_webhook_deliveries(self) -> None:
        """Forget the delivery log."""
        self._call("DELETE", "/webhooks/deliveries")

    def wait_webhooks_idle(self, timeout_s: float = 30.0) -> None:
        """Block until no delivery is under way (retries included); TimeoutError after `timeout_s`."""
        answer = self._call("POST", "/webhooks/idle", json={"timeout_s": timeout_s}, timeout=timeout_s + 10)
        if not answer["idle"]:
            raise TimeoutError(f"{answer['pending']} webhook deliveries still under way after {timeout_s} s")

    def person(self, person_id: int) -> dict[str, Any] | None:
        """`{"person_id", "first_name", "last_name", "contact_id", "company", "emails", "primary_email",
        "mobile", "registered", "updated", "retired"}`, None when unknown."""
        return self._maybe(f"/persons/{person_id}")

    def consent(self, person_id: int, purpose: str) -> dict[str, Any] | None:
        """The person's row for the purpose as ConsentInfo (`LegalBaseKey`, `Registered`, ...), or None."""
        return self._maybe(f"/persons/{person_id}/consents/{purpose}")

    def persons_by_email(self, email: str) -> list[int]:
        """Ids (ascending) of persons whose primary address is `email`, ignoring letter case."""
        return [int(pid) for pid in self._call("GET", "/persons", params={"email": email})]

    def selection_ids(self) -> list[int]:
        """Ids of the seeded static selections."""
        return [int(s["id"]) for s in self._call("GET", "/selections")]

    def create_selection(self, person_ids: list[int], name: str | None = None) -> int:
        """A new static selection of these persons (in this order, each once); returns its id."""
        body: dict[str, Any] = {"person_ids": list(person_ids)}
        if name is not None:
            body["name"] = name
        return int(self._call("POST", "/selections", json=body)["id"])

    def export_persons(self, page_size: int = 5_000) -> Iterator[dict[str, Any]]:
        """Every person, by ascending id, as `person()` gives it plus `"consents"`: `{purpose key:
        ConsentInfo}` (the rows the person has). Paged, so large CRMs load in few requests."""
        after: int | None = 0
        while after is not None:
            page = self._call("GET", "/persons/export", params={"after": after, "limit": page_size})
            yield from page["persons"]
            after = page["next_after"]

    def selection_members(self, selection_id: int) -> list[tuple[int, int]]:
        """(personId, contactId) rows of a selection; personId 0 for company rows."""
        return [(int(p), int(c)) for p, c in self._call("GET", f"/selections/{selection_id}")]

    def project_ids(self) -> list[int]:
        """Ids of the seeded projects."""
        return [int(p["id"]) for p in self._call("GET", "/projects")]

    def project_members(self, project_id: int) -> list[dict[str, int]]:
        """All members (retired persons included): `project_member_id`, `person_id`, `contact_id`."""
        return list(self._call("GET", f"/projects/{project_id}"))


@dataclass
class SimulatorHandle:
    """A running simulator: where it is, how to log in, and its control client."""

    root_url: str  # stands for https://{env}.superoffice.com
    api_url: str  # on-site style base URL, ".../Cust12345/api/v1"
    cust_id: str
    username: str
    password: str
    online: OnlineCredentials
    control: SimulatorControl


def _free_socket() -> socket.socket:
    # proto must say TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets when it does,
    # and without it every keep-alive response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def running_simulator(
    persons: int = 200,
    seed: int = 1,
    username: str = "sim",
    password: str = "sim",  # noqa: S107 - the simulator's documented test credentials
    cust_id: str = DEFAULT_CUST_ID,
) -> Iterator[SimulatorHandle]:
    """Start a simulator on a free port in a background thread, yield its handle, stop it cleanly."""
    tenant = Tenant.create(persons=persons, seed=seed, username=username, password=password, cust_id=cust_id)
    sock = _free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(tenant),
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="superoffice-sim", daemon=True
    )
    thread.start()
    root = f"http://127.0.0.1:{port}"
    control = SimulatorControl(root)
    try:
        _wait_until_up(control, thread)
        yield SimulatorHandle(
            root_url=root,
            api_url=f"{root}/{cust_id}/api/v1",
            cust_id=cust_id,
            username=username,
            password=password,
            online=tenant.auth.online,
            control=control,
        )
    finally:
        control.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _wait_until_up(control: SimulatorControl, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            control.health()
            return
        except httpx.TransportError:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the SuperOffice simulator did not start") from None
            time.sleep(0.02)


_NEVER = "0001-01-01T00:00:00"


def consent_state(info: Mapping[str, Any] | None) -> ConsentState | None:
    """A ConsentInfo as the control API gives it, as consent-sync's state: the change time is
    ``max(Registered, Updated)`` as UTC, the way the client reads a consent row."""
    if info is None:
        return None
    times = [datetime.fromisoformat(info["Registered"]).replace(tzinfo=UTC)]
    if info.get("Updated") and info["Updated"] != _NEVER:
        times.append(datetime.fromisoformat(info["Updated"]).replace(tzinfo=UTC))
    return ConsentState(
        legal_base=info["LegalBaseKey"],
        source=info.get("ConsentSourceKey"),
        comment=info.get("Comment") or None,
        changed_at=max(times),
    )
