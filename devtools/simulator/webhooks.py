"""SuperOffice webhooks of one tenant: the registrations, the test ping and the deliveries.

As SuperOffice does (api-notes §4): registering (or re-targeting, or re-activating) a webhook first
POSTs a `test` event to its target, which must answer 200; every change of a consent row fires
`person.consented` (any legal base but WITHDRAWN) or `person.unconsented` (WITHDRAWN) to each Active
webhook subscribed to it. A delivery is tried at once, then after 1 s and 4 s; a try fails on a
non-2xx answer, a connection error or a timeout; after the third failure the event is dropped, and
after 9 dropped events in a row the webhook turns `TooManyErrors` and gets nothing until it is put
back to `Active`. Deliveries run as tasks on the server's event loop, never inside the API call that
caused them. The body is compact UTF-8 JSON; `X-SuperOffice-Signature` is
base64(HMAC-SHA256(secret, body bytes)), sent only when the webhook has a secret.

The simulator delivers to loopback hosts only (127.0.0.1, ::1, localhost): it runs where no other
address may be contacted. `https` targets are allowed there, with certificate checks as SuperOffice
makes them; plain `http` is allowed to loopback too, since a test receiver has no certificate.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import math
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import httpx

from devtools.simulator.clock import NEVER, utc_now
from devtools.simulator.crm import LEGAL_BASE_BY_ID, ConsentRow

CONSENTED = "person.consented"
UNCONSENTED = "person.unconsented"
TEST_EVENT = "test"
#: Tries per event: at once, then after each of the retry delays.
TRIES = 3
DEFAULT_RETRY_DELAYS_S = (1.0, 4.0)
DEFAULT_TIMEOUT_S = 5.0
#: Dropped events in a row after which a webhook turns TooManyErrors.
ERRORS_BEFORE_TOO_MANY = 9
LOG_LIMIT = 10_000
#: How much of a target's answer a WebhookResult message or an error repeats.
ANSWER_EXCERPT = 500
USER_AGENT = "NetServer-Webhook/10.3 (consent-sync simulator)"
_LOOPBACK_NAMES = {"localhost"}


class WebhookState(StrEnum):
    """`State` of a webhook, as SuperOffice names it."""

    UNKNOWN = "Unknown"
    ACTIVE = "Active"
    STOPPED = "Stopped"
    TOO_MANY_ERRORS = "TooManyErrors"


class WebhookError(ValueError):
    """A webhook request SuperOffice refuses with 400 (bad definition, failing test ping)."""


@dataclass
class Webhook:
    """One registration. Updated in place by PUT, so deliveries under way see the new state."""

    webhook_id: int
    name: str
    events: list[str]
    target_url: str
    secret: str
    state: WebhookState
    type: str
    headers: dict[str, str]
    properties: dict[str, Any]
    context_identifier: str  # "CustNNNNN" when registered through Online, "" on-site
    registered: datetime
    registered_associate_id: int
    updated: datetime = NEVER
    updated_associate_id: int = 0
    consecutive_errors: int = 0


@dataclass
class DeliverySettings:
    """The knobs of the deliveries; the defaults are SuperOffice's behaviour."""

    retry_delays_s: list[float] = field(default_factory=lambda: list(DEFAULT_RETRY_DELAYS_S))
    timeout_s: float = DEFAULT_TIMEOUT_S  # per try, test pings included
    drop_next: int = 0  # this many coming deliveries are lost, as if SuperOffice dropped them
    drop_all: bool = False  # every delivery is lost until cleared
    forbidden: bool = False  # the app may not use the Webhook agent: every /Webhook call gets 403

    def validate(self) -> None:
        """Raise ValueError for settings that make no sense."""
        if len(self.retry_delays_s) != TRIES - 1 or any(
            not isinstance(d, int | float) or d < 0 or math.isinf(d) for d in self.retry_delays_s
        ):
            raise ValueError(f"retry_delays_s must be {TRIES - 1} non-negative numbers of seconds")
        if not self.timeout_s > 0 or math.isinf(self.timeout_s):
            raise ValueError("timeout_s must be a positive number of seconds")
        if not isinstance(self.drop_next, int) or self.drop_next < 0:
            raise ValueError("drop_next must be a non-negative integer")


