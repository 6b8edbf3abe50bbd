"""A whole local stack: moto server, the template's resources, and the runtime delivering events."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.local.aws import FAKE_CREDENTIALS, client
from devtools.local.outgoing import OutgoingEvents
from devtools.local.provision import ProvisionReport, provision
from devtools.local.runtime import LocalRuntime
from devtools.local.sam import read_routing
from devtools.local.server import start_moto
from devtools.local.template import Template
from devtools.local.urls import FunctionUrls
from devtools.stack import CONFIG_PARAMETERS

log = logging.getLogger(__name__)

DEFAULT_STACK_NAME = "consent-sync-local"

# Moto's state is per process, shared by every server in it: stack names must not collide, and the
# state is reset only when the last stack of the process goes down.
_LIVE_STACKS: set[str] = set()
_LIVE_LOCK = threading.Lock()


@dataclass
class LocalStack:
    """A running local stack."""

    endpoint_url: str
    runtime: LocalRuntime
    #: Logical id → what ``Ref`` gives (table/bucket/bus/function name, queue URL, secret ARN…).
    resources: dict[str, Any]
    outputs: dict[str, Any]
    template: Template
    report: ProvisionReport
    #: Function logical id → its function URL on loopback (``WebhookReceiverFunction``…).
    function_urls: dict[str, str] = field(default_factory=dict)

    def forget_tenant_budgets(self) -> int:
        """Delete every tenant's shared SuperOffice budget (its tokens and any pause a 429/503 left):
        tests that clear the simulator's faults start the next scenario with a tenant not held."""
        dynamodb = client("dynamodb", self.endpoint_url, default_region())
        table = self.outputs["ConsentTableName"]
        pages = dynamodb.get_paginator("scan").paginate(
            TableName=table,
            FilterExpression="begins_with(pk, :budget)",
            ExpressionAttributeValues={":budget": {"S": "BUDGET#"}},
            ProjectionExpression="pk, sk",
        )
        deleted = 0
        for page in pages:
            for item in page.get("Items", []):
                dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
                deleted += 1
        return deleted

    def catch_outgoing(self, detail_types: Sequence[str] = (), *, name: str = "outgoing") -> OutgoingEvents:
        """Subscribe to consent-sync's events on this stack's bus (all, or these detail types)."""
        region = default_region()
        return OutgoingEvents(
            client("sqs", self.endpoint_url, region),
            client("events", self.endpoint_url, region),
            str(self.outputs["EventBusName"]),
            detail_types=detail_types,
            name=name,
        )


def default_region() -> str:
    """The region boto3 would pick from the environment, else ``us-east-1`` (moto's default)."""
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"


