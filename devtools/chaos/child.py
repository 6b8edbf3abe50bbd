"""The reconcile worker that dies at one point: the real `ReconcileFunction` handler in a child process.

Run as a script, not imported (`python devtools/chaos/child.py SPEC.json`, by `devtools.chaos.crash`),
with the function's environment and the stack's endpoints. SPEC names the handler's code, the SQS
event, the point and the how-many-th occurrence (`nth`) of it to die after. Before the handler is
imported two hooks are installed, both calling straight through:

- `httpx.Client.send`: a SuperOffice consent PUT (`PUT …/Person/{id}/Consent/{purpose}`) answered 2xx;
- `botocore.client.BaseClient._make_api_call`: a `TransactWriteItems` holding a contact item
  (`pk = CONTACT#…`, `sk = CONTACT`: a `Put` or, when only records change, a `ConditionCheck`) or a
  `PutItem` of one (a contact write); a `TransactWriteItems` holding `DECISION#` records (the decision
  log write: the same call as the contact's); an `UpdateItem` that sets `#status` and puts the job
  into the outbox (`:outbox`, `JobStore.try_complete`); a `PutEvents` of a completion event
  (published, before `mark_announced`).

Each call that returned is counted by kind; the `nth` of the point's kind writes what was seen to the
SPEC's `log` (one JSON line, synced) and ends the process with `os._exit(137)`: no cleanup, no
`finally`, no flush of anything else, what Lambda's SIGKILL at the function's `Timeout` leaves. A
call that raised (a failed condition) is not counted.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid
from collections import Counter
from typing import Any

SUPEROFFICE_PUT = "superoffice_put"
CONTACT_WRITE = "contact_write"
DECISION_WRITE = "decision_write"
TRY_COMPLETE = "try_complete"
PUBLISHED = "published"
KINDS = (SUPEROFFICE_PUT, CONTACT_WRITE, DECISION_WRITE, TRY_COMPLETE, PUBLISHED)
KILLED_EXIT = 137
"""The exit status of a process killed by SIGKILL (128 + 9), which the hook leaves with."""
COMPLETION_TYPES = ("Import Completed", "Sync Run Completed", "Sendout Consent Checked")
_CONSENT_PUT = re.compile(r"/Person/(\d+)/Consent/([^/]+)$")


def _text(value: Any) -> str:
    """A key attribute as the caller gave it: plain (the resource layer) or typed (`{"S": …}`)."""
    if isinstance(value, dict):
        return str(value.get("S", ""))
    return "" if value is None else str(value)


def _email(pk: str) -> str:
    return pk.split("#", 2)[2] if pk.count("#") >= 2 else pk


def aws_kinds(operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The point kinds one AWS call is, each with a description of the call."""
    kinds: list[tuple[str, str]] = []
    if operation == "TransactWriteItems":
        contact = ""
        records = 0
        for item in params.get("TransactItems", []):
            for body in item.values():
                attributes = body.get("Item") or body.get("Key") or {}
                pk, sk = _text(attributes.get("pk")), _text(attributes.get("sk"))
                if pk.startswith("CONTACT#") and sk == "CONTACT":
                    contact = _email(pk)
                elif pk.startswith("CONTACT#") and sk.startswith("DECISION#"):
                    records += 1
                    contact = contact or _email(pk)
        if contact:
            what = f"TransactWriteItems of {contact} with {records} decision record(s)"
            kinds.append((CONTACT_WRITE, what))
            if records:
                kinds.append((DECISION_WRITE, what))
    elif operation == "PutItem":
        item = params.get("Item", {})
        pk, sk = _text(item.get("pk")), _text(item.get("sk"))
        if pk.startswith("CONTACT#") and sk == "CONTACT":
            kinds.append((CONTACT_WRITE, f"PutItem of {_email(pk)} (no decision records)"))
    elif operation == "UpdateItem":
        expression = str(params.get("UpdateExpression", ""))
        values = params.get("ExpressionAttributeValues", {})
        pk = _text(params.get("Key", {}).get("pk"))
        if pk.startswith("JOB#") and "#status = :status" in expression and ":outbox" in values:
            status = _text(values.get(":status"))
            kinds.append((TRY_COMPLETE, f"UpdateItem of {pk}: status {status}, into the outbox"))
    elif operation == "PutEvents":
        for entry in params.get("Entries", []):
            if entry.get("DetailType") in COMPLETION_TYPES:
                kinds.append((PUBLISHED, f"PutEvents of {entry['DetailType']}"))
    return kinds


class Tracker:
    """Counts the calls by kind and ends the process after the point's `nth`."""

    def __init__(self, point: str, nth: int, log: str) -> None:
        self.point = point
        self.nth = nth
        self.log = log
        self.counts: Counter[str] = Counter()

    def write(self, record: dict[str, Any]) -> None:
        with open(self.log, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def saw(self, kind: str, what: str) -> None:
        self.counts[kind] += 1
        if kind == self.point and self.counts[kind] == self.nth:
            self.write({"killed": True, "call": what, "counts": dict(self.counts), "at": time.time()})
            os._exit(KILLED_EXIT)


def install(tracker: Tracker) -> None:
    """The two hooks, on the classes every client of the worker goes through."""
    import httpx
    from botocore.client import BaseClient

    make_api_call = BaseClient._make_api_call
    send = httpx.Client.send

    def hooked_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        result = make_api_call(self, operation_name, api_params)
        for kind, what in aws_kinds(operation_name, api_params):
            tracker.saw(kind, what)
        return result

    def hooked_send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = send(self, request, **kwargs)
        found = _CONSENT_PUT.search(request.url.path)
        if request.method == "PUT" and found and response.is_success:
            tracker.saw(
                SUPEROFFICE_PUT,
                f"PUT /Person/{found.group(1)}/Consent/{found.group(2)} answered {response.status_code}",
            )
        return response

    BaseClient._make_api_call = hooked_api_call
    httpx.Client.send = hooked_send  # type: ignore[method-assign]


class Context:
    """The Lambda context: its deadline is what the idempotency record's "in progress" lasts."""

    function_version = "$LATEST"
    memory_limit_in_mb = 512
    log_stream_name = "chaos"

    def __init__(self, name: str, arn: str, timeout_s: float) -> None:
        self.function_name = name
        self.invoked_function_arn = arn
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(spec_path: str) -> None:
    with open(spec_path, encoding="utf-8") as source:
        spec = json.load(source)
    sys.path.insert(0, spec["code_dir"])
    tracker = Tracker(spec["point"], int(spec["nth"]), spec["log"])
    install(tracker)
    from consent_sync.handlers.reconcile import handler

    with open(spec["event_path"], encoding="utf-8") as source:
        event = json.load(source)
    context = Context(spec["name"], spec["arn"], float(spec["timeout_s"]))
    tracker.write({"started": time.time(), "deadline": time.time() + float(spec["timeout_s"])})
    result = handler(event, context)
    tracker.write({"finished": result, "counts": dict(tracker.counts), "at": time.time()})


if __name__ == "__main__":
    main(sys.argv[1])
