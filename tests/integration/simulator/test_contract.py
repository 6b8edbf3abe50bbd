"""Contract: the simulator's responses match SuperOffice's official REST spec (swagger-subset.json),
the Webhook agent's included (one webhook created, read, changed and deleted against a loopback receiver).

The spec is read from `../shared/superoffice/` beside the repository (never copied into it), or from
the file `SUPEROFFICE_SPEC` names. Missing, the tests skip on a developer's machine and fail in CI
(`CI` set), where a skipped contract would hide a gap. It is
Swagger 2.0 generated from .NET types, so two .NET rules are applied when turning it into JSON
Schema: a bare `{"type": "object"}` is `System.Object` (any value), and reference types (strings,
objects, arrays) may be null (`"odata.nextLink": null` is what the real server sends). `date-time`
values must be offset-less, as SuperOffice sends them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from devtools.simulator.api import API_PREFIX, api_routes
from devtools.simulator.testing import SimulatorHandle
from devtools.simulator.webhook_api import webhook_routes

from .queries import CONSENT_SELECT, PERSON_SELECT
from .receiver import Receiver, running_receiver

pytestmark = pytest.mark.xdist_group("simulator-contract")

SPEC_PATH = Path(
    os.environ.get("SUPEROFFICE_SPEC")
    or Path(__file__).resolve().parents[3] / ".." / "shared" / "superoffice" / "swagger-subset.json"
)
OFFSETLESS_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"
INT32 = {"minimum": -(2**31), "maximum": 2**31 - 1}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    if not SPEC_PATH.is_file():
        missing = f"SuperOffice spec not found at {SPEC_PATH.resolve()} (the shared reference data)"
        if os.environ.get("CI"):
            pytest.fail(missing + "; CI must check the contract", pytrace=False)
        pytest.skip(missing)
    return dict(json.loads(SPEC_PATH.read_text(encoding="utf-8")))


def _dotnet(schema: Any) -> Any:
    """Swagger 2.0 schema → JSON Schema (draft 4) with the .NET serializer's rules."""
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return {"anyOf": [{"$ref": schema["$ref"]}, {"type": "null"}]}
    kind = schema.get("type")
    if kind == "object" and not {"properties", "additionalProperties"} & schema.keys():
        return {}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("description", "example", "x-nullable"):
            continue
        if key == "properties":
            out[key] = {name: _dotnet(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = _dotnet(value)
        else:
            out[key] = value
    if kind == "integer" and schema.get("format") == "int32":
        out.update(INT32)
    if kind == "string" and schema.get("format") == "date-time":
        out["pattern"] = OFFSETLESS_PATTERN
        out.pop("format")
    elif kind in ("string", "object", "array"):
        out["type"] = [kind, "null"]
    return out


def _validator(
    spec: dict[str, Any], path: str, method: str, status: int
) -> jsonschema.Draft4Validator | None:
    operation = spec["paths"][path][method]
    responses = operation["responses"]
    assert str(status) in responses, f"{method.upper()} {path} answered {status}, not documented"
    schema = responses[str(status)].get("schema")
    if schema is None:
        return None
    root = dict(_dotnet(schema))
    root["definitions"] = {name: _dotnet(definition) for name, definition in spec["definitions"].items()}
    return jsonschema.Draft4Validator(root)


def _documented_parameters(spec: dict[str, Any], path: str, method: str) -> set[str]:
    return {parameter["name"].lower() for parameter in spec["paths"][path][method].get("parameters", [])}


@pytest.fixture(scope="module")
def client(sim: SimulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.root_url, auth=(sim.username, sim.password), timeout=10) as http:
        yield http


# (spec path, method, our path, query, expected status)
CALLS: list[tuple[str, str, str, dict[str, str], int]] = [
    ("/api/v1/List/LegalBase/Items", "get", "/List/LegalBase/Items", {}, 200),
    ("/api/v1/List/ConsentPurpose/Items", "get", "/List/ConsentPurpose/Items", {}, 200),
    ("/api/v1/List/ConsentSource/Items", "get", "/List/ConsentSource/Items", {}, 200),
    ("/api/v1/Person/{id}", "get", "/Person/3", {}, 200),
    ("/api/v1/Person/{id}", "get", "/Person/999999", {}, 404),
    (
        "/api/v1/Person",
        "get",
        "/Person",
        {"$select": "personId,personRegisteredDate,email/emailAddress", "$filter": "personId in (1,2,3)"},
        200,
    ),
    ("/api/v1/Person/{personId}/Consent", "get", "/Person/3/Consent", {}, 200),
    ("/api/v1/Person/{personId}/Consent/{purpose}", "get", "/Person/3/Consent/STORE", {}, 200),
    (
        "/api/v1/Person/{personId}/Consent/{purpose}",
        "put",
        "/Person/3/Consent/EMARKETING",
        {"legalBase": "61A", "source": "API", "comment": "contract test"},
        204,
    ),
    (
        "/api/v1/Archive/{archiveProviderName}",
        "get",
        "/Archive/Person",
        {"$select": PERSON_SELECT, "$filter": "personId in (1,2,3,4)"},
        200,
    ),
    (
        "/api/v1/Archive/{archiveProviderName}",
        "get",
        "/Archive/dynamic",
        {"$select": CONSENT_SELECT, "$orderBy": "consentperson.consentperson_id", "$top": "5"},
        200,
    ),
    (
        "/api/v1/Selection/{selectionId}/Members",
        "get",
        "/Selection/1/Members",
        {"$select": "personId,contactId"},
        200,
    ),
    (
        "/api/v1/Project/{id}/Members",
        "get",
        "/Project/1/Members",
        {
            "$select": "projectMemberId,personId,contactId",
            "$orderBy": "projectMemberId",
            "$top": "1000",
            "$filter": "projectMemberId gt 0",
        },
        200,
    ),
]


# The Webhook agent's calls, made in this order on one webhook (`{id}`: the one the POST created);
# (spec path, method, our path, body, expected status).
WEBHOOK_CALLS: list[tuple[str, str, str, Any, int]] = [
    ("/api/v1/Webhook/default", "get", "/Webhook/default", None, 200),
    ("/api/v1/Webhook/Test", "post", "/Webhook/Test", "definition", 200),
    ("/api/v1/Webhook", "post", "/Webhook", "definition", 200),
    ("/api/v1/Webhook", "get", "/Webhook", None, 200),
    ("/api/v1/Webhook/{id}", "get", "/Webhook/{id}", None, 200),
    ("/api/v1/Webhook/{id}", "put", "/Webhook/{id}", {"Name": "contract renamed"}, 200),
    (
        "/api/v1/Webhook/{id}",
        "patch",
        "/Webhook/{id}",
        [{"op": "replace", "path": "/Name", "value": "p"}],
        200,
    ),
    ("/api/v1/Webhook/{id}", "delete", "/Webhook/{id}", None, 204),
    ("/api/v1/Webhook/{id}", "get", "/Webhook/{id}", None, 404),
    ("/api/v1/Webhook/{id}", "patch", "/Webhook/{id}", {"Name": "gone"}, 404),
]


def _check_response(
    spec: dict[str, Any], spec_path: str, method: str, status: int, response: httpx.Response
) -> None:
    assert response.status_code == status, response.text
    validator = _validator(spec, spec_path, method, status)
    if validator is None:
        # Undocumented body: nothing for 204, SuperOffice's error shape for errors.
        if status == 204:
            assert response.content == b""
        else:
            assert response.json()["Error"] is True
        return
    errors = sorted(validator.iter_errors(response.json()), key=lambda error: list(error.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver("contract-secret") as handle:
        yield handle


def test_webhook_responses_match_the_documented_schema(
    spec: dict[str, Any], sim: SimulatorHandle, client: httpx.Client, receiver: Receiver
) -> None:
    definition = {
        "Name": "contract",
        "Events": ["person.consented", "person.unconsented"],
        "TargetUrl": receiver.url,
        "Secret": "contract-secret",
        "State": "Active",
        "Type": "webhook",
        "Headers": {"X-Account": "a-1"},
        "Properties": {"account": "a-1", "nested": {"n": 1}},
    }
    webhook_id = 0
    for spec_path, method, path, body, status in WEBHOOK_CALLS:
        url = f"/{sim.cust_id}/api/v1" + path.replace("{id}", str(webhook_id))
        payload = definition if body == "definition" else body
        response = client.request(method.upper(), url, json=payload)
        _check_response(spec, spec_path, method, status, response)
        if (spec_path, method) == ("/api/v1/Webhook", "post"):
            webhook_id = response.json()["WebhookId"]
            assert response.json()["Secret"] == ""
    sim.control.clear_webhooks()


@pytest.mark.parametrize(
    ("spec_path", "method", "path", "query", "status"), CALLS, ids=[f"{c[1]} {c[2]}" for c in CALLS]
)
def test_response_matches_the_documented_schema(
    spec: dict[str, Any],
    sim: SimulatorHandle,
    client: httpx.Client,
    spec_path: str,
    method: str,
    path: str,
    query: dict[str, str],
    status: int,
) -> None:
    # The query parameters consent-sync sends are ones the operation documents
    assert {name.lower() for name in query} <= _documented_parameters(spec, spec_path, method)
    response = client.request(method.upper(), f"/{sim.cust_id}/api/v1{path}", params=query)
    _check_response(spec, spec_path, method, status, response)


def test_every_simulated_path_the_spec_covers_is_checked_here(spec: dict[str, Any]) -> None:
    """A route added to the simulator that the spec documents must get a line in CALLS."""
    covered = {(spec_path, method) for spec_path, method, *_ in [*CALLS, *WEBHOOK_CALLS]}
    patterns = {
        spec_path: re.compile(
            "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(spec_path)) + "$", re.IGNORECASE
        )
        for spec_path in spec["paths"]
    }
    for route in [*api_routes(), *webhook_routes()]:
        if not route.path.startswith(API_PREFIX):
            continue  # login, JWKS and tenant state are not in the REST spec
        concrete = "/api/v1" + route.path.removeprefix(API_PREFIX).replace("{provider}", "Person")
        concrete = re.sub(r"\{[^}]*\}", "1", concrete)
        documented = [path for path, pattern in patterns.items() if pattern.match(concrete)]
        assert documented, f"{route.path} is not in the spec"
        for method in route.methods or set():
            if method.lower() in spec["paths"][documented[0]] and method != "HEAD":
                assert (documented[0], method.lower()) in covered, (
                    f"{method} {route.path} has no contract check"
                )
