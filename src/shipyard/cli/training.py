"""``shipyard training create|list|describe|logs|metrics|stop``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shipyard.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    console,
    handle_errors,
    print_json,
    print_record,
    print_table,
    session,
)
from shipyard.core.errors import ValidationError
from shipyard.sdk.training import FINAL_STATUSES, Estimator, TrainingJob
from shipyard.sdk.waiting import LogFollower

app = typer.Typer(
    help="Training jobs: built-in algorithms or your own script.", no_args_is_help=True
)
JobName = Annotated[str, typer.Argument(help="Training job name.", show_default=False)]

LIST_COLUMNS = ("name", "status", "algorithm", "created_at", "ended_at")
DESCRIBE_FIELDS = (
    "name", "status", "secondary_status", "failure_reason", "algorithm", "entry_point",
    "hyperparameters", "channels", "target", "resources", "final_metrics", "model_artifacts",
    "created_at", "started_at", "ended_at",
)  # fmt: skip


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key:
            raise ValidationError(f"expected KEY=VALUE, got {value!r}", option)
        pairs[key] = item
    return pairs


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@app.command()
@handle_errors
def create(
    channel: Annotated[
        list[str], typer.Option("--channel", "-c", help="NAME=PATH_OR_URI, repeatable.")
    ],
    name: Annotated[str | None, typer.Option(help="Job name (default: generated).")] = None,
    algorithm: Annotated[str | None, typer.Option(help="Built-in algorithm, e.g. xgboost.")] = None,
    entry_point: Annotated[str | None, typer.Option(help="Script to run (script mode).")] = None,
    source_dir: Annotated[Path | None, typer.Option(help="Directory holding the script.")] = None,
    target: Annotated[str | None, typer.Option(help="Target column.")] = None,
    hyperparameter: Annotated[list[str], typer.Option("--hp", help="NAME=VALUE, repeatable.")] = [],  # noqa: B006
    metric: Annotated[
        list[str], typer.Option("--metric", help="NAME=REGEX metric definition.")
    ] = [],  # noqa: B006
    cpu_count: Annotated[int | None, typer.Option(help="CPUs for the job.")] = None,
    memory_limit_mb: Annotated[int | None, typer.Option(help="Memory limit in MB.")] = None,
    max_runtime_seconds: Annotated[int, typer.Option(help="Stop the job after this long.")] = 86400,
    wait: Annotated[bool, typer.Option(help="Wait for the job to end.")] = True,
    logs: Annotated[bool, typer.Option(help="Stream the job's logs while waiting.")] = False,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create a training job; by default wait for it with a progress display."""
    resources = {
        k: v for k, v in {"cpu_count": cpu_count, "memory_limit_mb": memory_limit_mb}.items() if v
    }
    estimator = Estimator(
        algorithm,
        entry_point=entry_point,
        source_dir=source_dir,
        target=target,
        hyperparameters={k: _parse_value(v) for k, v in _pairs(hyperparameter, "--hp").items()},
        resources=resources,
        max_run=max_runtime_seconds,
        metric_definitions=[{"name": k, "regex": v} for k, v in _pairs(metric, "--metric").items()],
        session=session(url, token),
    )
    job = estimator.fit(_pairs(channel, "--channel"), wait=False, job_name=name)
    description = _wait(job, logs=logs, quiet=json_output) if wait else job.describe()
    _show(description, json_output)
    if description["status"] in ("Failed", "Stopped"):
        raise typer.Exit(1)


def _wait(job: TrainingJob, *, logs: bool, quiet: bool) -> dict[str, Any]:
    follower = LogFollower(job.logs) if logs else None
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=console, transient=True, disable=quiet,
    ) as progress:  # fmt: skip
        task = progress.add_task(f"{job.name}: Pending", total=None)
        while True:
            description = job.describe()
            progress.update(task, description=f"{job.name}: {description['secondary_status']}")
            if follower is not None:
                follower()
            if description["status"] in FINAL_STATUSES:
                if follower is not None:
                    follower()
                return description
            time.sleep(0.5)


def _show(description: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(description)
    else:
        print_record(description, DESCRIBE_FIELDS)


@app.command("list")
@handle_errors
def list_jobs(
    status: Annotated[str | None, typer.Option(help="Only jobs in this status.")] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List training jobs, newest first."""
    items = session(url, token).list_all("/api/v1/training-jobs", status=status)
    if json_output:
        print_json(items)
    else:
        print_table(items, LIST_COLUMNS, title="Training jobs")


@app.command()
@handle_errors
def describe(
    name: JobName, json_output: JsonOption = False, url: UrlOption = None, token: TokenOption = None
) -> None:
    """Show a training job: status, hyperparameters, final metrics, artifacts."""
    _show(TrainingJob(name, session(url, token)).describe(), json_output)


@app.command()
@handle_errors
def logs(
    name: JobName,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print a training job's log."""
    job = TrainingJob(name, session(url, token))
    follower = LogFollower(job.logs)
    follower()
    while follow and job.describe()["status"] not in FINAL_STATUSES:
        time.sleep(0.5)
        follower()
    follower()


@app.command()
@handle_errors
def metrics(
    name: JobName,
    metric_name: Annotated[str | None, typer.Option("--name", help="Only this metric.")] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print a training job's metric time series."""
    points = TrainingJob(name, session(url, token)).metrics(metric_name)
    if json_output:
        print_json(points)
    else:
        print_table(points, ("name", "step", "value", "timestamp"), title=f"Metrics of {name}")


@app.command()
@handle_errors
def stop(
    name: JobName, json_output: JsonOption = False, url: UrlOption = None, token: TokenOption = None
) -> None:
    """Stop a running training job."""
    _show(TrainingJob(name, session(url, token)).stop(), json_output)
