"""What SAM and Lambda make of a template's functions: their settings and the routes that invoke them.

SAM expands each ``AWS::Serverless::Function`` (merged with ``Globals.Function``) into a Lambda
function, rules for its ``EventBridgeRule``/``Schedule`` events and event source mappings for its
``SQS`` events. This module reads the same properties into plain specs; plain ``AWS::Events::Rule``
resources targeting a function and ``AWS::Lambda::EventSourceMapping`` resources are read too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.local.template import Template, TemplateError, bounded_name

log = logging.getLogger(__name__)

_FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
# Lambda's documented defaults for what a template may leave out.
_DEFAULT_TIMEOUT_S = 3
_DEFAULT_MEMORY_MB = 128
_DEFAULT_ASYNC_RETRIES = 2
_DEFAULT_SQS_BATCH = 10


@dataclass(frozen=True)
class Destination:
    """An async-invocation destination or dead-letter target: its type and ARN."""

    kind: str
    arn: str


@dataclass(frozen=True)
class FunctionSpec:
    """One function as Lambda would run it."""

    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    runtime: str
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]
    max_retry_attempts: int = _DEFAULT_ASYNC_RETRIES
    on_success: Destination | None = None
    on_failure: Destination | None = None
    dead_letter: Destination | None = None
    #: ``FunctionUrlConfig.AuthType`` when the function has a function URL (SAM's ``{Function}Url``).
    url_auth: str | None = None

    @property
    def module_name(self) -> str:
        """The import path of the handler's module (``pkg.mod`` of ``pkg.mod.handler``)."""
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        """The handler's attribute name in its module."""
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class RuleRoute:
    """An EventBridge rule (pattern or schedule) whose target is a function.

    Moto delivers matching events to SQS targets only, so each route gets a *tap queue* as its rule
    target; the runtime polls it and invokes the function asynchronously.
    """

    key: str
    function_id: str
    rule_name: str
    rule_arn: str
    bus_name: str
    tap_queue_name: str
    pattern: dict[str, Any] | None = None
    schedule: str | None = None
    enabled: bool = True
    input: str | None = None
    input_path: str | None = None
    input_transformer: dict[str, Any] | None = None
    #: The ``AWS::Events::Rule`` resource this route belongs to; ``None`` for a SAM function event.
    rule_resource: str | None = None


@dataclass(frozen=True)
class QueueSource:
    """An SQS event source mapping."""

    key: str
    function_id: str
    queue_arn: str
    batch_size: int = _DEFAULT_SQS_BATCH
    batching_window_s: int = 0
    report_batch_item_failures: bool = False
    maximum_concurrency: int | None = None
    filters: list[dict[str, Any]] = field(default_factory=list)
    enabled: bool = True

    @property
    def queue_name(self) -> str:
        """The queue's name, from its ARN."""
        return self.queue_arn.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class Routing:
    """Everything that invokes functions, read from one template."""

    functions: dict[str, FunctionSpec]
    rules: list[RuleRoute]
    queues: list[QueueSource]
    unrouted: list[str]


