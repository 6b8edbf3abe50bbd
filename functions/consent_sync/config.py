"""The functions' environment, read once and typed at cold start."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FunctionConfig(BaseSettings):
    """Environment variables every function gets from template.yaml (Globals)."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    stage: str = "dev"
    table_name: str
    idempotency_table_name: str
    artifacts_bucket: str
    event_bus_name: str
    reconcile_queue_url: str
    events_dlq_url: str
    secret_prefix: str = Field(description="Secrets Manager name prefix of the account credentials")
    chunk_size: int = Field(default=200, ge=1, le=500)
    superoffice_requests_per_second: float = Field(default=5.0, gt=0)
    reconcile_max_receive_count: int = Field(default=3, ge=1)
    # A send-out check must answer within the reconcile function's time budget (120 s), SuperOffice or
    # not: each SuperOffice call of a check gives up after this long, retries included.
    presend_superoffice_timeout_s: float = Field(default=20.0, gt=0)


@lru_cache(maxsize=1)
def get_config() -> FunctionConfig:
    """The configuration of this process (cached: the environment does not change within a container)."""
    return FunctionConfig()
