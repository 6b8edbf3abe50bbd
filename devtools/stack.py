"""A deployed (or local) consent-sync stack as the operator CLI sees it: its CloudFormation outputs.

The local stack registers a CloudFormation stack of the same name in moto holding the same outputs
(`devtools.local.stack.register_outputs`), so every command has one code path for AWS and local.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from botocore.exceptions import ClientError, EndpointConnectionError

from consent_sync.config import FunctionConfig
from consent_sync.store.aws import client

DEFAULT_STACK = "consent-sync-local"

#: The stack parameters the functions' environment takes (template.yaml Globals), by config field.
CONFIG_PARAMETERS = {
    "stage": "Stage",
    "chunk_size": "ChunkSize",
    "superoffice_requests_per_second": "SuperOfficeRequestsPerSecond",
    "reconcile_max_receive_count": "ReconcileMaxReceiveCount",
}


class StackNotFound(RuntimeError):
    """No stack of that name answers (not deployed, or the local stack is not running)."""


@dataclass(frozen=True)
class Stack:
    """The names a command needs, from the stack's Outputs."""

    name: str
    outputs: dict[str, str]
    parameters: dict[str, str] = field(default_factory=dict)
    stack_id: str | None = None
    """The stack's ARN (``arn:<partition>:cloudformation:<region>:<AWS account>:stack/...``)."""

    @classmethod
    def resolve(cls, name: str) -> Stack:
        """Read the outputs of stack `name` (on AWS, or on the endpoint in `AWS_ENDPOINT_URL`)."""
        try:
            stacks = client("cloudformation").describe_stacks(StackName=name)["Stacks"]
        except EndpointConnectionError as exc:
            where = os.environ.get("AWS_ENDPOINT_URL", "AWS")
            raise StackNotFound(f"cannot reach {where}; is `consent-sync local up` running?") from exc
        except ClientError as exc:
            raise StackNotFound(f"stack {name!r} not found: {exc.response['Error']['Message']}") from exc
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stacks[0].get("Parameters", [])}
        return cls(name=name, outputs=outputs, parameters=parameters, stack_id=stacks[0].get("StackId"))

    def function_config(self) -> FunctionConfig:
        """The configuration the stack's functions run with, for product flows run in the operator's
        process (`check`, `sync --dry-run`): names from the outputs, the stack's partition, region and
        AWS account from its ARN, and the parameters that tune the functions (their defaults when the
        stack does not list them)."""
        arn = (self.stack_id or "").split(":")
        if len(arn) < 5 or not arn[4]:
            raise StackNotFound(f"stack {self.name!r} has no usable ARN: {self.stack_id!r}")
        partition, region, account = arn[1], arn[3], arn[4]
        tuned = {
            key: self.parameters[name] for key, name in CONFIG_PARAMETERS.items() if name in self.parameters
        }
        stage = tuned.get("stage", "dev")
        return FunctionConfig(
            table_name=self.table_name,
            idempotency_table_name=self.output("IdempotencyTableName"),
            artifacts_bucket=self.bucket,
            event_bus_name=self.bus_name,
            reconcile_queue_url=self.output("ReconcileQueueUrl"),
            interactive_queue_url=self.output("InteractiveQueueUrl"),
            events_dlq_url=self.events_dlq_url,
            secret_prefix=self.secret_prefix,
            stack_name=self.name,
            webhook_secret_prefix=self.output("WebhookSecretPrefix"),
            webhook_pull_queue_url=self.outputs.get("WebhookPullQueueUrl"),
            secret_arn_prefix=f"arn:{partition}:secretsmanager:{region}:{account}:secret:{self.secret_prefix}",
            # As the template's AllowsTestEndpoints condition: never on a prod stage.
            allow_test_endpoints=self.parameters.get("AllowTestEndpoints") == "true" and stage != "prod",
            **tuned,
        )

    def output(self, key: str) -> str:
        """One output value; a clear error when the stack lacks it."""
        try:
            return self.outputs[key]
        except KeyError:
            raise StackNotFound(f"stack {self.name!r} has no output {key!r}") from None

    @property
    def bus_name(self) -> str:
        return self.output("EventBusName")

    @property
    def table_name(self) -> str:
        return self.output("ConsentTableName")

    @property
    def bucket(self) -> str:
        return self.output("ArtifactsBucketName")

    @property
    def secret_prefix(self) -> str:
        return self.output("SecretPrefix")

    @property
    def events_dlq_url(self) -> str:
        return self.output("EventsDeadLetterQueueUrl")