@dataclass(frozen=True)
class Attempt:
    """One line of the delivery log: a try (or a delivery the drop knob lost)."""

    at: datetime  # UTC, aware
    event_id: str
    event: str
    webhook_id: int  # 0 for a ping of a webhook that is not stored (POST, /Webhook/Test)
    target: str
    retry: int  # 0, 1, 2 (X-SuperOffice-Retry)
    status: int | None  # the target's HTTP status, None when there was none
    error: str | None  # why the try failed, None when it succeeded
    outcome: str  # "delivered", "failed" or "dropped"

    def as_json(self) -> dict[str, Any]:
        """The entry as JSON-able data."""
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


@dataclass(frozen=True)
class PingResult:
    """What a test ping found: `Success` and `Message` of a WebhookResult."""

    success: bool
    message: str


def target_problem(url: str) -> str | None:
    """Why the simulator will not deliver to `url`, or None when it will."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"TargetUrl '{url}' must be an https URL"
    host = parts.hostname.lower()
    try:
        loopback = host in _LOOPBACK_NAMES or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        if parts.scheme == "http":
            return f"TargetUrl '{url}' must be an https URL"
        return f"TargetUrl '{url}': the simulator delivers to loopback hosts only (127.0.0.1, ::1, localhost)"
    return None


def signature(secret: str, body: bytes) -> str:
    """`X-SuperOffice-Signature`: base64 of HMAC-SHA256 over the raw body, keyed by the secret."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def timestamp(moment: datetime) -> str:
    """A payload's `Timestamp`: UTC with 7 fractional digits and `Z`, as .NET writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _body(payload: Mapping[str, Any]) -> bytes:
    # Compact and UTF-8, like .NET's serializer: a receiver that re-serializes instead of hashing
    # the bytes it got computes another signature.
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _answer_text(response: httpx.Response) -> str:
    return f"{response.status_code} {response.reason_phrase}: {response.text[:ANSWER_EXCERPT]}"


class Webhooks:
    """The tenant's webhooks, the delivery knobs, the delivery log and the deliveries under way."""

    def __init__(self) -> None:
        self.hooks: dict[int, Webhook] = {}
        self.settings = DeliverySettings()
        self.log: deque[Attempt] = deque(maxlen=LOG_LIMIT)
        self._next_id = 1
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- registry ------------------------------------------------------------------------------

    def get(self, webhook_id: int) -> Webhook | None:
        """The webhook with that id, if any."""
        return self.hooks.get(webhook_id)

    def find(self, name: str | None, event: str | None, state: WebhookState | None) -> list[Webhook]:
        """Webhooks by id matching every filter given (`state` Unknown or None: any state)."""
        return [
            hook
            for _, hook in sorted(self.hooks.items())
            if (name is None or hook.name == name)
            and (event is None or event in hook.events)
            and (state in (None, WebhookState.UNKNOWN) or hook.state is state)
        ]

    def store(self, hook: Webhook) -> Webhook:
        """Give a new webhook its id and keep it."""
        hook.webhook_id = self._next_id
        self._next_id += 1
        self.hooks[hook.webhook_id] = hook
        return hook

    def delete(self, webhook_id: int) -> bool:
        """Forget a webhook (its deliveries under way stop before their next try); False if unknown."""
        return self.hooks.pop(webhook_id, None) is not None

    def configure(self, settings: DeliverySettings) -> None:
        """Replace every knob (unset ones go back to their defaults)."""
        settings.validate()
        self.settings = settings

    def clear(self) -> None:
        """Forget every webhook and the delivery log; knobs back to their defaults."""
        self.hooks.clear()
        self.log.clear()
        self.settings = DeliverySettings()

    # ---- test ping -----------------------------------------------------------------------------

    async def ping(self, hook: Webhook) -> PingResult:
        """POST one signed `test` event to the webhook's target (one try): Success iff it answers 200."""
        problem = target_problem(hook.target_url)
        if problem is not None:
            return PingResult(False, problem)
        event_id = str(uuid.uuid4())
        payload = self._payload(hook, TEST_EVENT, event_id, "test", 0, [], 0)
        async with httpx.AsyncClient(timeout=self.settings.timeout_s) as http:
            attempt = await self._try(http, hook, TEST_EVENT, event_id, _body(payload), 0, ok={200})
        if attempt.error is None:
            return PingResult(True, f"{attempt.status} OK")
        return PingResult(False, attempt.error)

    # ---- deliveries ----------------------------------------------------------------------------

    def consent_written(self, row: ConsentRow, changes: list[str], associate_id: int) -> None:
        """Fire the consent event of a written row to every Active webhook subscribed to it."""
        event = UNCONSENTED if LEGAL_BASE_BY_ID[row.legal_base_id].key == "WITHDRAWN" else CONSENTED
        for hook in self.find(None, event, WebhookState.ACTIVE):
            event_id = str(uuid.uuid4())
            payload = self._payload(hook, event, event_id, "person", row.person_id, changes, associate_id)
            self._spawn(self._deliver(hook, event, event_id, _body(payload)))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        # Called from request handlers on the server's loop; the task set keeps each task alive.
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> int:
        """Deliveries under way (waiting for a try or for a retry delay)."""
        return len(self._tasks)

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no delivery is under way (new ones included); False if `timeout_s` ran out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=remaining)
        return True

    def _payload(
        self,
        hook: Webhook,
        event: str,
        event_id: str,
        entity: str,
        primary_key: int,
        changes: list[str],
        associate_id: int,
    ) -> dict[str, Any]:
        standard = {
            "EventId": event_id,
            "Timestamp": timestamp(datetime.now(UTC)),
            "Changes": changes,
            "Event": event,
            "PrimaryKey": primary_key,
            "Entity": entity,
            "ContextIdentifier": hook.context_identifier,
            "ChangedByAssociateId": associate_id,
            "WebhookName": hook.name,
        }
        # Properties are the webhook's custom values injected into the body; they never replace ours.
        return {**{k: v for k, v in hook.properties.items() if k not in standard}, **standard}

    async def _deliver(self, hook: Webhook, event: str, event_id: str, body: bytes) -> None:
        if self._drop():
            self._record(hook, event, event_id, 0, None, "dropped by the simulator's drop knob", "dropped")
            return
        async with httpx.AsyncClient(timeout=self.settings.timeout_s) as http:
            for retry in range(TRIES):
                if retry:
                    await asyncio.sleep(self.settings.retry_delays_s[retry - 1])
                if self.hooks.get(hook.webhook_id) is not hook or hook.state is not WebhookState.ACTIVE:
                    return  # deleted, stopped or re-registered meanwhile: SuperOffice sends no more
                attempt = await self._try(http, hook, event, event_id, body, retry, ok=None)
                if attempt.error is None:
                    hook.consecutive_errors = 0
                    return
        hook.consecutive_errors += 1
        if hook.consecutive_errors >= ERRORS_BEFORE_TOO_MANY and hook.state is WebhookState.ACTIVE:
            hook.state = WebhookState.TOO_MANY_ERRORS

    def _drop(self) -> bool:
        if self.settings.drop_all:
            return True
        if self.settings.drop_next > 0:
            self.settings.drop_next -= 1
            return True
        return False

    async def _try(
        self,
        http: httpx.AsyncClient,
        hook: Webhook,
        event: str,
        event_id: str,
        body: bytes,
        retry: int,
        ok: set[int] | None,
    ) -> Attempt:
        """One POST; `ok` is the statuses that count as success (None: any 2xx)."""
        headers = {
            **hook.headers,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-SuperOffice-Event": event,
            "X-SuperOffice-EventId": event_id,
            "X-SuperOffice-Retry": str(retry),
        }
        if hook.secret:
            headers["X-SuperOffice-Signature"] = signature(hook.secret, body)
        status: int | None = None
        try:
            response = await http.post(hook.target_url, content=body, headers=headers)
        except httpx.TimeoutException:
            error: str | None = f"no answer within {self.settings.timeout_s:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        else:
            status = response.status_code
            good = status in ok if ok is not None else 200 <= status < 300
            error = None if good else _answer_text(response)
        return self._record(
            hook, event, event_id, retry, status, error, "delivered" if error is None else "failed"
        )

    def _record(
        self,
        hook: Webhook,
        event: str,
        event_id: str,
        retry: int,
        status: int | None,
        error: str | None,
        outcome: str,
    ) -> Attempt:
        attempt = Attempt(
            datetime.now(UTC),
            event_id,
            event,
            hook.webhook_id,
            hook.target_url,
            retry,
            status,
            error,
            outcome,
        )
        self.log.append(attempt)
        return attempt


