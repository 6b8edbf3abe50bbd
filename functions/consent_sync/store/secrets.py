"""Account credentials in Secrets Manager: one JSON secret per account, named `<prefix><account_id>`.

Read through Powertools' parameters utility (``get_secret(…, transform="json", max_age=…)``), which
caches each secret per container. Its provider is built on this package's Secrets Manager client
(:func:`consent_sync.store.aws.client`, so ``AWS_ENDPOINT_URL`` is honoured: moto locally) and kept in
Powertools' registry of default providers, which is what ``get_secret`` reads from. That registry lives
in the Powertools package, not here, so :func:`forget_credentials` reaches every copy of this module a
process holds (the local runtime imports each function's code privately; Powertools is shared).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
from botocore.exceptions import ClientError

from consent_sync.store.aws import client, endpoint


class CredentialsUnavailable(RuntimeError):
    """The account's secret could not be read (missing, not JSON, or access denied)."""


def secret_name(prefix: str, account_id: str) -> str:
    """The name of an account's secret."""
    return f"{prefix}{account_id}"


def arn_is_under(arn: str, prefix: str) -> bool:
    """True when a secret ARN names a secret under `prefix` (the only ones the functions may read)."""
    _, _, name = arn.partition(":secret:")
    return name.startswith(prefix)


# Every reconcile chunk needs its account's credentials; a warm container keeps them this long, so a
# rotated secret is picked up within that time.
CREDENTIALS_TTL_S = 300

_PROVIDER = "secrets"  # Powertools' key for the provider get_secret uses
_ENDPOINT_ATTRIBUTE = "consent_sync_endpoint"  # marks a provider built here, with the endpoint it is for


def read_credentials(arn: str) -> dict[str, Any]:
    """The credentials stored in a secret (cached per container for `CREDENTIALS_TTL_S`).

    The error never contains the secret's value.
    """
    _use_provider()
    try:
        data = parameters.get_secret(arn, transform="json", max_age=CREDENTIALS_TTL_S)
    except parameters.TransformParameterError as exc:
        raise CredentialsUnavailable("the credentials secret is not a JSON object") from exc
    except parameters.GetParameterError as exc:
        # Powertools wraps the SDK's error in its own (chained, not as the cause); the SDK's is the news.
        cause = exc.__cause__ or exc.__context__
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
    provider = DEFAULT_PROVIDERS.get(_PROVIDER)
    if provider is not None:
        provider.clear_cache()


def _use_provider() -> None:
    """Make Powertools' secrets provider the one for this process's Secrets Manager endpoint."""
    where = endpoint()
    current = DEFAULT_PROVIDERS.get(_PROVIDER)
    if current is not None and getattr(current, _ENDPOINT_ATTRIBUTE, None) == where:
        return
    provider = parameters.SecretsProvider(boto3_client=client("secretsmanager"))
    setattr(provider, _ENDPOINT_ATTRIBUTE, where)
    DEFAULT_PROVIDERS[_PROVIDER] = provider
