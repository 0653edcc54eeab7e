"""``shipyard endpoints create|list|describe|invoke|delete``; rollouts: ``update``,
``rollouts``, ``rollback``; async requests: ``invoke-async``, ``async-status``,
``async-list``, ``async-result``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from shipyard.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    console,
    handle_errors,
    print_json,
    print_record,
    print_table,
    resource_path,
    session,
    show_items,
)
from shipyard.cli.resources import add_collection_commands
from shipyard.core.errors import ValidationError
from shipyard.sdk.client import Session
from shipyard.sdk.serving import ASYNC_HEADERS, AsyncInference, Predictor
from shipyard.sdk.waiting import UnexpectedStatus

app = typer.Typer(
    help="Endpoints: real-time predictions from deployed models.", no_args_is_help=True
)
EndpointName = Annotated[str, typer.Argument(help="Endpoint name.", show_default=False)]
SHADOW_COLUMNS = ("shadow_variant", "requests", "shadow_errors", "agreement_rate",
                  "mean_absolute_difference", "production_p50_ms", "shadow_p50_ms",
                  "shadow_p99_ms")  # fmt: skip
FIELDS = (
    "name",
    "status",
    "failure_reason",
    "endpoint_config_name",
    "production_variants",
    "shadow_production_variants",
    "created_at",
)


@app.command()
@handle_errors
def create(
    name: EndpointName,
    model: Annotated[str | None, typer.Option(help="Model to serve (one variant).")] = None,
    variant: Annotated[
        list[str],
        typer.Option(
            "--variant", help="VARIANT=MODEL:WEIGHT (weight 1 if left out); repeatable, for A/B."
        ),
    ] = [],  # noqa: B006
    wait: Annotated[bool, typer.Option(help="Wait until InService.")] = True,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create an endpoint config (one variant for --model, or the --variant ones) and the
    endpoint, named NAME."""
    if (model is None) == (not variant):
        raise ValidationError("give --model, or one --variant or more", "--model")
    variants = [parse_variant(v) for v in variant] or [
        {"variant_name": "AllTraffic", "model_name": model}
    ]
    client = session(url, token)
    client.post("/api/v1/endpoint-configs", json={"name": name, "production_variants": variants})
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


ASYNC_FIELDS = (
    "inference_id",
    "status",
    "output_location",
    "failure_location",
    "failure_reason",
    "attempts",
    "created_at",
    "ended_at",
)
InferenceId = Annotated[str, typer.Argument(help="The inference id.", show_default=False)]


