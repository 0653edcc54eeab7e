"""``shipyard pipelines …``: run a pipeline file from CI, and manage pipelines, their
executions, schedules and triggers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from shipyard.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    console,
    handle_errors,
    pairs,
    print_json,
    print_record,
    resource_path,
    session,
    show_items,
)
from shipyard.cli.resources import add_collection_commands
from shipyard.sdk.pipelines.pipeline import PipelineExecution, load_pipeline_file
from shipyard.sdk.waiting import UnexpectedStatus

app = typer.Typer(help="Pipelines: define, run, schedule and watch.", no_args_is_help=True)
schedules_app = typer.Typer(help="Cron schedules of a pipeline.", no_args_is_help=True)
triggers_app = typer.Typer(help="Data triggers: run when files land.", no_args_is_help=True)
app.add_typer(schedules_app, name="schedules")
app.add_typer(triggers_app, name="triggers")

PipelineFile = Annotated[
    Path, typer.Argument(help="A .py file that defines the pipeline.", show_default=False)
]
PipelineName = Annotated[str, typer.Argument(help="Pipeline name.", show_default=False)]
PartName = Annotated[str, typer.Argument(help="Its name.", show_default=False)]
ExecutionId = Annotated[str, typer.Argument(help="Execution id.", show_default=False)]
ParameterOption = Annotated[
    list[str] | None,
    typer.Option("--parameter", "-p", help="NAME=VALUE, repeatable.", show_default=False),
]
WaitOption = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Follow the execution until it ends.")
]
TimeoutOption = Annotated[
    float | None, typer.Option(help="Give up waiting after this many seconds.")
]
FIELDS = ("name", "description", "latest_version", "owner", "created_at", "last_modified_at")
EXECUTION_FIELDS = (
    "id",
    "pipeline_name",
    "pipeline_version",
    "status",
    "failure_reason",
    "parameters",
    "started_by",
    "trigger",
    "created_at",
    "ended_at",
)
STEP_COLUMNS = ("step_name", "step_type", "status", "attempts", "resource", "failure_reason")


@app.command()
@handle_errors
def run(
    file: PipelineFile,
    parameter: ParameterOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Upsert the pipeline FILE defines, start it and follow its steps; exit 1 unless it
    Succeeded (for CI)."""
    pipeline = load_pipeline_file(str(file), session(url, token))
    described = pipeline.upsert()
    execution = pipeline.start(pairs(parameter or [], "parameter"))
    if not json_output:
        console.print(
            f"Pipeline {described['name']} version {described['latest_version']}: "
            f"execution {execution.id}",
            highlight=False,
        )
    _follow(execution, wait, timeout, json_output)


