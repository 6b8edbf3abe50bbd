"""Load a SAM/CloudFormation template and resolve its intrinsic functions as CloudFormation would.

Only what a local stack needs is modelled: parameters (defaults, overrides), pseudo parameters,
conditions, ``Ref``/``Fn::GetAtt``/``Fn::Sub``/``Fn::Join``/``Fn::If`` and friends, and the physical
names CloudFormation gives resources (``{stack}-{LogicalId}`` here, deterministic, unless the template
names the resource itself).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

#: The account moto answers with by default; ARNs the template computes must agree with moto's.
MOTO_ACCOUNT_ID = "123456789012"

NO_VALUE: Any = object()
"""Stands for ``AWS::NoValue``; removed from the lists and maps that contain it."""

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class TemplateError(ValueError):
    """The template cannot be loaded or one of its expressions cannot be resolved."""


@dataclass(frozen=True)
class _NameRule:
    """How CloudFormation names one resource type: the naming property and the service's limits."""

    name_property: str | None
    max_length: int
    lower_case: bool = False
    suffix: str = ""


_NAME_RULES: dict[str, _NameRule] = {
    "AWS::DynamoDB::Table": _NameRule("TableName", 255),
    "AWS::SQS::Queue": _NameRule("QueueName", 80),
    "AWS::S3::Bucket": _NameRule("BucketName", 63, lower_case=True),
    "AWS::Events::EventBus": _NameRule("Name", 256),
    "AWS::Events::Rule": _NameRule("Name", 64),
    "AWS::Serverless::Function": _NameRule("FunctionName", 64),
    "AWS::Lambda::Function": _NameRule("FunctionName", 64),
    "AWS::Serverless::LayerVersion": _NameRule("LayerName", 140),
    "AWS::Lambda::LayerVersion": _NameRule("LayerName", 140),
    "AWS::SecretsManager::Secret": _NameRule("Name", 512),
    "AWS::SNS::Topic": _NameRule("TopicName", 256),
    "AWS::CloudWatch::Alarm": _NameRule("AlarmName", 255),
    "AWS::IAM::Role": _NameRule("RoleName", 64),
    "AWS::SSM::Parameter": _NameRule("Name", 2048),
    "AWS::Logs::LogGroup": _NameRule("LogGroupName", 512),
}


def bounded_name(name: str, max_length: int) -> str:
    """Shorten ``name`` to ``max_length`` keeping it unique: a prefix plus a hash of the whole."""
    if len(name) <= max_length:
        return name
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"{name[: max_length - 9]}-{digest}"