@app.command("invoke-async")
@handle_errors
def invoke_async(
    name: EndpointName,
    body: Annotated[str | None, typer.Option(help="Request body; '-' reads stdin.")] = None,
    file: Annotated[Path | None, typer.Option(help="Read the body from this file.")] = None,
    input_location: Annotated[
        str | None, typer.Option(help="A shipyard:// object holding the request, instead.")
    ] = None,
    content_type: Annotated[
        str, typer.Option(help="application/json or text/csv.")
    ] = "application/json",
    accept: Annotated[str, typer.Option(help="application/json or text/csv.")] = "application/json",
    inference_id: Annotated[
        str | None, typer.Option(help="Your id for it: the same id twice is one request.")
    ] = None,
    ttl: Annotated[
        int | None, typer.Option(help="Seconds it may wait to start (60-21600, default 21600).")
    ] = None,
    invocation_timeout: Annotated[
        int | None, typer.Option(help="Seconds its answer may take (1-3600, default 900).")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the answer and print it.")] = False,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Queue a request to an endpoint with an async_inference_config; print where its
    answer will be (or, with --wait, the answer)."""
    sources = [value for value in (body, file, input_location) if value is not None]
    if len(sources) != 1:
        raise ValidationError(
            "give one of --body, --body - (stdin), --file or --input-location", "body"
        )
    payload = b""
    if file is not None:
        payload = file.read_bytes()
    elif body == "-":
        payload = sys.stdin.buffer.read()
    elif body is not None:
        payload = body.encode()
    options = {
        ASYNC_HEADERS["inference_id"]: inference_id,
        ASYNC_HEADERS["request_ttl_seconds"]: ttl,
        ASYNC_HEADERS["invocation_timeout_seconds"]: invocation_timeout,
        ASYNC_HEADERS["input_location"]: input_location,
    }
    headers = {"Content-Type": content_type, "Accept": accept}
    headers.update({key: str(value) for key, value in options.items() if value is not None})
    client = session(url, token)
    accepted = client.request(
        "POST", resource_path("endpoints", name, "async-invocations"), content=payload,
        headers=headers,
    ).json()  # fmt: skip
    if not wait:
        print_json(accepted) if json_output else print_record(accepted, ASYNC_FIELDS)
        return
    inference = AsyncInference(name, accepted["inference_id"], session=client)
    with console.status(f"{accepted['inference_id']}: {accepted['status']}", spinner="dots"):
        inference.wait(timeout=None)
    _write_result(client, name, accepted["inference_id"])


@app.command("async-status")
@handle_errors
def async_status(
    name: EndpointName,
    inference_id: InferenceId,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Describe an async request: its status, attempts, locations and failure reason."""
    found = AsyncInference(name, inference_id, session=session(url, token)).describe()
    print_json(found) if json_output else print_record(found, ASYNC_FIELDS)


@app.command("async-list")
@handle_errors
def async_list(
    name: EndpointName,
    status: Annotated[
        str | None, typer.Option(help="Queued, InProgress, Completed, Failed or Expired.")
    ] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List an endpoint's async requests, newest first."""
    items = Predictor(name, session=session(url, token)).list_async_inferences(status)
    columns = ("inference_id", "status", "attempts", "created_at", "ended_at")
    show_items(items, columns, f"Async requests of {name}", json_output)


@app.command("async-result")
@handle_errors
def async_result(
    name: EndpointName,
    inference_id: InferenceId,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print the answer of a Completed async request (the failure document of a Failed or
    Expired one)."""
    _write_result(session(url, token), name, inference_id)


def _write_result(client: Session, name: str, inference_id: str) -> None:
    path = resource_path("endpoints", name, "async-invocations", inference_id, "result")
    sys.stdout.write(client.request("GET", path).text.rstrip("\n") + "\n")


add_collection_commands(
    app,
    collection="endpoints",
    noun="endpoint",
    fields=FIELDS,
    columns=("name", "status", "endpoint_config_name", "created_at"),
    delete_help="Delete an endpoint (its config and model stay).",
)


@app.command("shadow-report")
@handle_errors
def shadow_report(
    name: EndpointName, json_output: JsonOption = False, url: UrlOption = None,
    token: TokenOption = None,
) -> None:  # fmt: skip
    """How each shadow variant answered next to production in the last hour."""
    found = Predictor(name, session=session(url, token)).shadow_report()
    if json_output:
        print_json(found)
        return
    rows = [
        {
            **shadow,
            "production_p50_ms": shadow["production_latency_ms"]["p50"],
            "shadow_p50_ms": shadow["shadow_latency_ms"]["p50"],
            "shadow_p99_ms": shadow["shadow_latency_ms"]["p99"],
        }
        for shadow in found["shadows"]
    ]
    print_table(rows, SHADOW_COLUMNS, title=f"Shadows of {name}")


@app.command("promote-shadow")
@handle_errors
def promote_shadow(
    name: EndpointName,
    variant: Annotated[str, typer.Argument(help="The shadow variant.", show_default=False)],
    config: Annotated[str, typer.Option(help="Name of the endpoint config made for it.")],
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Make the shadow VARIANT the endpoint's only production variant, and wait for it."""
    predictor = Predictor(name, session=session(url, token))
    predictor.promote_shadow(variant, config)
    with console.status(f"{name}: Updating", spinner="dots"):
        description = predictor.wait()
    print_json(description) if json_output else print_record(description, FIELDS)


ROLLOUT_COLUMNS = (
    "rollout_id",
    "status",
    "from_endpoint_config_name",
    "to_endpoint_config_name",
    "traffic_percent",
    "started_at",
    "reason",
)
ROLLOUT_TABLE_COLUMNS = ("status", "to_endpoint_config_name", "traffic_percent", "reason")


@app.command()
@handle_errors
def update(
    name: EndpointName,
    config: Annotated[str, typer.Option(help="The endpoint config to move to.")],
    canary: Annotated[
        int | None, typer.Option(help="Canary: this percent of the traffic first, then the rest.")
    ] = None,
    linear: Annotated[
        int | None, typer.Option(help="Linear: steps of this percent of the traffic.")
    ] = None,
    wait_interval: Annotated[
        int, typer.Option(help="Seconds each traffic shift is held (baked) before the next.")
    ] = 0,
    termination_wait: Annotated[
        int, typer.Option(help="Seconds the old fleet is kept after the new one baked.")
    ] = 0,
    alarm: Annotated[
        list[str], typer.Option("--alarm", help="An alarm that rolls back; repeatable.")
    ] = [],  # noqa: B006
    wait: Annotated[bool, typer.Option(help="Wait until the rollout ends.")] = True,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Move endpoint NAME to --config by a blue/green rollout: all at once, --canary or
    --linear, each shift held --wait-interval seconds, rolled back if an --alarm fires."""
    deployment_config = _deployment_config(canary, linear, wait_interval, termination_wait, alarm)
    predictor = Predictor(name, session=session(url, token))
    rollout = predictor.update_endpoint(config, deployment_config, wait=False)
    if wait:
        with console.status(f"{name}: updating to {config}", spinner="dots") as status:

            def show(found: dict[str, Any]) -> None:
                shifted = f"{found['traffic_percent']:g}% to {config}"
                status.update(f"{name}: {found['status']}, {shifted}")

            try:
                rollout = predictor.wait_for_rollout(rollout["rollout_id"], on_poll=show)
            except UnexpectedStatus as exc:  # rolled back, failed or stopped: shown, exit 1
                rollout = exc.description
    print_json(rollout) if json_output else print_record(rollout, ROLLOUT_COLUMNS)
    if rollout["status"] in ("RolledBack", "Failed", "Stopped"):
        raise typer.Exit(1)


def _deployment_config(
    canary: int | None, linear: int | None, wait: int, termination: int, alarms: list[str]
) -> dict[str, Any]:
    if canary is not None and linear is not None:
        raise ValidationError("give --canary or --linear, not both", "--canary")
    routing: dict[str, Any] = {"type": "ALL_AT_ONCE", "wait_interval_in_seconds": wait}
    if canary is not None:
        routing |= {"type": "CANARY", "canary_size": {"type": "CAPACITY_PERCENT", "value": canary}}
    if linear is not None:
        routing |= {
            "type": "LINEAR",
            "linear_step_size": {"type": "CAPACITY_PERCENT", "value": linear},
        }
    config: dict[str, Any] = {
        "blue_green_update_policy": {
            "traffic_routing_configuration": routing,
            "termination_wait_in_seconds": termination,
        }
    }
    if alarms:
        config["auto_rollback_configuration"] = {"alarms": [{"alarm_name": a} for a in alarms]}
    return config


@app.command()
@handle_errors
def rollouts(
    name: EndpointName, json_output: JsonOption = False, url: UrlOption = None,
    token: TokenOption = None,
) -> None:  # fmt: skip
    """The endpoint's updates, newest first, with how each ended."""
    found = Predictor(name, session=session(url, token)).rollouts()
    if json_output:
        print_json(found)
        return
    print_table(found, ROLLOUT_TABLE_COLUMNS, title=f"Rollouts of {name}")


@app.command()
@handle_errors
def rollback(
    name: EndpointName, json_output: JsonOption = False, url: UrlOption = None,
    token: TokenOption = None,
) -> None:  # fmt: skip
    """Roll back the update going on (the traffic goes back to the old fleet at once),
    else go back to the config served before the last update."""
    description = Predictor(name, session=session(url, token)).rollback()
    print_json(description) if json_output else print_record(description, FIELDS)


def parse_variant(text: str) -> dict[str, Any]:
    """``champion=fraud-v3:0.7`` -> a production variant of weight 0.7."""
    variant_name, sep, rest = text.partition("=")
    model_name, _, weight = rest.partition(":")
    if not sep or not variant_name or not model_name:
        raise ValidationError(f"expected VARIANT=MODEL:WEIGHT, got {text!r}", "--variant")
    try:
        initial_weight = float(weight) if weight else 1.0
    except ValueError:
        raise ValidationError(f"the weight of {text!r} is not a number", "--variant") from None
    return {
        "variant_name": variant_name,
        "model_name": model_name,
        "initial_weight": initial_weight,
    }
