"""Account credentials in Secrets Manager: one JSON secret per account, named `<prefix><account_id>`.

A settings event names its secret by ARN, and that ARN must be exactly the account's own secret in the
stack's partition, region and AWS account (:func:`secret_arn_problem`); reading checks that Secrets
Manager answered for exactly that ARN (a partial ARN, without the 6-character suffix, is matched by
name and could name another account's secret).

Read through Powertools' parameters utility (``get_secret(…, transform="json", max_age=…)``), which
caches each secret per container. Its provider is built on this package's Secrets Manager client
(:func:`consent_sync.store.aws.client`, so ``AWS_ENDPOINT_URL`` is honoured: moto locally) and kept in
Powertools' registry of default providers, which is what ``get_secret`` reads from. That registry lives
in the Powertools package, not here, so :func:`forget_credentials` reaches every copy of this module a
process holds (the local runtime imports each function's code privately; Powertools is shared).
The utility is imported at the first read, not with this module: it imports all its providers (SSM,
AppConfig, DynamoDB…), ~2.5 ms of a cold start, and the send-out check and platform functions never
read a secret.
"""

from __future__ import annotations

import re
from functools import cache
from types import ModuleType
from typing import Any

from botocore.exceptions import ClientError

from consent_sync.store.aws import client, endpoint


class CredentialsUnavailable(RuntimeError):
    """The account's secret could not be read (missing, not JSON, or access denied)."""


class _NotThatSecret(LookupError):
    """Secrets Manager answered with another secret than the ARN asked for (a partial ARN)."""


@cache
def _parameters() -> ModuleType:
    """Powertools' parameters utility (imported at the first secret read)."""
    from aws_lambda_powertools.utilities import parameters

    return parameters


def _default_providers() -> dict[str, Any]:
    """Powertools' registry of the providers its ``get_*`` functions read through."""
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    return DEFAULT_PROVIDERS


@cache
def _exact_secrets_provider() -> type[Any]:
    """Powertools' secrets provider, refusing a value whose secret is not exactly the ARN asked for."""

    class ExactSecretsProvider(_parameters().SecretsProvider):  # type: ignore[misc]
        def _get(self, name: str, **sdk_options: Any) -> str | bytes:
            sdk_options["SecretId"] = name
            answer = self.client.get_secret_value(**sdk_options)
            if name.startswith("arn:") and answer.get("ARN") != name:
                raise _NotThatSecret("the credentials secret ARN is not the full ARN of a secret")
            if "SecretString" in answer:
                return str(answer["SecretString"])
            return bytes(answer["SecretBinary"])

    return ExactSecretsProvider


def secret_name(prefix: str, account_id: str) -> str:
    """The name of an account's secret."""
    return f"{prefix}{account_id}"


# Secrets Manager appends a hyphen and 6 random characters to a secret's name in its ARN.
_ARN_SUFFIX = r"-[A-Za-z0-9]{6}"


def secret_arn_problem(arn: str, *, arn_prefix: str, account_id: str) -> str | None:
    """Why `arn` is not the secret of `account_id`, as a rejection reason; None when it is.

    `arn_prefix` is the ARN of the stack's secrets up to the account id,
    ``arn:<partition>:secretsmanager:<region>:<aws account>:secret:<prefix>``: the only secrets the
    functions may read (IAM). The account's own is that prefix, the account id and Secrets Manager's
    suffix ``-XXXXXX``, nothing else.

    ``credentials_secret_outside_prefix``: another partition, region, AWS account or name prefix;
    ``credentials_secret_not_this_account``: under the prefix, but another account's (or no full ARN).
    """
    if not arn.startswith(arn_prefix):
        return "credentials_secret_outside_prefix"
    if not re.fullmatch(re.escape(arn_prefix + account_id) + _ARN_SUFFIX, arn):
        return "credentials_secret_not_this_account"
    return None


# Every reconcile chunk needs its account's credentials; a warm container keeps them this long, so a
# rotated secret is picked up within that time.
CREDENTIALS_TTL_S = 300

_PROVIDER = "secrets"  # Powertools' key for the provider get_secret uses
_ENDPOINT_ATTRIBUTE = "consent_sync_endpoint"  # marks a provider built here, with the endpoint it is for


