"""A fixture-template stack shared by the runtime tests of this folder."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.local import LocalStack, local_stack

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    # Moto's state is per process: a unique stack name keeps this stack apart from any other one.
    with local_stack(
        template=FIXTURE_TEMPLATE,
        port=0,
        stack_name=f"fx-{uuid.uuid4().hex[:8]}",
        failed_visibility_timeout_s=0,
    ) as running:
        yield running


@pytest.fixture
def aws(stack: LocalStack) -> Any:
    """boto3 clients on the stack's endpoint, by service name."""

    def make(service: str) -> Any:
        return boto3.client(service, endpoint_url=stack.endpoint_url, region_name=stack.template.region)

    return make
