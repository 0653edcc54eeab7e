"""``shipyard endpoints create|list|describe|invoke|delete``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    console,
    handle_errors,
    print_json,
    print_record,
    resource_path,
    session,
)
from shipyard.cli.resources import add_collection_commands
from shipyard.core.errors import ValidationError
from shipyard.sdk.serving import Predictor

app = typer.Typer(
    help="Endpoints: real-time predictions from deployed models.", no_args_is_help=True
)
EndpointName = Annotated[str, typer.Argument(help="Endpoint name.", show_default=False)]
FIELDS = (
    "name",
    "status",
    "failure_reason",
    "endpoint_config_name",
    "production_variants",
    "created_at",
)


@app.command()
@handle_errors
def create(
    name: EndpointName,
    model: Annotated[str, typer.Option(help="Model to serve.")],
    wait: Annotated[bool, typer.Option(help="Wait until InService.")] = True,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create an endpoint config with one variant for MODEL, and the endpoint."""
    client = session(url, token)
    variant = {"variant_name": "AllTraffic", "model_name": model}
    client.post("/api/v1/endpoint-configs", json={"name": name, "production_variants": [variant]})
    client.post("/api/v1/endpoints", json={"name": name, "endpoint_config_name": name})
    predictor = Predictor(name, session=client)
    if wait:
        with console.status(f"{name}: Creating", spinner="dots"):
            description = predictor.wait()
    else:
        description = predictor.describe()
    print_json(description) if json_output else print_record(description, FIELDS)


@app.command()
@handle_errors
def invoke(
    name: EndpointName,
    body: Annotated[str | None, typer.Option(help="Request body; '-' reads stdin.")] = None,
    file: Annotated[Path | None, typer.Option(help="Read the body from this file.")] = None,
    content_type: Annotated[
        str, typer.Option(help="application/json or text/csv.")
    ] = "application/json",
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Send a request to an endpoint and print the response."""
    path = resource_path("endpoints", name, "invocations")
    if file is not None:
        payload = file.read_bytes()
    elif body == "-":
        payload = sys.stdin.buffer.read()
    elif body is not None:
        payload = body.encode()
    else:
        raise ValidationError("give --body, --body - (stdin) or --file", "body")
    response = session(url, token).request(
        "POST",
        path,
        content=payload,
        headers={"Content-Type": content_type, "Accept": "application/json"},
    )
    sys.stdout.write(response.text + "\n")


add_collection_commands(
    app,
    collection="endpoints",
    noun="endpoint",
    fields=FIELDS,
    columns=("name", "status", "endpoint_config_name", "created_at"),
    delete_help="Delete an endpoint (its config and model stay).",
)
