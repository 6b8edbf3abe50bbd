"""Opening the SuperOffice client of an account: its connection from the settings, its credentials
from Secrets Manager, its request rate from the settings or the stack's default, paced by the
tenant's budget shared with every other worker (`store.budget`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError

from consent_sync.config import FunctionConfig
from consent_sync.domain.settings import AccountSettings, SuperOfficeCredentials
from consent_sync.store.budget import SharedBudget
from consent_sync.store.secrets import CredentialsUnavailable, read_credentials

if TYPE_CHECKING:
    from consent_sync.superoffice import RetryPolicy, SuperOfficeClient


def open_superoffice(
    settings: AccountSettings,
    config: FunctionConfig,
    *,
    timeout_s: float | None = None,
    retry: RetryPolicy | None = None,
) -> SuperOfficeClient:
    """A client for the account's tenant; close it (``with``) when the work is done.

    Raises ``ValueError`` for an account that may not call SuperOffice (integration ``none``), and
    :class:`CredentialsUnavailable` when the secret cannot be read or does not hold credentials.
    """
    # Imported here: the client (and httpx, when it opens) is loaded by the first call that needs one,
    # not by every function whose flows can open one.
    from consent_sync.superoffice.client import SuperOfficeClient

    if not settings.talks_to_superoffice or settings.superoffice is None:
        raise ValueError(f"account {settings.account_id!r} does not call SuperOffice (integration none)")
    superoffice = settings.superoffice
    try:
        credentials = SuperOfficeCredentials.model_validate(
            read_credentials(superoffice.credentials_secret_arn)
        )
    except ValidationError:
        # The validation error would name fields only, but say less: it is about a secret.
        raise CredentialsUnavailable("the credentials secret does not hold SuperOffice credentials") from None
    rate = superoffice.requests_per_second or config.superoffice_requests_per_second
    connection = superoffice.connection()
    # One budget per tenant for every worker of the deployment, so concurrency can grow with the
    # number of tenants while no tenant receives more than its rate (and a 429 holds them all).
    budget = SharedBudget(config.table_name, connection.tenant_key, rate)
    if timeout_s is None:
        return SuperOfficeClient.open(
            connection, credentials, requests_per_second=rate, rate_limiter=budget, retry=retry
        )
    # A bound on each call, retries included: a send-out check passes a shorter one.
    return SuperOfficeClient.open(
        connection,
        credentials,
        requests_per_second=rate,
        rate_limiter=budget,
        timeout_s=timeout_s,
        retry=retry,
    )