@app.command()
@handle_errors
def upsert(
    file: PipelineFile,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create the pipeline FILE defines, or add a version when it changed."""
    described = load_pipeline_file(str(file), session(url, token)).upsert()
    print_json(described) if json_output else print_record(described, FIELDS)


@app.command()
@handle_errors
def start(
    name: PipelineName,
    parameter: ParameterOption = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Start an execution of the pipeline NAME."""
    client = session(url, token)
    body = {"parameters": pairs(parameter or [], "parameter")}
    started = client.post(resource_path("pipelines", name, "executions"), json=body)
    if not json_output:
        console.print(f"Execution {started['id']} started", highlight=False)
    _follow(PipelineExecution(name, started["id"], client), wait, timeout, json_output)


@app.command()
@handle_errors
def executions(
    name: PipelineName,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List the executions of the pipeline NAME, newest first."""
    items = session(url, token).list_all(resource_path("pipelines", name, "executions"))
    columns = ("id", "status", "pipeline_version", "trigger", "created_at", "ended_at")
    show_items(items, columns, f"Executions of {name}", json_output)


@app.command()
@handle_errors
def execution(
    name: PipelineName,
    execution_id: ExecutionId,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show one execution of the pipeline NAME and its steps."""
    described = PipelineExecution(name, execution_id, session(url, token)).describe()
    if json_output:
        print_json(described)
        return
    print_record(described, EXECUTION_FIELDS)
    show_items(
        described["steps"], STEP_COLUMNS, "Steps", False, rows=_step_rows(described["steps"])
    )


@app.command()
@handle_errors
def stop(
    name: PipelineName, execution_id: ExecutionId, url: UrlOption = None, token: TokenOption = None
) -> None:
    """Stop a running execution: its running steps are stopped, the rest skipped."""
    PipelineExecution(name, execution_id, session(url, token)).stop()


@app.command()
@handle_errors
def retry(
    name: PipelineName,
    execution_id: ExecutionId,
    wait: WaitOption = False,
    timeout: TimeoutOption = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Run the failed and skipped steps of a Failed or Stopped execution again."""
    execution = PipelineExecution(name, execution_id, session(url, token))
    execution.retry()
    _follow(execution, wait, timeout, json_output)


add_collection_commands(
    app,
    collection="pipelines",
    noun="pipeline",
    fields=FIELDS,
    columns=("name", "latest_version", "owner", "last_modified_at"),
)


# ---- schedules and triggers ---------------------------------------------------------------
@schedules_app.command("create")
@handle_errors
def create_schedule(
    pipeline: PipelineName,
    name: Annotated[str, typer.Option(help="Schedule name.", show_default=False)],
    cron: Annotated[
        str, typer.Option(help="Cron expression, e.g. '0 2 * * *'.", show_default=False)
    ],
    timezone: Annotated[str, typer.Option(help="Time zone of the cron expression.")] = "UTC",
    parameter: ParameterOption = None,
    missed_slots: Annotated[
        str, typer.Option(help="run-once: run the latest slot missed while down; skip: don't.")
    ] = "run-once",
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Run PIPELINE at every slot of a cron expression."""
    body = {
        "name": name,
        "cron": cron,
        "timezone": timezone,
        "parameters": pairs(parameter or [], "parameter"),
        "missed_slots": missed_slots,
    }
    made = session(url, token).post(resource_path("pipelines", pipeline, "schedules"), json=body)
    print_json(made) if json_output else print_record(made, tuple(made))


@triggers_app.command("create")
@handle_errors
def create_trigger(
    pipeline: PipelineName,
    name: Annotated[str, typer.Option(help="Trigger name.", show_default=False)],
    source: Annotated[
        str,
        typer.Option(help="shipyard:// prefix or local directory to watch.", show_default=False),
    ],
    parameter_name: Annotated[
        str | None, typer.Option(help="Parameter that receives the new file's URI.")
    ] = None,
    parameter: ParameterOption = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Run PIPELINE once for every new file under a source."""
    body = {
        "name": name,
        "source": source,
        "parameter_name": parameter_name,
        "parameters": pairs(parameter or [], "parameter"),
    }
    made = session(url, token).post(resource_path("pipelines", pipeline, "triggers"), json=body)
    print_json(made) if json_output else print_record(made, tuple(made))


def _add_part_commands(
    part_app: typer.Typer, part: str, noun: str, columns: tuple[str, ...]
) -> None:
    """``list PIPELINE`` and ``delete PIPELINE NAME`` for ``/pipelines/{name}/<part>``."""

    @part_app.command("list", help=f"List the {part} of PIPELINE.")
    @handle_errors
    def list_part(
        pipeline: PipelineName,
        json_output: JsonOption = False,
        url: UrlOption = None,
        token: TokenOption = None,
    ) -> None:
        items = session(url, token).get(resource_path("pipelines", pipeline, part))["items"]
        show_items(items, columns, f"{part.capitalize()} of {pipeline}", json_output)

    @part_app.command("delete", help=f"Delete a {noun} of PIPELINE.")
    @handle_errors
    def delete_part(
        pipeline: PipelineName, name: PartName, url: UrlOption = None, token: TokenOption = None
    ) -> None:
        session(url, token).delete(resource_path("pipelines", pipeline, part, name))


_add_part_commands(
    schedules_app,
    "schedules",
    "schedule",
    ("name", "cron", "timezone", "enabled", "last_slot_at", "next_slot_at"),
)
_add_part_commands(
    triggers_app, "triggers", "trigger", ("name", "source", "parameter_name", "enabled")
)


# ---- following an execution ---------------------------------------------------------------
def _follow(
    execution: PipelineExecution, wait: bool, timeout: float | None, json_output: bool
) -> None:
    """Print each step's progress until the execution ends; exit 1 unless it Succeeded."""
    if not wait:
        if json_output:
            print_json(execution.describe())
        return
    on_change = None if json_output else _print_step
    try:
        described = execution.wait(timeout=timeout, on_change=on_change)
    except UnexpectedStatus as exc:
        if json_output:
            print_json(exc.description)
        else:
            console.print(
                f"Execution {execution.id} {exc.description['status']}: "
                f"{exc.description.get('failure_reason')}",
                highlight=False,
                soft_wrap=True,
            )
        raise typer.Exit(1) from None
    if json_output:
        print_json(described)
    else:
        console.print(f"Execution {execution.id} Succeeded", highlight=False)


def _print_step(step: dict[str, Any]) -> None:
    if step["status"] == "NotStarted":
        return
    details = []
    if step.get("resource_name"):
        details.append(f"{step['resource_kind']} {step['resource_name']}")
    if step.get("cache_hit"):
        details.append(f"cached from {step['cached_from_execution']}")
    if step.get("failure_reason"):
        details.append(step["failure_reason"])
    suffix = f"  ({'; '.join(details)})" if details else ""
    console.print(
        f"  {step['step_name']:<24} {step['status']}{suffix}", highlight=False, soft_wrap=True
    )


def _step_rows(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **s,
            "resource": f"{s['resource_kind']} {s['resource_name']}"
            if s["resource_name"]
            else None,
        }
        for s in steps
    ]
