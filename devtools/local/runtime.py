"""Deliver events to in-process handlers as Lambda would: EventBridge rules, SQS sources, schedules.

Routing comes from the template only (see :mod:`devtools.local.sam`). Moto delivers events that match
a rule to the rule's *tap queue*; the runtime polls tap queues and invokes the function with
asynchronous-invocation semantics (retries, destinations, dead-letter queue), and polls each SQS event
source with its batch size and partial-batch-failure reporting. Pumping is explicit and
single-threaded for tests (:meth:`LocalRuntime.drain`) or runs in threads (:meth:`LocalRuntime.start`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from moto.events.models import EventPattern

from devtools.local.aws import client
from devtools.local.payloads import destination_record, scheduled_event, sqs_record
from devtools.local.sam import Destination, FunctionSpec, QueueSource, Routing, RuleRoute, read_routing
from devtools.local.sandbox import FunctionSandbox, LambdaContext, function_environment
from devtools.local.template import Template

log = logging.getLogger(__name__)

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_SQS_MAX_MESSAGES = 10
_POLL_WAIT_S = 1
_WINDOW_POLL_S = 0.05
# EventBridge's field order, so a delivered event reads like a real one.
_EVENT_KEYS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")


@dataclass
class Invocation:
    """One handler invocation: what went in, what came out, how long it took."""

    function_id: str
    request_id: str
    trigger: str
    event: Any
    result: Any = None
    error: BaseException | None = None
    duration_s: float = 0.0
    cold_start: bool = False


def schedule_period_s(expression: str) -> float | None:
    """Seconds between firings of a ``rate(...)`` expression; ``None`` for ``cron(...)``."""
    match = _RATE.match(expression.strip())
    if match is None:
        return None
    return float(int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")])


def _input_path(event: Any, path: str) -> Any:
    """Apply an EventBridge ``InputPath`` of the plain ``$.a.b`` form."""
    value = event
    for part in [segment for segment in path.removeprefix("$").split(".") if segment]:
        value = value[part]
    return value


class LocalRuntime:
    """Runs a template's functions in-process against a moto endpoint.

    Build it after provisioning (values only known then, such as stream ARNs, feed the functions'
    environments). ``failed_visibility_timeout_s`` shortens the wait before a failed SQS record is
    redelivered (``None``: the queue's own ``VisibilityTimeout``, as in AWS); ``async_retry_delay_s``
    is the pause between async retries (Lambda waits minutes; locally none by default);
    ``enforce_timeouts`` turns a handler that overran its ``Timeout`` into a failed invocation.
    """

    def __init__(
        self,
        template: Template,
        endpoint_url: str,
        *,
        routing: Routing | None = None,
        failed_visibility_timeout_s: int | None = None,
        async_retry_delay_s: float = 0.0,
        enforce_timeouts: bool = True,
        history: int = 50,
    ) -> None:
        self.template = template
        self.endpoint_url = endpoint_url
        self.routing = routing or read_routing(template)
        self.failed_visibility_timeout_s = failed_visibility_timeout_s
        self.async_retry_delay_s = async_retry_delay_s
        self.enforce_timeouts = enforce_timeouts
        self._sqs = client("sqs", endpoint_url, template.region)
        self._events = client("events", endpoint_url, template.region)
        self._sns = client("sns", endpoint_url, template.region)
        self._sandboxes: dict[str, FunctionSandbox] = {}
        self._counts: Counter[str] = Counter()
        self._history: dict[str, deque[Invocation]] = {
            function_id: deque(maxlen=history) for function_id in self.routing.functions
        }
        self._bookkeeping = threading.Lock()
        self._active = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._filters = {
            source.key: [EventPattern.load(_pattern_text(item.get("Pattern"))) for item in source.filters]
            for source in self.routing.queues
        }

    # ------------------------------------------------------------------ lookups and bookkeeping

    @property
    def functions(self) -> Mapping[str, FunctionSpec]:
        """The template's functions by logical id."""
        return self.routing.functions

    def function_id(self, function: str) -> str:
        """The logical id of a function given its logical id, physical name or ARN."""
        for spec in self.routing.functions.values():
            if function in (spec.logical_id, spec.name, spec.arn):
                return spec.logical_id
        raise KeyError(f"no function {function!r} in {self.template.path.name}")

    @property
    def invocation_counts(self) -> dict[str, int]:
        """Invocations so far per function logical id (functions never invoked count 0)."""
        with self._bookkeeping:
            return {function_id: self._counts[function_id] for function_id in self.routing.functions}

    def invocations(self, function: str) -> list[Invocation]:
        """The most recent invocations of a function, oldest first."""
        with self._bookkeeping:
            return list(self._history[self.function_id(function)])

    def last_result(self, function: str) -> Any:
        """What the function's last successful invocation returned (``None`` when there was none)."""
        successes = [item for item in self.invocations(function) if item.error is None]
        return successes[-1].result if successes else None

    def last_error(self, function: str) -> BaseException | None:
        """The exception of the function's last failed invocation (``None`` when there was none)."""
        failures = [item for item in self.invocations(function) if item.error is not None]
        return failures[-1].error if failures else None

    def sandbox(self, function: str) -> FunctionSandbox:
        """The execution environment of a function (created, not imported, on first use)."""
        function_id = self.function_id(function)
        with self._bookkeeping:
            if function_id not in self._sandboxes:
                spec = self.routing.functions[function_id]
                environment = function_environment(
                    spec, endpoint_url=self.endpoint_url, region=self.template.region
                )
                self._sandboxes[function_id] = FunctionSandbox(spec, environment)
            return self._sandboxes[function_id]

    # ------------------------------------------------------------------ invoking

    def invoke(self, function: str, event: Any) -> Any:
        """Invoke a function synchronously (``RequestResponse``); its exception propagates."""
        invocation = self._invoke(self.function_id(function), event, trigger="direct")
        if invocation.error is not None:
            raise invocation.error
        return invocation.result

    def _invoke(
        self, function_id: str, event: Any, *, trigger: str, request_id: str | None = None
    ) -> Invocation:
        spec = self.routing.functions[function_id]
        sandbox = self.sandbox(function_id)
        invocation = Invocation(
            function_id=function_id,
            request_id=request_id or str(uuid.uuid4()),
            trigger=trigger,
            event=event,
            cold_start=sandbox.cold,
        )
        log.debug("START %s RequestId: %s (%s)", spec.name, invocation.request_id, trigger)
        try:
            # The init phase (imports at cold start) is not part of the function's Timeout in Lambda.
            sandbox.load()
            context = LambdaContext(spec, invocation.request_id)
            started = time.monotonic()
            try:
                invocation.result = sandbox.call(event, context)
            finally:
                invocation.duration_s = time.monotonic() - started
        except Exception as error:  # a handler may raise anything; Lambda reports it as a function error
            invocation.error = error
        if self.enforce_timeouts and invocation.error is None and invocation.duration_s > spec.timeout_s:
            # Lambda would have stopped the function; its result never reaches anyone.
            invocation.result = None
            invocation.error = TimeoutError(f"Task timed out after {spec.timeout_s:.2f} seconds")
        if invocation.error is not None:
            log.warning(
                "%s RequestId: %s failed: %s: %s",
                spec.name,
                invocation.request_id,
                type(invocation.error).__name__,
                invocation.error,
            )
        log.info(
            "REPORT %s RequestId: %s Trigger: %s Duration: %.1f ms%s",
            function_id,
            invocation.request_id,
            trigger,
            invocation.duration_s * 1000,
            " (cold start)" if invocation.cold_start else "",
        )
        with self._bookkeeping:
            self._counts[function_id] += 1
            self._history[function_id].append(invocation)
        return invocation

    def invoke_async(self, function: str, event: Any, *, trigger: str = "async") -> Invocation:
        """Invoke as Lambda's ``Event`` invocation type: retries, then destinations and dead-letter queue."""
        function_id = self.function_id(function)
        spec = self.routing.functions[function_id]
        request_id = str(uuid.uuid4())  # Lambda keeps one request id across the retries of an event
        attempts = 0
        while True:
            attempts += 1
            invocation = self._invoke(function_id, event, trigger=trigger, request_id=request_id)
            if invocation.error is None or attempts > spec.max_retry_attempts:
                break
            if self.async_retry_delay_s:
                time.sleep(self.async_retry_delay_s)
        destination = spec.on_success if invocation.error is None else spec.on_failure
        if destination is not None:
            record = destination_record(
                request_id=request_id,
                function_arn=spec.arn,
                event=event,
                attempts=attempts,
                result=invocation.result,
                error=invocation.error,
            )
            outcome = "Success" if invocation.error is None else "Failure"
            self._send_to_destination(
                destination, record, spec, f"Lambda Function Invocation Result - {outcome}"
            )
        if invocation.error is not None and spec.dead_letter is not None:
            self._send_to_dead_letter(spec.dead_letter, event, request_id, invocation.error)
        return invocation

    def _send_to_destination(
        self, destination: Destination, record: dict[str, Any], spec: FunctionSpec, detail_type: str
    ) -> None:
        service = destination.arn.split(":")[2]
        body = json.dumps(record, default=str)
        if service == "sqs":
            queue_url = self.template.queue_url(destination.arn.rsplit(":", 1)[-1])
            self._sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        elif service == "sns":
            self._sns.publish(TopicArn=destination.arn, Message=body)
        elif service == "events":
            entry = {
                "Source": "lambda",
                "DetailType": detail_type,
                "Detail": body,
                "EventBusName": destination.arn,
                "Resources": [spec.arn],
            }
            self._events.put_events(Entries=[entry])
        elif service == "lambda":
            self.invoke_async(destination.arn, record, trigger="destination")
        else:
            log.warning("%s: destination %s is not supported locally", spec.logical_id, destination.arn)

    def _send_to_dead_letter(
        self, target: Destination, event: Any, request_id: str, error: BaseException
    ) -> None:
        """Lambda's function dead-letter queue: the original event plus three message attributes."""
        body = json.dumps(event, default=str)
        if target.arn.split(":")[2] == "sns":
            self._sns.publish(TopicArn=target.arn, Message=body)
            return
        self._sqs.send_message(
            QueueUrl=self.template.queue_url(target.arn.rsplit(":", 1)[-1]),
            MessageBody=body,
            MessageAttributes={
                "RequestID": {"DataType": "String", "StringValue": request_id},
                "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                "ErrorMessage": {
                    "DataType": "String",
                    "StringValue": str(error)[:1000] or type(error).__name__,
                },
            },
        )

    # ------------------------------------------------------------------ EventBridge

    def put_events(self, entries: Sequence[Mapping[str, Any]], *, bus: str | None = None) -> list[str]:
        """``PutEvents`` on the endpoint; ``Detail`` may be a dict; ``bus`` (logical id or name) is the
        default ``EventBusName`` for entries without one. Returns the event ids; raises when any failed."""
        default_bus = None
        if bus is not None:
            default_bus = self.template.ref(bus) if bus in self.template.resources else bus
        prepared = []
        for entry in entries:
            item = dict(entry)
            if not isinstance(item.get("Detail", "{}"), str):
                item["Detail"] = json.dumps(item["Detail"])
            item.setdefault("Detail", "{}")
            if default_bus is not None:
                item.setdefault("EventBusName", default_bus)
            prepared.append(item)
        event_ids: list[str] = []
        for start in range(0, len(prepared), 10):
            response = self._events.put_events(Entries=prepared[start : start + 10])
            if response.get("FailedEntryCount"):
                failed = [item for item in response["Entries"] if "ErrorCode" in item]
                raise RuntimeError(f"PutEvents failed for {len(failed)} entries: {failed}")
            event_ids.extend(item["EventId"] for item in response["Entries"])
        return event_ids

    def schedule_routes(self, target: str | None = None) -> list[RuleRoute]:
        """Schedule routes, all or those of ``target``: a function (logical id or name), an event
        (``Function.Event`` or just the event's logical id) or a rule name."""
        routes = [route for route in self.routing.rules if route.schedule]
        if target is None:
            return routes
        selected = [
            route
            for route in routes
            if target in (route.key, route.key.split(".", 1)[1], route.rule_name, route.rule_arn)
            or self._names_function(target, route.function_id)
        ]
        if not selected:
            raise KeyError(f"no schedule matches {target!r}; schedules: {[route.key for route in routes]}")
        return selected

    def _names_function(self, target: str, function_id: str) -> bool:
        spec = self.routing.functions[function_id]
        return target in (spec.logical_id, spec.name, spec.arn)

    def fire_schedule(self, target: str) -> list[dict[str, Any]]:
        """Fire the schedule(s) of ``target`` now (see :meth:`schedule_routes`): the scheduled event
        goes to the route's tap queue and is delivered by the next pump. Returns the events sent."""
        events = []
        for route in self.schedule_routes(target):
            event = scheduled_event(route.rule_arn, self.template.account_id, self.template.region)
            self._sqs.send_message(
                QueueUrl=self.template.queue_url(route.tap_queue_name), MessageBody=json.dumps(event)
            )
            events.append(event)
        return events

    def _pump_rule(self, route: RuleRoute, wait_s: int = 0) -> int:
        """Deliver what is waiting in one rule's tap queue; returns the number of events delivered."""
        queue_url = self.template.queue_url(route.tap_queue_name)
        messages = self._sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=_SQS_MAX_MESSAGES, WaitTimeSeconds=wait_s
        ).get("Messages", [])
        delivered = 0
        for message in messages:
            self._track(+1)
            try:
                if route.enabled:
                    # Moto hands events to disabled rules' targets too; EventBridge does not.
                    self.invoke_async(
                        route.function_id, self._rule_event(route, message["Body"]), trigger=route.key
                    )
                    delivered += 1
                self._sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            finally:
                self._track(-1)
        return delivered

    def _rule_event(self, route: RuleRoute, body: str) -> Any:
        try:
            event: Any = json.loads(body)
        except json.JSONDecodeError:
            return body  # an input transformer may produce plain text
        if isinstance(event, dict) and not route.input_transformer and "detail-type" in event:
            # Moto's default target input drops ``account`` and adds its own ``ingestion-time``;
            # EventBridge's targets get the former and never the latter.
            event.pop("ingestion-time", None)
            event.setdefault("account", self.template.account_id)
            event = {key: event[key] for key in _EVENT_KEYS if key in event} | event
        if route.input is not None:
            return json.loads(route.input) if isinstance(route.input, str) else route.input
        if route.input_path:
            return _input_path(event, route.input_path)
        return event

    # ------------------------------------------------------------------ SQS event sources

    def _pump_queue(self, source: QueueSource, wait_s: int = 0) -> int:
        """Poll one SQS event source for one batch and invoke; returns 1 if invoked, else 0."""
        if not source.enabled:
            return 0
        queue_url = self.template.queue_url(source.queue_name)
        self._track(+1)
        try:
            batch: list[dict[str, Any]] = []
            # MaximumBatchingWindowInSeconds: from the first message, gather until the window closes
            # or the batch is full (Lambda's poller does the same).
            window_closes: float | None = None
            while len(batch) < source.batch_size:
                received = self._sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=min(_SQS_MAX_MESSAGES, source.batch_size - len(batch)),
                    WaitTimeSeconds=wait_s if not batch else 0,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if received and window_closes is None:
                    window_closes = time.monotonic() + source.batching_window_s
                if not received:
                    if window_closes is None or time.monotonic() >= window_closes:
                        break
                    time.sleep(_WINDOW_POLL_S)
                    continue
                batch.extend(received)
            records = [sqs_record(message, source.queue_arn, self.template.region) for message in batch]
            records = self._filtered(source, queue_url, records)
            if not records:
                return 0
            invocation = self._invoke(source.function_id, {"Records": records}, trigger=source.key)
            failed = self._failed_ids(source, invocation, records)
            succeeded = [record for record in records if record["messageId"] not in failed]
            self._delete(queue_url, succeeded)
            if failed and self.failed_visibility_timeout_s is not None:
                self._sqs.change_message_visibility_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {
                            "Id": str(index),
                            "ReceiptHandle": record["receiptHandle"],
                            "VisibilityTimeout": self.failed_visibility_timeout_s,
                        }
                        for index, record in enumerate(records)
                        if record["messageId"] in failed
                    ],
                )
            return 1
        finally:
            self._track(-1)

    def _filtered(
        self, source: QueueSource, queue_url: str, records: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Apply the source's ``FilterCriteria``: Lambda deletes the records no filter matches."""
        patterns = self._filters[source.key]
        if not patterns:
            return records
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        for record in records:
            candidate: Any = dict(record)
            # A non-JSON body is matched as the plain string, as Lambda does.
            with contextlib.suppress(json.JSONDecodeError):
                candidate["body"] = json.loads(record["body"])
            matched = any(pattern.matches_event(candidate) for pattern in patterns)
            (kept if matched else dropped).append(record)
        self._delete(queue_url, dropped)
        return kept

    @staticmethod
    def _failed_ids(source: QueueSource, invocation: Invocation, records: list[dict[str, Any]]) -> set[str]:
        """Message ids to leave on the queue, by Lambda's rules for ``ReportBatchItemFailures``."""
        every = {record["messageId"] for record in records}
        if invocation.error is not None:
            return every
        if not source.report_batch_item_failures:
            return set()
        response = invocation.result
        if response is None or response == {}:
            return set()
        if not isinstance(response, dict):
            return every  # not a valid response document: the whole batch failed
        failures = response.get("batchItemFailures")
        if failures is None:
            return set()
        if not isinstance(failures, list):
            return every
        identifiers = set()
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not identifier or identifier not in every:
                return every  # an empty, missing or unknown identifier fails the whole batch
            identifiers.add(identifier)
        return identifiers

    def _delete(self, queue_url: str, records: Iterable[dict[str, Any]]) -> None:
        pending = list(records)
        for start in range(0, len(pending), _SQS_MAX_MESSAGES):
            chunk = pending[start : start + _SQS_MAX_MESSAGES]
            self._sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": record["receiptHandle"]}
                    for index, record in enumerate(chunk)
                ],
            )

    # ------------------------------------------------------------------ pumping

    def _track(self, delta: int) -> None:
        with self._bookkeeping:
            self._active += delta

    def pump_once(self) -> int:
        """One round over every tap queue and SQS source (one batch each); returns deliveries made."""
        delivered = sum(self._pump_rule(route) for route in self.routing.rules)
        return delivered + sum(self._pump_queue(source) for source in self.routing.queues)

    def pending(self) -> dict[str, int]:
        """Messages (visible, in flight or delayed) per polled queue that still has any."""
        queues = [route.tap_queue_name for route in self.routing.rules]
        queues += [source.queue_name for source in self.routing.queues]
        counts = {}
        for name in dict.fromkeys(queues):
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self.template.queue_url(name),
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            total = sum(int(value) for value in attributes.values())
            if total:
                counts[name] = total
        return counts

    def drain(self, timeout: float = 10.0) -> int:
        """Pump until every tap queue and event source is empty and no handler runs; returns the number
        of deliveries. Messages in flight count as pending (they come back after their visibility
        timeout, see ``failed_visibility_timeout_s``); raises :class:`TimeoutError` past ``timeout``."""
        deadline = time.monotonic() + timeout
        delivered = 0
        while True:
            made = self.pump_once()
            delivered += made
            if made == 0:
                with self._bookkeeping:
                    active = self._active
                waiting = self.pending()
                if active == 0 and not waiting:
                    return delivered
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"not idle after {timeout} s: {active} handler(s) running, pending {waiting}"
                    )
                time.sleep(0.05)
            elif time.monotonic() > deadline:
                raise TimeoutError(f"still delivering after {timeout} s (delivered {delivered})")

    def run_until_idle(self, timeout: float = 10.0) -> int:
        """Same as :meth:`drain`; the name reads better in scripts."""
        return self.drain(timeout=timeout)

    # ------------------------------------------------------------------ threads (``up``)

    def start(self, *, schedule_period_s: float | None = None) -> None:
        """Pump in background threads: one per tap queue and per SQS source, plus a scheduler firing
        ``rate(...)`` schedules at their rate (or every ``schedule_period_s`` when given)."""
        if self._threads:
            raise RuntimeError("the runtime is already running")
        self._stop.clear()
        for route in self.routing.rules:
            self._spawn(f"tap:{route.key}", functools.partial(self._pump_rule, route, _POLL_WAIT_S))
        for source in self.routing.queues:
            self._spawn(f"sqs:{source.key}", functools.partial(self._pump_queue, source, _POLL_WAIT_S))
        thread = threading.Thread(
            target=self._scheduler, args=(schedule_period_s,), name="schedules", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Stop the background threads (each finishes its current delivery first)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=_POLL_WAIT_S + 30)
        self._threads.clear()

    def _spawn(self, name: str, pump: Callable[[], int]) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    pump()
                except Exception:  # keep serving: one bad delivery must not stop a poller
                    if not self._stop.is_set():
                        log.exception("poller %s failed; continuing", name)
                        self._stop.wait(1)

        thread = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _scheduler(self, override_s: float | None) -> None:
        periods: dict[str, float] = {}
        for route in self.schedule_routes():
            period = override_s or schedule_period_s(route.schedule or "")
            if not route.enabled:
                log.info("schedule %s is disabled; it fires only on demand", route.key)
            elif period is None:
                log.info("schedule %s (%s) fires only on demand locally", route.key, route.schedule)
            else:
                periods[route.key] = period
        due = {key: time.monotonic() + period for key, period in periods.items()}
        while due and not self._stop.is_set():
            key = min(due, key=due.__getitem__)
            if self._stop.wait(max(0.0, due[key] - time.monotonic())):
                return
            try:
                self.fire_schedule(key)
            except Exception:  # the endpoint may be going away; try again next period
                log.exception("firing schedule %s failed", key)
            due[key] += periods[key]


def _pattern_text(pattern: Any) -> str:
    return pattern if isinstance(pattern, str) else json.dumps(pattern)