def new_webhook(
    fields: Mapping[str, Any], context_identifier: str, associate_id: int, *, base: Webhook | None = None
) -> Webhook:
    """A webhook from a request body (the Webhook carrier's keys), on top of `base` for an update.

    Missing keys keep `base`'s values (or the defaults); a blank or missing `Secret` keeps the stored
    one, since responses never show it. Raises WebhookError for a value of the wrong type; what makes
    a definition storable is `check_registration`'s.
    """
    now = utc_now()
    hook = Webhook(
        webhook_id=base.webhook_id if base else 0,
        name=base.name if base else "",
        events=list(base.events) if base else [],
        target_url=base.target_url if base else "",
        secret=base.secret if base else "",
        state=base.state if base else WebhookState.ACTIVE,
        type=base.type if base else "webhook",
        headers=dict(base.headers) if base else {},
        properties=dict(base.properties) if base else {},
        context_identifier=base.context_identifier if base else context_identifier,
        registered=base.registered if base else now,
        registered_associate_id=base.registered_associate_id if base else associate_id,
        updated=now if base else NEVER,
        updated_associate_id=associate_id if base else 0,
        consecutive_errors=base.consecutive_errors if base else 0,
    )
    readers: dict[str, Callable[[Any], None]] = {
        "name": lambda v: setattr(hook, "name", _text(v, "Name")),
        "events": lambda v: setattr(hook, "events", _events(v)),
        "targeturl": lambda v: setattr(hook, "target_url", _text(v, "TargetUrl").strip()),
        "secret": lambda v: setattr(hook, "secret", _text(v, "Secret") or hook.secret),
        "state": lambda v: setattr(hook, "state", _state(v)),
        "type": lambda v: setattr(hook, "type", _text(v, "Type")),
        "headers": lambda v: setattr(hook, "headers", _headers(v)),
        "properties": lambda v: setattr(hook, "properties", _properties(v)),
    }
    for key, value in fields.items():
        reader = readers.get(key.lower())
        if reader is not None and value is not None:
            reader(value)
    if hook.state is WebhookState.UNKNOWN:
        hook.state = WebhookState.ACTIVE
    return hook


def check_registration(hook: Webhook) -> None:
    """Raise WebhookError when SuperOffice would refuse to store this definition."""
    if not hook.events:
        raise WebhookError("Events must name at least one event")
    if hook.type.lower() != "webhook":
        raise WebhookError(f"Type '{hook.type}' is not supported; use 'webhook'")
    problem = target_problem(hook.target_url)
    if problem is not None:
        raise WebhookError(problem)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise WebhookError(f"{name} must be a string")
    return value


def _events(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(e, str) and e.strip() for e in value):
        raise WebhookError("Events must be a list of event names")
    return [e.strip() for e in value]


def _state(value: Any) -> WebhookState:
    try:
        return WebhookState(value)
    except ValueError:
        raise WebhookError(f"State '{value}' is not one of {[s.value for s in WebhookState]}") from None


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise WebhookError("Headers must be an object of strings")
    return dict(value)


def _properties(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WebhookError("Properties must be an object")
    return dict(value)
