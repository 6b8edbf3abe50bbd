"""Create a template's resources on a moto endpoint, from the template's own properties.

Nothing here knows a table or a queue of consent-sync: every name, key and attribute comes from the
template. Lambda functions, layers, alarms and IAM are not created (in-process handlers need none of
them); they are listed in a debug log as "not provisioned locally".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from typing import Any

from devtools.local.aws import client
from devtools.local.sam import Routing, RuleRoute
from devtools.local.template import Template, references

log = logging.getLogger(__name__)

# CloudFormation property → SQS attribute; every other property of a queue is not an attribute.
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
)
_INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput")


@dataclass
class ProvisionReport:
    """What was created (logical id → type), the tap queues and rules, and what was left out."""

    created: dict[str, str] = field(default_factory=dict)
    tap_queues: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    not_provisioned: dict[str, str] = field(default_factory=dict)


class Provisioner:
    """Creates resources, tap queues and rules for one template on one endpoint."""

    def __init__(self, template: Template, routing: Routing, endpoint_url: str) -> None:
        self.template = template
        self.routing = routing
        self._dynamodb = client("dynamodb", endpoint_url, template.region)
        self._sqs = client("sqs", endpoint_url, template.region)
        self._s3 = client("s3", endpoint_url, template.region)
        self._events = client("events", endpoint_url, template.region)
        self._sns = client("sns", endpoint_url, template.region)
        self._secrets = client("secretsmanager", endpoint_url, template.region)
        self._ssm = client("ssm", endpoint_url, template.region)
        self._cloudwatch = client("cloudwatch", endpoint_url, template.region)
        self._creators: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "AWS::DynamoDB::Table": self._table,
            "AWS::SQS::Queue": self._queue,
            "AWS::S3::Bucket": self._bucket,
            "AWS::S3::BucketPolicy": self._bucket_policy,
            "AWS::Events::EventBus": self._event_bus,
            "AWS::SNS::Topic": self._topic,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::SSM::Parameter": self._parameter,
            "AWS::CloudWatch::Dashboard": self._dashboard,
        }

    def provision(self) -> ProvisionReport:
        """Create everything, dependencies first (a dead-letter queue before the queue naming it)."""
        report = ProvisionReport()
        resources = self.template.resources
        graph = {
            logical_id: {
                name
                for name in references(resource.get("Properties") or {}) | _depends_on(resource)
                if name in resources
            }
            for logical_id, resource in resources.items()
        }
        standalone_rules = []
        for logical_id in TopologicalSorter(graph).static_order():
            kind = resources[logical_id]["Type"]
            if kind == "AWS::Events::Rule":
                standalone_rules.append(logical_id)
            elif kind in self._creators:
                self._creators[kind](logical_id, self.template.properties(logical_id))
                report.created[logical_id] = kind
            else:
                report.not_provisioned[logical_id] = kind
        for route in self.routing.rules:
            self._sqs.create_queue(QueueName=route.tap_queue_name)
            report.tap_queues.append(route.tap_queue_name)
        for logical_id in standalone_rules:
            self._standalone_rule(logical_id)
            report.created[logical_id] = "AWS::Events::Rule"
            report.rules.append(self.template.physical_name(logical_id))
        for route in self.routing.rules:
            if route.rule_resource is None:
                self._route_rule(route)
                report.rules.append(route.rule_name)
        for logical_id, kind in sorted(report.not_provisioned.items()):
            log.debug("not provisioned locally: %s (%s)", logical_id, kind)
        for description in self.routing.unrouted:
            log.debug("event not routed locally: %s", description)
        return report

    # ------------------------------------------------------------------ CloudWatch

    def _dashboard(self, logical_id: str, properties: dict[str, Any]) -> None:
        """Moto stores a dashboard as given: the body resolved here (every name it refers to) is kept."""
        body = properties["DashboardBody"]
        self._cloudwatch.put_dashboard(
            DashboardName=self.template.physical_name(logical_id),
            DashboardBody=body if isinstance(body, str) else json.dumps(body),
        )

    # ------------------------------------------------------------------ DynamoDB

    def _table(self, logical_id: str, properties: dict[str, Any]) -> None:
        name = self.template.physical_name(logical_id)
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": properties["KeySchema"],
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "BillingMode": properties.get("BillingMode", "PROVISIONED"),
        }
        if "ProvisionedThroughput" in properties:
            request["ProvisionedThroughput"] = _ints(properties["ProvisionedThroughput"])
        for section in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if properties.get(section):
                request[section] = [
                    {
                        key: _ints(value) if key.endswith("Throughput") else value
                        for key, value in index.items()
                    }
                    for index in (
                        {key: index[key] for key in _INDEX_KEYS if key in index}
                        for index in properties[section]
                    )
                ]
        stream = properties.get("StreamSpecification")
        if stream:
            # CloudFormation's stream specification has only the view type; enabling it is implied.
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        if properties.get("Tags"):
            request["Tags"] = properties["Tags"]
        description = self._dynamodb.create_table(**request)["TableDescription"]
        if stream and description.get("LatestStreamArn"):
            self.template.set_attribute(logical_id, "StreamArn", description["LatestStreamArn"])
        ttl = properties.get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled", True)).lower() == "true":
            self._dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        recovery = properties.get("PointInTimeRecoverySpecification") or {}
        if str(recovery.get("PointInTimeRecoveryEnabled", False)).lower() == "true":
            self._dynamodb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )

    # ------------------------------------------------------------------ SQS

    def _queue(self, logical_id: str, properties: dict[str, Any]) -> None:
        attributes = {}
        for key in _QUEUE_ATTRIBUTES:
            if key not in properties:
                continue
            value = properties[key]
            if isinstance(value, dict):
                value = json.dumps(value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            attributes[key] = str(value)
        request: dict[str, Any] = {
            "QueueName": self.template.physical_name(logical_id),
            "Attributes": attributes,
        }
        if properties.get("Tags"):
            request["tags"] = {tag["Key"]: tag["Value"] for tag in properties["Tags"]}
        self._sqs.create_queue(**request)

    # ------------------------------------------------------------------ S3

    def _bucket(self, logical_id: str, properties: dict[str, Any]) -> None:
        name = self.template.physical_name(logical_id)
        request: dict[str, Any] = {"Bucket": name}
        if self.template.region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": self.template.region}
        self._s3.create_bucket(**request)
        if "PublicAccessBlockConfiguration" in properties:
            self._s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
            )
        if "BucketEncryption" in properties:
            self._s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        _encryption_rule(rule)
                        for rule in properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                    ]
                },
            )
        if "OwnershipControls" in properties:
            self._s3.put_bucket_ownership_controls(
                Bucket=name, OwnershipControls=properties["OwnershipControls"]
            )
        if "VersioningConfiguration" in properties:
            self._s3.put_bucket_versioning(
                Bucket=name,
                VersioningConfiguration={"Status": properties["VersioningConfiguration"]["Status"]},
            )
        lifecycle = properties.get("LifecycleConfiguration")
        if lifecycle:
            self._s3.put_bucket_lifecycle_configuration(
                Bucket=name,
                LifecycleConfiguration={"Rules": [_lifecycle_rule(rule) for rule in lifecycle["Rules"]]},
            )
        cors = properties.get("CorsConfiguration")
        if cors:
            self._s3.put_bucket_cors(
                Bucket=name, CORSConfiguration={"CORSRules": [_cors_rule(rule) for rule in cors["CorsRules"]]}
            )
        if properties.get("Tags"):
            self._s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": properties["Tags"]})

    def _bucket_policy(self, logical_id: str, properties: dict[str, Any]) -> None:
        document = dict(properties["PolicyDocument"])
        # The local endpoint speaks plain http, and moto enforces policies: a statement that denies
        # requests without TLS would deny everything here. It is applied on AWS, not locally.
        statements = [s for s in document.get("Statement", []) if not _requires_tls(s)]
        skipped = len(document.get("Statement", [])) - len(statements)
        if skipped:
            log.info("bucket policy %s: %d TLS-only statement(s) not applied locally", logical_id, skipped)
        if not statements:
            return
        document["Statement"] = statements
        self._s3.put_bucket_policy(Bucket=properties["Bucket"], Policy=json.dumps(document))

    # ------------------------------------------------------------------ EventBridge

    def _event_bus(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._events.create_event_bus(Name=self.template.physical_name(logical_id))

    def _put_rule(
        self,
        name: str,
        bus: str,
        pattern: Any,
        schedule: str | None,
        enabled: bool,
        description: str | None = None,
    ) -> None:
        request: dict[str, Any] = {
            "Name": name,
            "EventBusName": bus,
            "State": "ENABLED" if enabled else "DISABLED",
        }
        if pattern is not None:
            request["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        if schedule:
            request["ScheduleExpression"] = schedule
        if description:
            request["Description"] = description
        self._events.put_rule(**request)

    def _route_rule(self, route: RuleRoute) -> None:
        self._put_rule(route.rule_name, route.bus_name, route.pattern, route.schedule, route.enabled)
        if route.schedule:
            # Moto never fires schedules, and treats a rule without a pattern as matching every event
            # put on its bus; so a schedule rule gets no target and the runtime feeds its tap queue.
            return
        target: dict[str, Any] = {"Id": "local-tap", "Arn": self.template.arn("sqs", route.tap_queue_name)}
        if route.input_transformer:
            # Moto applies input transformers itself; Input and InputPath are applied by the runtime.
            target["InputTransformer"] = route.input_transformer
        self._events.put_targets(Rule=route.rule_name, EventBusName=route.bus_name, Targets=[target])

    def _standalone_rule(self, logical_id: str) -> None:
        properties = self.template.properties(logical_id)
        name = self.template.physical_name(logical_id)
        bus = self.template.bus_name(str(properties.get("EventBusName", "default")))
        self._put_rule(
            name,
            bus,
            properties.get("EventPattern"),
            properties.get("ScheduleExpression"),
            str(properties.get("State", "ENABLED")).upper() == "ENABLED",
            properties.get("Description"),
        )
        if properties.get("ScheduleExpression") and not properties.get("EventPattern"):
            # As for SAM schedules: moto would hand every event on the bus to a pattern-less rule.
            # Function targets are fed by the runtime's scheduler; other targets are not fired locally.
            log.debug("schedule rule %s: targets are not registered with moto", name)
            return
        taps = {route.key: route for route in self.routing.rules}
        targets = []
        for target in properties.get("Targets") or []:
            route = taps.get(f"{logical_id}.{target.get('Id')}")
            if route is not None:
                # A function target: moto cannot invoke it, so the rule feeds the route's tap queue.
                tap: dict[str, Any] = {
                    "Id": target["Id"],
                    "Arn": self.template.arn("sqs", route.tap_queue_name),
                }
                if route.input_transformer:
                    tap["InputTransformer"] = route.input_transformer
                targets.append(tap)
            else:
                targets.append(
                    {
                        key: value
                        for key, value in target.items()
                        if key in ("Id", "Arn", "Input", "InputPath", "InputTransformer", "SqsParameters")
                    }
                )
        if targets:
            self._events.put_targets(Rule=name, EventBusName=bus, Targets=targets)

    # ------------------------------------------------------------------ SNS, Secrets Manager, SSM

    def _topic(self, logical_id: str, properties: dict[str, Any]) -> None:
        attributes = {key: str(properties[key]) for key in ("DisplayName", "FifoTopic") if key in properties}
        self._sns.create_topic(Name=self.template.physical_name(logical_id), Attributes=attributes)

    def _secret(self, logical_id: str, properties: dict[str, Any]) -> None:
        secret_string = properties.get("SecretString")
        if secret_string is None:
            generate = properties.get("GenerateSecretString") or {}
            password = self._secrets.get_random_password(
                PasswordLength=int(generate.get("PasswordLength", 32)),
                ExcludeCharacters=str(generate.get("ExcludeCharacters", "")),
            )["RandomPassword"]
            if generate.get("SecretStringTemplate"):
                document = json.loads(generate["SecretStringTemplate"])
                document[generate["GenerateStringKey"]] = password
                secret_string = json.dumps(document)
            else:
                secret_string = password
        created = self._secrets.create_secret(
            Name=self.template.physical_name(logical_id),
            SecretString=secret_string,
            Description=str(properties.get("Description", "")),
        )
        # Secrets Manager appends a random suffix to the ARN; Ref must return the real one.
        self.template.set_attribute(logical_id, "Ref", created["ARN"])
        self.template.set_attribute(logical_id, "Arn", created["ARN"])

    def _parameter(self, logical_id: str, properties: dict[str, Any]) -> None:
        self._ssm.put_parameter(
            Name=self.template.physical_name(logical_id),
            Type=str(properties.get("Type", "String")),
            Value=str(properties["Value"]),
        )


def provision(template: Template, routing: Routing, endpoint_url: str) -> ProvisionReport:
    """Create every resource, tap queue and rule of ``template`` on the endpoint."""
    return Provisioner(template, routing, endpoint_url).provision()


def _requires_tls(statement: dict[str, Any]) -> bool:
    """A Deny statement conditioned on `aws:SecureTransport` being false."""
    condition = statement.get("Condition", {})
    return statement.get("Effect") == "Deny" and any(
        "aws:SecureTransport" in clause for clause in condition.values() if isinstance(clause, dict)
    )


def _depends_on(resource: dict[str, Any]) -> set[str]:
    depends = resource.get("DependsOn") or []
    return {depends} if isinstance(depends, str) else set(depends)


def _ints(throughput: dict[str, Any]) -> dict[str, int]:
    return {key: int(value) for key, value in throughput.items()}


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's lifecycle rule shape → the S3 API's."""
    converted: dict[str, Any] = {"Status": rule.get("Status", "Enabled")}
    if "Id" in rule:
        converted["ID"] = rule["Id"]
    if "Filter" in rule:
        converted["Filter"] = rule["Filter"]
    else:
        converted["Filter"] = {"Prefix": rule.get("Prefix", "")}
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    elif "ExpirationDate" in rule:
        converted["Expiration"] = {"Date": rule["ExpirationDate"]}
    if "AbortIncompleteMultipartUpload" in rule:
        converted["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        }
    noncurrent = rule.get("NoncurrentVersionExpiration") or (
        {"NoncurrentDays": rule["NoncurrentVersionExpirationInDays"]}
        if "NoncurrentVersionExpirationInDays" in rule
        else None
    )
    if noncurrent:
        converted["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(noncurrent["NoncurrentDays"])}
    if rule.get("Transitions"):
        converted["Transitions"] = [
            {"StorageClass": item["StorageClass"], "Days": int(item["TransitionInDays"])}
            for item in rule["Transitions"]
            if "TransitionInDays" in item
        ]
    return converted


def _encryption_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's encryption rule shape → the S3 API's (the default has another name)."""
    renames = {"ServerSideEncryptionByDefault": "ApplyServerSideEncryptionByDefault"}
    return {renames.get(key, key): value for key, value in rule.items()}


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's CORS rule shape → the S3 API's."""
    renames = {"ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds", "Id": "ID"}
    return {renames.get(key, key): value for key, value in rule.items()}
