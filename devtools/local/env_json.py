"""The `--env-vars` file of `sam local invoke`, so a function SAM runs in Docker reaches `local up`.

SAM resolves a function's environment only partly: a variable filled from a resource (`!Ref`,
`!GetAtt`, a `!Sub` naming one) reaches the container as the resource's logical id, and SAM overrides
only the variables the template declares. This file gives every declared variable of every function
the value the local stack itself gives it (the same template reader, stack name and region as
`local up`), with `AWS_ENDPOINT_URL` and the queue URLs pointing at the host as a container sees it.
"""

from __future__ import annotations

from pathlib import Path

from devtools.local.sam import read_routing
from devtools.local.template import Template

DEFAULT_CONTAINER_ENDPOINT = "http://host.docker.internal:4566"
"""The local stack's endpoint as Docker Desktop's containers reach the host (Linux: the bridge's
gateway, e.g. ``http://172.17.0.1:4566``, or ``--add-host host.docker.internal:host-gateway``)."""


def env_vars(
    template: Path, *, stack_name: str, region: str, endpoint_url: str = DEFAULT_CONTAINER_ENDPOINT
) -> dict[str, dict[str, str]]:
    """Function logical id → its environment variables, resolved as the local stack resolves them.

    Queue URLs are built on ``endpoint_url``, as moto hands them out to a client on that address.
    """
    loaded = Template.load(
        template, stack_name=stack_name, region=region, endpoint_url=endpoint_url, local_defaults=True
    )
    return {
        logical_id: {**spec.environment, "AWS_ENDPOINT_URL": loaded.endpoint_url or endpoint_url}
        for logical_id, spec in sorted(read_routing(loaded).functions.items())
    }
