"""A deployed (or local) consent-sync stack as the operator CLI sees it: its CloudFormation outputs.

The local stack registers a CloudFormation stack of the same name in moto holding the same outputs
(`devtools.local.stack.register_outputs`), so every command has one code path for AWS and local.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from botocore.exceptions import ClientError, EndpointConnectionError

from consent_sync.store.aws import client

DEFAULT_STACK = "consent-sync-local"


class StackNotFound(RuntimeError):
    """No stack of that name answers (not deployed, or the local stack is not running)."""


@dataclass(frozen=True)
class Stack:
    """The names a command needs, from the stack's Outputs."""

    name: str
    outputs: dict[str, str]

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
        return cls(name=name, outputs=outputs)

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
