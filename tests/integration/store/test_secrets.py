"""Account credentials read through Powertools' parameters utility, on moto (AWS_ENDPOINT_URL)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

from consent_sync.store import aws
from consent_sync.store.secrets import CredentialsUnavailable, forget_credentials, read_credentials

SECRET_VALUE = "hunter2-do-not-print"


@pytest.fixture
def secretsmanager(moto_endpoint: str) -> Iterator[Any]:
    forget_credentials()
    yield aws.client("secretsmanager")
    forget_credentials()


def _secret(sm: Any, body: str) -> str:
    name = f"accounts/{uuid.uuid4().hex[:8]}"
    return str(sm.create_secret(Name=name, SecretString=body)["ARN"])


def test_reads_a_json_object_through_this_packages_client(secretsmanager: Any) -> None:
    arn = _secret(secretsmanager, json.dumps({"username": "sim", "password": SECRET_VALUE}))
    assert read_credentials(arn) == {"username": "sim", "password": SECRET_VALUE}
    # get_secret's provider is the one built on consent_sync.store.aws's client (the moto endpoint).
    assert DEFAULT_PROVIDERS["secrets"].client is aws.client("secretsmanager")


def test_credentials_are_cached_until_forgotten(secretsmanager: Any) -> None:
    arn = _secret(secretsmanager, json.dumps({"password": "old"}))
    assert read_credentials(arn) == {"password": "old"}
    secretsmanager.put_secret_value(SecretId=arn, SecretString=json.dumps({"password": "new"}))
    assert read_credentials(arn) == {"password": "old"}  # within the TTL: the cached value
    forget_credentials()
    assert read_credentials(arn) == {"password": "new"}


def test_a_returned_value_is_a_copy(secretsmanager: Any) -> None:
    arn = _secret(secretsmanager, json.dumps({"password": "x"}))
    read_credentials(arn)["password"] = "changed"
    assert read_credentials(arn) == {"password": "x"}


def test_a_missing_secret_names_the_error_code_only(secretsmanager: Any) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:accounts/nope-AbCdEf"
    with pytest.raises(CredentialsUnavailable) as caught:
        read_credentials(arn)
    assert str(caught.value) == "cannot read the credentials secret: ResourceNotFoundException"


@pytest.mark.parametrize(
    "body", [f"not json {SECRET_VALUE}", json.dumps([SECRET_VALUE]), json.dumps(SECRET_VALUE)]
)
def test_a_secret_that_is_not_a_json_object_is_unavailable_without_its_value(
    secretsmanager: Any, body: str
) -> None:
    arn = _secret(secretsmanager, body)
    with pytest.raises(CredentialsUnavailable) as caught:
        read_credentials(arn)
    assert str(caught.value) == "the credentials secret is not a JSON object"
    chain: BaseException | None = caught.value
    while chain is not None:  # nothing in the chain shows the value either
        assert SECRET_VALUE not in str(chain)
        chain = chain.__cause__ or chain.__context__


def test_another_endpoint_gets_its_own_provider(secretsmanager: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = _secret(secretsmanager, json.dumps({"password": "x"}))
    read_credentials(arn)
    first = DEFAULT_PROVIDERS["secrets"]
    monkeypatch.setenv("AWS_REGION", "eu-north-1")  # the same server, another region: the secret is not there
    with pytest.raises(CredentialsUnavailable, match="ResourceNotFoundException"):
        read_credentials(arn)
    assert DEFAULT_PROVIDERS["secrets"] is not first
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert read_credentials(arn) == {"password": "x"}


def test_forgetting_before_any_read_is_harmless() -> None:
    DEFAULT_PROVIDERS.pop("secrets", None)
    forget_credentials()