@contextmanager
def _process_environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the stack's lifetime so every boto3 client in the process follows the stack."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def local_stack(
    template: Path = Path("template.yaml"),
    port: int = 0,
    stack_name: str = DEFAULT_STACK_NAME,
    *,
    region: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    background: bool = False,
    schedule_period_s: float | None = None,
    failed_visibility_timeout_s: int | None = None,
    host: str = "127.0.0.1",
    warm_function_urls: bool = False,
) -> Iterator[LocalStack]:
    """Start moto on ``port`` (0: a free one), provision ``template`` as stack ``stack_name`` and yield it.

    ``parameters`` override the template's ``Metadata.LocalStack.ParameterOverrides``, which override
    its defaults.

    While the stack is up, ``AWS_ENDPOINT_URL``, the region and fake credentials are set in this
    process's environment. With ``background`` the runtime pumps events in threads (as ``up`` does);
    otherwise call ``stack.runtime.drain()`` to deliver them deterministically. Function URLs start
    their worker at the first request, or at once with ``warm_function_urls`` (`up` does: SuperOffice
    gives a webhook's test request a few seconds).
    """
    with _LIVE_LOCK:
        if stack_name in _LIVE_STACKS:
            raise ValueError(f"a local stack named {stack_name!r} is already running in this process")
        _LIVE_STACKS.add(stack_name)
    region = region or default_region()
    endpoint = None
    runtime = None
    urls: FunctionUrls | None = None
    try:
        endpoint = start_moto(port=port, host=host)
        environment = {
            "AWS_ENDPOINT_URL": endpoint.endpoint_url,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            **FAKE_CREDENTIALS,
        }
        with _process_environment(environment):
            loaded = Template.load(
                template,
                stack_name=stack_name,
                region=region,
                endpoint_url=endpoint.endpoint_url,
                parameter_overrides=parameters,
                local_defaults=True,
            )
            # Bound before the functions' environments are read: they name the URLs.
            urls = FunctionUrls(loaded, host=host)
            routing = read_routing(loaded)
            report = provision(loaded, routing, endpoint.endpoint_url)
            runtime = LocalRuntime(
                loaded,
                endpoint.endpoint_url,
                routing=read_routing(loaded),  # again: provisioning may have learnt ARNs (streams, secrets)
                failed_visibility_timeout_s=failed_visibility_timeout_s,
            )
            resources = {
                logical_id: loaded.ref(logical_id)
                for logical_id, kind in report.created.items()
                if not kind.endswith("Policy")  # a policy is an attachment, not something to address
            }
            resources.update({spec.logical_id: spec.name for spec in runtime.functions.values()})
            urls.serve(
                runtime.functions,
                {function_id: runtime.sandbox(function_id).environment for function_id in urls.urls},
                warm=warm_function_urls,
            )
            outputs = loaded.outputs()
            register_outputs(
                stack_name,
                outputs,
                {
                    name: loaded.parameter(name)
                    for name in (*CONFIG_PARAMETERS.values(), "AllowTestEndpoints")
                    if name in (loaded.document.get("Parameters") or {})  # a test template may lack some
                },
            )
            if background:
                runtime.start(schedule_period_s=schedule_period_s)
            try:
                yield LocalStack(
                    endpoint_url=endpoint.endpoint_url,
                    runtime=runtime,
                    resources=resources,
                    outputs=outputs,
                    template=loaded,
                    report=report,
                    function_urls=urls.urls,
                )
            finally:
                # Stop the pollers while the stack's environment is still set: a handler still running
                # must finish with the endpoint and credentials it started with.
                runtime.stop()
    finally:
        if runtime is not None:
            runtime.stop()
        if urls is not None:
            urls.stop()
        with _LIVE_LOCK:
            _LIVE_STACKS.discard(stack_name)
            last = not _LIVE_STACKS
        if endpoint is not None:
            if last:
                endpoint.reset()
            endpoint.stop()


def up(
    port: int = 4566,
    template: Path = Path("template.yaml"),
    schedule_period_s: float | None = None,
    stack_name: str = DEFAULT_STACK_NAME,
) -> None:
    """Run the local stack in the foreground until Ctrl-C: moto on ``port``, the template's resources,
    and threads delivering events and firing schedules (every ``schedule_period_s`` when given)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SIGTERM (a service manager, a test fixture) stops the stack as Ctrl-C does: its clean-up runs, and
    # the function URL workers and moto stop with it.
    signal.signal(signal.SIGTERM, _interrupt)
    with local_stack(
        template=template,
        port=port,
        stack_name=stack_name,
        background=True,
        schedule_period_s=schedule_period_s,
        warm_function_urls=True,
    ) as stack:
        print(f"local stack {stack_name!r} is up: AWS_ENDPOINT_URL={stack.endpoint_url}")
        width = max((len(name) for name in stack.resources), default=0)
        for logical_id, value in sorted(stack.resources.items()):
            print(f"  {logical_id:<{width}}  {value}")
        for function_id, url in sorted(stack.function_urls.items()):
            print(f"  function URL {function_id}: {url}")
        for route in stack.runtime.schedule_routes():
            period = f"every {schedule_period_s} s" if schedule_period_s else route.schedule
            print(f"  schedule {route.key}: {period}")
        print("Ctrl-C to stop.", flush=True)
        stopped = threading.Event()
        try:
            while not stopped.wait(3600):
                pass
        except KeyboardInterrupt:
            print("stopping the local stack", flush=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def register_outputs(
    stack_name: str, outputs: Mapping[str, Any], parameters: Mapping[str, str] | None = None
) -> None:
    """Record the stack's outputs (and the parameters it was provisioned with) as a CloudFormation
    stack in moto, as deploying would.

    The operator CLI reads a stack's outputs and parameters with `describe_stacks`, on AWS and
    locally alike.
    """
    parameters = dict(parameters or {})
    template = {
        "Parameters": {name: {"Type": "String"} for name in parameters},
        # moto needs one resource; an SSM parameter holding the outputs is handy to inspect, too.
        "Resources": {
            "Outputs": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": f"/{stack_name}/outputs",
                    "Type": "String",
                    "Value": json.dumps(outputs),
                },
            }
        },
        "Outputs": {key: {"Value": str(value)} for key, value in outputs.items()},
    }
    client("cloudformation", os.environ["AWS_ENDPOINT_URL"], default_region()).create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": name, "ParameterValue": str(value)} for name, value in parameters.items()
        ],
    )