def to_plain(node: Any) -> Any:
    """Copy cfn-lint's node types (``dict_node``, ``str_node``…) into plain dicts, lists and strings."""
    if isinstance(node, Mapping):
        return {str(key): to_plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [to_plain(item) for item in node]
    if isinstance(node, str):
        return str(node)
    return node


def load_template_document(path: Path) -> dict[str, Any]:
    """Parse a YAML or JSON template with cfn-lint's decoder (short-form tags become long forms)."""
    if not path.is_file():
        raise TemplateError(f"template not found: {path}")
    document, errors = decode(str(path))
    if errors or document is None:
        details = "; ".join(str(error) for error in errors) or "empty document"
        raise TemplateError(f"cannot parse {path}: {details}")
    plain = to_plain(document)
    if not isinstance(plain.get("Resources"), dict):
        raise TemplateError(f"{path} has no Resources section")
    return plain


@dataclass
class Template:
    """A parsed template bound to a stack name, region, account and (optionally) an endpoint.

    Resolution is lazy: :meth:`resolve` evaluates any fragment on demand, so values only known once
    resources exist (a stream ARN, a secret's generated ARN) can be registered with
    :meth:`set_attribute` by the provisioner and are then used by every later resolution.
    """

    document: dict[str, Any]
    path: Path
    stack_name: str
    region: str
    account_id: str = MOTO_ACCOUNT_ID
    endpoint_url: str | None = None
    parameter_overrides: Mapping[str, Any] = field(default_factory=dict)
    _attributes: dict[tuple[str, str], Any] = field(default_factory=dict, init=False, repr=False)
    _condition_cache: dict[str, bool] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        stack_name: str,
        region: str,
        endpoint_url: str | None = None,
        parameter_overrides: Mapping[str, Any] | None = None,
        account_id: str = MOTO_ACCOUNT_ID,
        local_defaults: bool = False,
    ) -> Template:
        """Read ``path`` and bind it to a stack; raise :class:`TemplateError` on unknown parameters.

        With ``local_defaults`` (a local stack), the template's own ``Metadata.LocalStack.
        ParameterOverrides`` apply first and ``parameter_overrides`` over them.
        """
        document = load_template_document(path)
        overrides = {
            **(local_parameter_overrides(document) if local_defaults else {}),
            **(parameter_overrides or {}),
        }
        template = cls(
            document=document,
            path=path.resolve(),
            stack_name=stack_name,
            region=region,
            account_id=account_id,
            endpoint_url=endpoint_url.rstrip("/") if endpoint_url else None,
            parameter_overrides=overrides,
        )
        unknown = set(template.parameter_overrides) - set(template.document.get("Parameters", {}))
        if unknown:
            raise TemplateError(f"unknown parameter override(s): {', '.join(sorted(unknown))}")
        return template

    # ------------------------------------------------------------------ structure

    @property
    def directory(self) -> Path:
        """The folder the template lives in; ``CodeUri`` and similar paths are relative to it."""
        return self.path.parent

    @property
    def globals(self) -> dict[str, Any]:
        """The SAM ``Globals`` section (empty when absent)."""
        return dict(self.document.get("Globals") or {})

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """Resources whose ``Condition`` holds, by logical id, unresolved."""
        return {
            logical_id: resource
            for logical_id, resource in self.document["Resources"].items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }

    def resource_type(self, logical_id: str) -> str:
        """The ``Type`` of an active resource; :class:`TemplateError` when it does not exist."""
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"unknown or conditionally absent resource: {logical_id}")
        return str(resource["Type"])

    def properties(self, logical_id: str) -> dict[str, Any]:
        """A resource's ``Properties`` with every intrinsic resolved."""
        resolved = self.resolve(self.resources[logical_id].get("Properties") or {})
        return dict(resolved)

    def outputs(self) -> dict[str, Any]:
        """The ``Outputs`` section resolved (outputs whose condition is false are left out)."""
        result: dict[str, Any] = {}
        for name, output in (self.document.get("Outputs") or {}).items():
            if "Condition" in output and not self.condition(output["Condition"]):
                continue
            result[name] = self.resolve(output["Value"])
        return result

    def set_attribute(self, logical_id: str, attribute: str, value: Any) -> None:
        """Record a value only known after creation (``Ref`` is attribute ``"Ref"``)."""
        self._attributes[(logical_id, attribute)] = value

    # ------------------------------------------------------------------ parameters and conditions

    def parameter(self, name: str) -> Any:
        """A parameter's value: the override, else the default; lists for list-typed parameters."""
        definition = (self.document.get("Parameters") or {}).get(name)
        if definition is None:
            raise TemplateError(f"unknown parameter: {name}")
        if name in self.parameter_overrides:
            value = self.parameter_overrides[name]
        elif "Default" in definition:
            value = definition["Default"]
        else:
            raise TemplateError(f"parameter {name} has no default; pass it as an override")
        allowed = definition.get("AllowedValues")
        if allowed is not None and str(value) not in [str(item) for item in allowed]:
            raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
        kind = str(definition.get("Type", "String"))
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            return value if isinstance(value, list) else [item.strip() for item in str(value).split(",")]
        # CloudFormation hands every scalar parameter over as a string, numbers included.
        return str(value)

    def condition(self, name: str) -> bool:
        """Evaluate a named condition of the ``Conditions`` section."""
        if name not in self._condition_cache:
            definition = (self.document.get("Conditions") or {}).get(name)
            if definition is None:
                raise TemplateError(f"unknown condition: {name}")
            self._condition_cache[name] = self._evaluate_condition(definition)
        return self._condition_cache[name]

    def _evaluate_condition(self, node: Any) -> bool:
        if isinstance(node, bool):
            return node
        if not isinstance(node, dict) or len(node) != 1:
            raise TemplateError(f"malformed condition: {node!r}")
        ((function, argument),) = node.items()
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self._evaluate_condition(argument[0])
        if function == "Fn::And":
            return all(self._evaluate_condition(item) for item in argument)
        if function == "Fn::Or":
            return any(self._evaluate_condition(item) for item in argument)
        raise TemplateError(f"unsupported condition function: {function}")

    # ------------------------------------------------------------------ names, Ref and GetAtt

    def physical_name(self, logical_id: str) -> str:
        """The name the resource gets: the template's explicit one, else ``{stack}-{LogicalId}``."""
        if (logical_id, "Name") in self._attributes:
            return str(self._attributes[(logical_id, "Name")])
        kind = self.resource_type(logical_id)
        rule = _NAME_RULES.get(kind, _NameRule(None, 255))
        properties = self.resources[logical_id].get("Properties") or {}
        if rule.name_property and properties.get(rule.name_property) is not None:
            return str(self.resolve(properties[rule.name_property]))
        suffix = ".fifo" if kind == "AWS::SQS::Queue" and _truthy(properties.get("FifoQueue")) else ""
        name = bounded_name(f"{self.stack_name}-{logical_id}", rule.max_length - len(suffix)) + suffix
        if rule.lower_case:
            name = name.lower()
        return name

    def queue_url(self, name: str) -> str:
        """The URL of a queue as moto's server hands it out (AWS's form when no endpoint is bound)."""
        base = self.endpoint_url or f"https://sqs.{self.region}.amazonaws.com"
        return f"{base}/{self.account_id}/{name}"

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        """An ARN in this stack's partition, region and account."""
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account_id}:{resource}"

    def ref(self, logical_id: str) -> Any:
        """What ``Ref`` returns for a parameter, pseudo parameter or resource, as CloudFormation does."""
        pseudo = self._pseudo_parameter(logical_id)
        if pseudo is not None:
            return pseudo
        if logical_id in (self.document.get("Parameters") or {}):
            return self.parameter(logical_id)
        if (logical_id, "Ref") in self._attributes:
            return self._attributes[(logical_id, "Ref")]
        implicit = self._implicit_resource(logical_id)
        if implicit is not None:
            return implicit[0]
        kind = self.resource_type(logical_id)
        name = self.physical_name(logical_id)
        if kind == "AWS::SQS::Queue":
            return self.queue_url(name)
        if kind in ("AWS::SecretsManager::Secret", "AWS::SNS::Topic") or kind.endswith("::LayerVersion"):
            return self.get_att(logical_id, "Arn")
        return name

    def get_att(self, logical_id: str, attribute: str) -> Any:
        """What ``Fn::GetAtt`` returns for the attributes local code and templates commonly use."""
        if (logical_id, attribute) in self._attributes:
            return self._attributes[(logical_id, attribute)]
        url_function = self._url_function(logical_id)
        if url_function is not None:
            if attribute != "FunctionUrl":
                raise TemplateError(f"unsupported attribute {logical_id}.{attribute}")
            # AWS's shape; the local stack sets the loopback URL it serves (set_attribute).
            return f"https://{self.physical_name(url_function)}.lambda-url.{self.region}.on.aws/"
        implicit = self._implicit_resource(logical_id)
        if implicit is not None:
            if attribute == "Arn":
                return implicit[1]
            raise TemplateError(f"unsupported attribute {logical_id}.{attribute}")
        kind = self.resource_type(logical_id)
        name = self.physical_name(logical_id)
        attributes: dict[str, Any] = {}
        if kind == "AWS::SQS::Queue":
            attributes = {"Arn": self.arn("sqs", name), "QueueName": name, "QueueUrl": self.queue_url(name)}
        elif kind == "AWS::DynamoDB::Table":
            table_arn = self.arn("dynamodb", f"table/{name}")
            attributes = {"Arn": table_arn}
            if (self.resources[logical_id].get("Properties") or {}).get("StreamSpecification"):
                # Moto labels streams with their creation time; the provisioner registers the real ARN.
                attributes["StreamArn"] = f"{table_arn}/stream/local"
        elif kind == "AWS::S3::Bucket":
            attributes = {
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
                "DualStackDomainName": f"{name}.s3.dualstack.{self.region}.amazonaws.com",
                "WebsiteURL": f"http://{name}.s3-website-{self.region}.amazonaws.com",
            }
        elif kind == "AWS::Events::EventBus":
            attributes = {"Arn": self.arn("events", f"event-bus/{name}"), "Name": name}
        elif kind == "AWS::Events::Rule":
            bus = (self.resources[logical_id].get("Properties") or {}).get("EventBusName")
            bus_name = self.bus_name(self.resolve(bus)) if bus is not None else "default"
            path = f"rule/{name}" if bus_name == "default" else f"rule/{bus_name}/{name}"
            attributes = {"Arn": self.arn("events", path)}
        elif kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            attributes = {"Arn": self.arn("lambda", f"function:{name}")}
        elif kind.endswith("::LayerVersion"):
            attributes = {"Arn": self.arn("lambda", f"layer:{name}:1")}
        elif kind == "AWS::SecretsManager::Secret":
            attributes = {"Arn": self.arn("secretsmanager", f"secret:{name}")}
        elif kind == "AWS::SNS::Topic":
            attributes = {"Arn": self.arn("sns", name), "TopicName": name}
        elif kind == "AWS::CloudWatch::Alarm":
            attributes = {"Arn": self.arn("cloudwatch", f"alarm:{name}")}
        elif kind == "AWS::IAM::Role":
            attributes = {"Arn": self.arn("iam", f"role/{name}", region=False), "RoleId": name}
        elif kind == "AWS::Logs::LogGroup":
            attributes = {"Arn": self.arn("logs", f"log-group:{name}:*")}
        else:
            service = kind.split("::")[1].lower() if kind.count("::") == 2 else "unknown"
            attributes = {"Arn": self.arn(service, name)}
        if attribute not in attributes:
            raise TemplateError(f"unsupported attribute {logical_id}.{attribute} for {kind}")
        return attributes[attribute]

    def bus_name(self, name_or_arn: str) -> str:
        """An event bus name from a name or an ARN (rules and ``PutEvents`` accept either)."""
        return name_or_arn.rsplit("event-bus/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn

    def _pseudo_parameter(self, name: str) -> Any:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.arn("cloudformation", f"stack/{self.stack_name}/local"),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }.get(name)

    def _url_function(self, logical_id: str) -> str | None:
        """The function whose SAM-generated ``{Function}Url`` (its ``FunctionUrlConfig``) this is, if any."""
        if logical_id in self.resources or not logical_id.endswith("Url"):
            return None
        function_id = logical_id[: -len("Url")]
        function = self.resources.get(function_id)
        if function is None or function["Type"] != "AWS::Serverless::Function":
            return None
        if (function.get("Properties") or {}).get("FunctionUrlConfig") is None:
            return None
        return function_id

    def _implicit_resource(self, logical_id: str) -> tuple[str, str] | None:
        """SAM's generated execution role ``{Function}Role``: (Ref, Arn) when it is one."""
        if logical_id in self.resources or not logical_id.endswith("Role"):
            return None
        function = self.resources.get(logical_id[: -len("Role")])
        if function is None or function["Type"] != "AWS::Serverless::Function":
            return None
        if (function.get("Properties") or {}).get("Role") is not None:
            return None
        name = bounded_name(f"{self.stack_name}-{logical_id}", 64)
        return name, self.arn("iam", f"role/{name}", region=False)

    # ------------------------------------------------------------------ intrinsic functions

    def resolve(self, node: Any) -> Any:
        """Resolve every intrinsic function in ``node``; ``AWS::NoValue`` entries are dropped."""
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, argument)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def _intrinsic(self, function: str, argument: Any) -> Any:
        if function == "Ref":
            return self.ref(str(self.resolve(argument)))
        if function == "Fn::GetAtt":
            if isinstance(argument, str):
                logical_id, _, attribute = argument.partition(".")
            else:
                logical_id, attribute = (str(self.resolve(part)) for part in argument)
            return self.get_att(logical_id, attribute)
        if function == "Fn::Sub":
            return self._sub(argument)
        if function == "Fn::Join":
            separator, values = argument
            return str(separator).join(str(value) for value in self.resolve(values))
        if function == "Fn::If":
            name, when_true, when_false = argument
            return self.resolve(when_true if self.condition(name) else when_false)
        if function == "Fn::Select":
            index, values = argument
            return self.resolve(values)[int(self.resolve(index))]
        if function == "Fn::Split":
            separator, value = argument
            return str(self.resolve(value)).split(separator)
        if function == "Fn::FindInMap":
            mapping, key, name = (str(self.resolve(part)) for part in argument[:3])
            try:
                return self.resolve(self.document["Mappings"][mapping][key][name])
            except KeyError as missing:
                raise TemplateError(f"Fn::FindInMap: no {mapping}/{key}/{name}") from missing
        if function == "Fn::Base64":
            return base64.b64encode(str(self.resolve(argument)).encode()).decode()
        if function == "Fn::ToJsonString":
            return json.dumps(self.resolve(argument), separators=(",", ":"))
        if function == "Fn::GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        if function in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
            return self._evaluate_condition({function: argument})
        raise TemplateError(f"unsupported intrinsic function: {function}")

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        else:
            text, raw_variables = argument
            variables = {name: self.resolve(value) for name, value in raw_variables.items()}

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                # ``${!Literal}`` is CloudFormation's escape for a literal ``${Literal}``.
                return "${" + expression[1:] + "}"
            if expression in variables:
                return str(variables[expression])
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, _, attribute = expression.partition(".")
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(expression))

        return _SUB_VARIABLE.sub(replace, text)


def local_parameter_overrides(document: Mapping[str, Any]) -> dict[str, Any]:
    """The parameter values a template asks a local stack to use (``Metadata.LocalStack.ParameterOverrides``)."""
    local = ((document.get("Metadata") or {}).get("LocalStack") or {}).get("ParameterOverrides") or {}
    if not isinstance(local, Mapping):
        raise TemplateError("Metadata.LocalStack.ParameterOverrides must be a map of parameter values")
    return dict(local)


def references(node: Any) -> set[str]:
    """Logical ids a fragment refers to through ``Ref``, ``Fn::GetAtt`` or ``Fn::Sub``."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value.split(".")[0] if isinstance(value, str) else str(value[0]))
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                for expression in _SUB_VARIABLE.findall(str(text)):
                    if not expression.startswith("!"):
                        found.add(expression.split(".")[0])
                if not isinstance(value, str):
                    found |= references(value[1])
            else:
                found |= references(value)
    return {name for name in found if not name.startswith("AWS::")}


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
