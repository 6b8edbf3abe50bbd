"""The functions' environment, read once and typed at cold start.

A plain pydantic model filled from ``os.environ`` rather than pydantic-settings' ``BaseSettings``:
importing pydantic-settings costs ~60-160 ms of a cold start (it imports every settings source it
ships, the cloud vaults included), and these functions only ever read their own environment variables.
"""

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class FunctionConfig(BaseModel):
    """Environment variables every function gets from template.yaml (Globals).

    ``FunctionConfig()`` reads them from the environment (names case-insensitive, other variables
    ignored); keyword arguments override the environment, as with pydantic-settings.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    stage: str = "dev"
    table_name: str
    idempotency_table_name: str
    artifacts_bucket: str
    event_bus_name: str
    reconcile_queue_url: str
    """The bulk queue: imports, baselines, scheduled and requested runs (a fair queue per account)."""
    interactive_queue_url: str
    """Send-out check chunks and platform pushes, with workers of their own."""
    events_dlq_url: str
    secret_prefix: str = Field(description="Secrets Manager name prefix of the account credentials")
    #: ``arn:<partition>:secretsmanager:<region>:<aws account>:secret:<secret_prefix>``: the stack's own
    #: partition, region and AWS account (the template passes ``AWS::AccountId``, which Lambda does not
    #: set); an account's secret is this, its account id and Secrets Manager's suffix.
    secret_arn_prefix: str = Field(pattern=r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:")
    #: Whether settings may point at test endpoints: ``allow_insecure`` (plain http), a ``login_root``
    #: of their own, loopback or private hosts. Only the local stack and test stacks set it (the
    #: template's ``AllowTestEndpoints``, forced off in ``prod``); off, such settings are refused.
    allow_test_endpoints: bool = False
    stack_name: str = "consent-sync"
    """Names the account webhooks this deployment keeps in each SuperOffice tenant."""
    webhook_base_url: str | None = None
    """The webhook receiver's function URL (settings and scheduled sync only); unset: no webhooks."""
    webhook_secret_prefix: str
    """Secrets Manager name prefix of the accounts' webhook signing secrets."""
    webhook_pull_queue_url: str | None = None
    """Where the receiver queues the persons SuperOffice named (the receiver only)."""
    chunk_size: int = Field(default=200, ge=1, le=500)
    superoffice_requests_per_second: float = Field(default=10.0, gt=0)
    reconcile_max_receive_count: int = Field(default=3, ge=1)
    # A send-out check must answer within the reconcile function's time budget (120 s), SuperOffice or
    # not: each SuperOffice call of a check gives up after this long, retries included.
    presend_superoffice_timeout_s: float = Field(default=20.0, gt=0)

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**_from_environment(type(self), os.environ), **values})

    @field_validator("webhook_base_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        # The template passes "" when the stack's SuperOfficeWebhooks is off.
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _one_secret_prefix(self) -> Self:
        if not self.secret_arn_prefix.endswith(f":secret:{self.secret_prefix}"):
            raise ValueError("secret_arn_prefix must end in :secret:<secret_prefix>")
        return self


def _from_environment(model: type[BaseModel], environ: Mapping[str, str]) -> dict[str, str]:
    fields = model.model_fields
    return {key.lower(): value for key, value in environ.items() if key.lower() in fields}


@lru_cache(maxsize=1)
def get_config() -> FunctionConfig:
    """The configuration of this process (cached: the environment does not change within a container)."""
    return FunctionConfig()


# ---------------------------------------------------------------- tracing

_TRUE = ("1", "y", "yes", "t", "true", "on")
_FALSE = ("0", "n", "no", "f", "false", "off")


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process sends X-Ray traces: Powertools' own rule, decided from the environment.

    On, exactly when Powertools' ``Tracer()`` would be on: inside Lambda (``LAMBDA_TASK_ROOT`` set),
    not under SAM local or Chalice (``AWS_SAM_LOCAL``, ``AWS_CHALICE_CLI_MODE``), and not turned off by
    ``POWERTOOLS_TRACE_DISABLED`` (a truthy value; anything but a boolean word is an error, as there).
    """
    env = os.environ if environ is None else environ
    disabled = env.get("POWERTOOLS_TRACE_DISABLED", "false").lower()
    if disabled not in _TRUE + _FALSE:
        raise ValueError(f"POWERTOOLS_TRACE_DISABLED is not a boolean: {disabled!r}")
    if disabled in _TRUE:
        return False
    in_lambda = bool(env.get("LAMBDA_TASK_ROOT"))
    emulated = bool(env.get("AWS_SAM_LOCAL")) or bool(env.get("AWS_CHALICE_CLI_MODE"))
    return in_lambda and not emulated
