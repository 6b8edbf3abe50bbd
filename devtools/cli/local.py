"""`consent-sync local`: the local stack (moto and the event routing of template.yaml) in the foreground,
and the `env.json` with which `sam local invoke` reaches it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from devtools.cli.output import out

app = typer.Typer(help="The local stack: moto + event routing from template.yaml.", no_args_is_help=True)


@app.command("up")
def local_up(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port of the local AWS endpoint.")] = 4566,
    template: Annotated[Path, typer.Option(help="The SAM template to run.")] = Path("template.yaml"),
    schedule_period: Annotated[
        float | None, typer.Option(help="Fire the 30-minute schedule every N seconds instead.")
    ] = None,
) -> None:
    """Start moto, create every resource of template.yaml, and route events to the handlers (foreground)."""
    from devtools.local import up

    up(port=port, template=template, stack_name=ctx.obj, schedule_period_s=schedule_period)


@app.command("env-json")
def local_env_json(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option(help="Where to write it ('-': stdout).")] = Path("env.json"),
    container_endpoint: Annotated[
        str, typer.Option(help="The local stack as a container reaches it (the host's address, its port).")
    ] = "http://host.docker.internal:4566",
    template: Annotated[Path, typer.Option(help="The SAM template `local up` runs.")] = Path("template.yaml"),
) -> None:
    """Write the --env-vars file of `sam local invoke`: every function's variables as `local up` sets them."""
    import json
    import os

    from devtools.local.env_json import env_vars

    document = env_vars(
        template,
        stack_name=ctx.obj,
        region=os.environ["AWS_DEFAULT_REGION"],
        endpoint_url=container_endpoint,
    )
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if str(output) == "-":
        print(text, end="")
        return
    output.write_text(text)
    out.print(
        f"wrote {output}: {len(document)} functions; AWS_ENDPOINT_URL={container_endpoint}",
        highlight=False,
        soft_wrap=True,
    )