def read_credentials(arn: str) -> dict[str, Any]:
    """The credentials stored in a secret (cached per container for `CREDENTIALS_TTL_S`).

    The error never contains the secret's value.
    """
    parameters = _use_provider()
    try:
        data = parameters.get_secret(arn, transform="json", max_age=CREDENTIALS_TTL_S)
    except parameters.TransformParameterError as exc:
        raise CredentialsUnavailable("the credentials secret is not a JSON object") from exc
    except parameters.GetParameterError as exc:
        # Powertools wraps the SDK's error in its own (chained, not as the cause); the SDK's is the news.
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, _NotThatSecret):
            raise CredentialsUnavailable(str(cause)) from None
        if isinstance(cause, ClientError):
            raise CredentialsUnavailable(
                f"cannot read the credentials secret: {cause.response['Error']['Code']}"
            ) from cause
        if cause is not None:
            raise cause from None  # not an answer from Secrets Manager (no connection, no credentials…)
        raise
    except ValueError as exc:  # a binary secret that is not UTF-8
        raise CredentialsUnavailable("the credentials secret is not a JSON object") from exc
    if not isinstance(data, dict):
        raise CredentialsUnavailable("the credentials secret is not a JSON object")
    return dict(data)  # a copy: the cached value stays as read


def forget_credentials() -> None:
    """Drop cached credentials (after writing a secret in the same process; tests)."""
    provider = _default_providers().get(_PROVIDER)
    if provider is not None:
        provider.clear_cache()


def _use_provider() -> ModuleType:
    """Make Powertools' secrets provider the one for this process's Secrets Manager endpoint; returns
    the parameters utility, which reads through it."""
    parameters = _parameters()
    where = endpoint()
    current = _default_providers().get(_PROVIDER)
    if current is not None and getattr(current, _ENDPOINT_ATTRIBUTE, None) == where:
        return parameters
    provider = _exact_secrets_provider()(boto3_client=client("secretsmanager"))
    setattr(provider, _ENDPOINT_ATTRIBUTE, where)
    _default_providers()[_PROVIDER] = provider
    return parameters


# -- webhook signing secrets: one per account, `<webhook prefix><account_id>`, a random string --------------

WEBHOOK_SECRET_TTL_S = 60
"""How long a receiver container trusts a cached signing secret before reading it again."""
_WEBHOOK_SECRET_BYTES = 32


def read_webhook_secret(prefix: str, account_id: str, *, fresh: bool = False) -> str | None:
    """The account's webhook signing secret (cached per container), or None when it has none.

    ``fresh`` reads past the cache (a signature that does not match the cached secret may be signed with
    a newer one). The error never contains the secret.
    """
    parameters = _use_provider()
    try:
        value = parameters.get_secret(
            secret_name(prefix, account_id), max_age=WEBHOOK_SECRET_TTL_S, force_fetch=fresh
        )
    except parameters.GetParameterError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ClientError) and cause.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise
    return value if isinstance(value, str) else bytes(value).decode()


def ensure_webhook_secret(prefix: str, account_id: str) -> str:
    """The account's webhook signing secret, created (random, 256 bits) when it has none.

    An existing secret is kept: SuperOffice signs with whatever it was given last, and a receiver
    container may hold the current one in its cache.
    """
    import secrets  # the standard library's; this module is named for Secrets Manager

    existing = read_webhook_secret(prefix, account_id, fresh=True)
    if existing is not None:
        return existing
    value = secrets.token_urlsafe(_WEBHOOK_SECRET_BYTES)
    try:
        client("secretsmanager").create_secret(
            Name=secret_name(prefix, account_id),
            SecretString=value,
            Description=f"Signs SuperOffice's webhook deliveries for account {account_id}",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceExistsException":
            raise
        # Created by a concurrent settings event: use that one.
        created = read_webhook_secret(prefix, account_id, fresh=True)
        if created is None:
            raise
        return created
    return value


def delete_webhook_secret(prefix: str, account_id: str) -> None:
    """Delete the account's signing secret at once (a webhook registered later gets a new one)."""
    try:
        client("secretsmanager").delete_secret(
            SecretId=secret_name(prefix, account_id), ForceDeleteWithoutRecovery=True
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