def merge_globals(global_properties: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """Merge SAM ``Globals`` into a function's properties: maps merge, lists append, scalars override."""
    merged = dict(global_properties)
    for key, value in properties.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = merge_globals(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            merged[key] = current + value
        else:
            merged[key] = value
    return merged


def read_routing(template: Template) -> Routing:
    """Read functions, their rule routes and their SQS sources from the template."""
    functions: dict[str, FunctionSpec] = {}
    raw_events: dict[str, dict[str, Any]] = {}
    for logical_id, resource in template.resources.items():
        if resource["Type"] not in _FUNCTION_TYPES:
            continue
        properties = dict(resource.get("Properties") or {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties = merge_globals(template.globals.get("Function") or {}, properties)
        functions[logical_id] = _function_spec(template, logical_id, properties)
        raw_events[logical_id] = properties.get("Events") or {}

    rules: list[RuleRoute] = []
    queues: list[QueueSource] = []
    unrouted: list[str] = []
    for function_id, events in raw_events.items():
        for event_id, event in events.items():
            route = _event_route(template, function_id, event_id, event)
            if isinstance(route, RuleRoute):
                rules.append(route)
            elif isinstance(route, QueueSource):
                queues.append(route)
            else:
                unrouted.append(f"{function_id}.{event_id} ({event.get('Type')})")
    arns = {spec.arn: spec.logical_id for spec in functions.values()}
    names = {spec.name: spec.logical_id for spec in functions.values()}
    for logical_id, resource in template.resources.items():
        if resource["Type"] == "AWS::Events::Rule":
            rules.extend(_standalone_rule_routes(template, logical_id, arns))
        elif resource["Type"] == "AWS::Lambda::EventSourceMapping":
            source = _standalone_mapping(template, logical_id, arns, names)
            if source is None:
                unrouted.append(f"{logical_id} (AWS::Lambda::EventSourceMapping, not SQS)")
            else:
                queues.append(source)
    return Routing(functions=functions, rules=rules, queues=queues, unrouted=unrouted)


def _function_spec(template: Template, logical_id: str, raw: dict[str, Any]) -> FunctionSpec:
    # Events are read per route, and policies mean nothing locally: resolving them could only fail.
    properties = template.resolve(
        {key: value for key, value in raw.items() if key not in ("Events", "Policies")}
    )
    code_uri = properties.get("CodeUri", properties.get("Code"))
    if not isinstance(code_uri, str):
        raise TemplateError(f"{logical_id}: only a local CodeUri folder can run locally, got {code_uri!r}")
    handler = properties.get("Handler")
    if not handler or "." not in handler:
        raise TemplateError(f"{logical_id}: Handler must be module.attribute, got {handler!r}")
    name = template.physical_name(logical_id)
    invoke_config = properties.get("EventInvokeConfig") or {}
    destinations = invoke_config.get("DestinationConfig") or {}
    dead_letter = properties.get("DeadLetterQueue") or properties.get("DeadLetterConfig")
    url_config = properties.get("FunctionUrlConfig")
    return FunctionSpec(
        logical_id=logical_id,
        name=name,
        arn=template.arn("lambda", f"function:{name}"),
        code_dir=(template.directory / code_uri).resolve(),
        handler=str(handler),
        runtime=str(properties.get("Runtime", "python3.13")),
        timeout_s=int(properties.get("Timeout", _DEFAULT_TIMEOUT_S)),
        memory_mb=int(properties.get("MemorySize", _DEFAULT_MEMORY_MB)),
        environment={
            key: _env_string(value)
            for key, value in ((properties.get("Environment") or {}).get("Variables") or {}).items()
        },
        max_retry_attempts=int(invoke_config.get("MaximumRetryAttempts", _DEFAULT_ASYNC_RETRIES)),
        on_success=_destination(destinations.get("OnSuccess")),
        on_failure=_destination(destinations.get("OnFailure")),
        dead_letter=(
            Destination(str(dead_letter.get("Type", "SQS")), str(dead_letter["TargetArn"]))
            if dead_letter and dead_letter.get("TargetArn")
            else None
        ),
        url_auth=str(url_config.get("AuthType", "AWS_IAM")) if url_config is not None else None,
    )


def _env_string(value: Any) -> str:
    # Lambda stores every variable as a string; booleans come out the way CloudFormation writes them.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _destination(config: dict[str, Any] | None) -> Destination | None:
    if not config or not config.get("Destination"):
        return None
    arn = str(config["Destination"])
    kind = str(config.get("Type") or arn.split(":")[2].upper())
    return Destination(kind=kind, arn=arn)


def _enabled(properties: dict[str, Any]) -> bool:
    if "State" in properties:
        return str(properties["State"]).upper() == "ENABLED"
    return str(properties.get("Enabled", True)).lower() != "false"


def _tap_queue_name(template: Template, key: str) -> str:
    return bounded_name(f"{template.stack_name}-tap-{key.replace('.', '-')}", 80)


def _rule_arn(template: Template, bus_name: str, rule_name: str) -> str:
    path = f"rule/{rule_name}" if bus_name == "default" else f"rule/{bus_name}/{rule_name}"
    return template.arn("events", path)


def _event_route(
    template: Template, function_id: str, event_id: str, event: dict[str, Any]
) -> RuleRoute | QueueSource | None:
    kind = event.get("Type")
    properties = template.resolve(event.get("Properties") or {})
    key = f"{function_id}.{event_id}"
    if kind in ("EventBridgeRule", "CloudWatchEvent", "Schedule", "ScheduleV2"):
        is_schedule = kind in ("Schedule", "ScheduleV2")
        bus = template.bus_name(str(properties.get("EventBusName", "default")))
        explicit = properties.get("RuleName") or properties.get("Name")
        rule_name = (
            str(explicit) if explicit else bounded_name(f"{template.stack_name}-{function_id}{event_id}", 64)
        )
        return RuleRoute(
            key=key,
            function_id=function_id,
            rule_name=rule_name,
            rule_arn=_rule_arn(template, bus, rule_name),
            bus_name=bus,
            tap_queue_name=_tap_queue_name(template, key),
            pattern=None if is_schedule else properties.get("Pattern"),
            schedule=str(properties.get("Schedule") or properties.get("ScheduleExpression"))
            if is_schedule
            else None,
            enabled=_enabled(properties),
            input=properties.get("Input"),
            input_path=properties.get("InputPath"),
            input_transformer=properties.get("InputTransformer"),
        )
    if kind == "SQS":
        return _queue_source(key, function_id, properties, properties["Queue"])
    log.debug("event %s of type %s is not routed locally", key, kind)
    return None


def _queue_source(key: str, function_id: str, properties: dict[str, Any], queue_arn: str) -> QueueSource:
    scaling = properties.get("ScalingConfig") or {}
    return QueueSource(
        key=key,
        function_id=function_id,
        queue_arn=str(queue_arn),
        batch_size=int(properties.get("BatchSize", _DEFAULT_SQS_BATCH)),
        batching_window_s=int(properties.get("MaximumBatchingWindowInSeconds", 0)),
        report_batch_item_failures="ReportBatchItemFailures"
        in (properties.get("FunctionResponseTypes") or []),
        maximum_concurrency=int(scaling["MaximumConcurrency"]) if "MaximumConcurrency" in scaling else None,
        filters=list((properties.get("FilterCriteria") or {}).get("Filters") or []),
        enabled=str(properties.get("Enabled", True)).lower() != "false",
    )


def _standalone_rule_routes(
    template: Template, logical_id: str, function_arns: dict[str, str]
) -> list[RuleRoute]:
    """Routes for the function targets of a plain ``AWS::Events::Rule``; other targets go to moto."""
    properties = template.properties(logical_id)
    bus = template.bus_name(str(properties.get("EventBusName", "default")))
    rule_name = template.physical_name(logical_id)
    routes = []
    for target in properties.get("Targets") or []:
        function_id = function_arns.get(str(target.get("Arn")))
        if function_id is None:
            continue
        key = f"{logical_id}.{target.get('Id', function_id)}"
        pattern = properties.get("EventPattern")
        routes.append(
            RuleRoute(
                key=key,
                function_id=function_id,
                rule_name=rule_name,
                rule_arn=_rule_arn(template, bus, rule_name),
                bus_name=bus,
                tap_queue_name=_tap_queue_name(template, key),
                pattern=pattern if isinstance(pattern, dict) else None,
                schedule=properties.get("ScheduleExpression"),
                enabled=_enabled(properties),
                input=target.get("Input"),
                input_path=target.get("InputPath"),
                input_transformer=target.get("InputTransformer"),
                rule_resource=logical_id,
            )
        )
    return routes


def _standalone_mapping(
    template: Template, logical_id: str, function_arns: dict[str, str], function_names: dict[str, str]
) -> QueueSource | None:
    properties = template.properties(logical_id)
    source_arn = str(properties.get("EventSourceArn", ""))
    if ":sqs:" not in source_arn:
        return None
    target = str(properties.get("FunctionName"))
    function_id = function_arns.get(target) or function_names.get(target)
    if function_id is None:
        raise TemplateError(f"{logical_id}: FunctionName {target!r} is not a function of this template")
    return _queue_source(logical_id, function_id, properties, source_arn)
