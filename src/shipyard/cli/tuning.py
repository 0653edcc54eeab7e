"""``shipyard tuning create|list|describe|stop``: hyperparameter tuning jobs."""

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
    pairs,
    parse_value,
    print_json,
    print_record,
    print_table,
    session,
    show_items,
)
from shipyard.core.errors import ValidationError
from shipyard.sdk.client import Session
from shipyard.sdk.training import Estimator
from shipyard.sdk.tuning import (
    TUNING_FINAL_STATUSES,
    CategoricalParameter,
    ContinuousParameter,
    HyperparameterTuner,
    IntegerParameter,
    ParameterRange,
    TuningJob,
    WarmStartConfig,
)

app = typer.Typer(
    help="Hyperparameter tuning jobs: many training jobs toward one objective.",
    no_args_is_help=True,
)
TuningName = Annotated[str, typer.Argument(help="Tuning job name.", show_default=False)]
Repeated = list[str]

LIST_COLUMNS = ("name", "status", "strategy", "best", "trials", "created_at")
DESCRIBE_FIELDS = (
    "name", "status", "failure_reason", "completion_reason", "strategy", "objective",
    "limits", "early_stopping", "best_training_job", "best_objective", "counters",
    "created_at", "ended_at",
)  # fmt: skip
TRIAL_COLUMNS = (  # the name first: the first column is never cut, so it can be copied
    "training_job_name", "training_job_status", "final_objective_value", "early_stopped",
    "tuned_hyperparameters",
)  # fmt: skip


@app.command()
@handle_errors
def create(
    channel: Annotated[
        Repeated, typer.Option("--channel", "-c", help="NAME=PATH_OR_URI, repeatable.")
    ] = [],  # noqa: B006
    objective: Annotated[
        str | None, typer.Option(help="Objective metric, e.g. validation:auc.")
    ] = None,
    objective_type: Annotated[str, typer.Option(help="Maximize or Minimize.")] = "Maximize",
    continuous: Annotated[Repeated, typer.Option(help="NAME=MIN:MAX[:SCALING], repeatable.")] = [],  # noqa: B006
    integer: Annotated[Repeated, typer.Option(help="NAME=MIN:MAX[:SCALING], repeatable.")] = [],  # noqa: B006
    categorical: Annotated[Repeated, typer.Option(help="NAME=VALUE,VALUE,..., repeatable.")] = [],  # noqa: B006
    name: Annotated[str | None, typer.Option(help="Tuning job name (default: generated).")] = None,
    algorithm: Annotated[str | None, typer.Option(help="Built-in algorithm, e.g. xgboost.")] = None,
    entry_point: Annotated[str | None, typer.Option(help="Script to run (script mode).")] = None,
    source_dir: Annotated[Path | None, typer.Option(help="Directory holding the script.")] = None,
    target: Annotated[str | None, typer.Option(help="Target column.")] = None,
    hyperparameter: Annotated[
        Repeated, typer.Option("--hp", help="Static NAME=VALUE, repeatable.")
    ] = [],  # noqa: B006
    metric: Annotated[
        Repeated, typer.Option("--metric", help="NAME=REGEX metric definition.")
    ] = [],  # noqa: B006
    strategy: Annotated[
        str, typer.Option(help="Bayesian, Random, Grid or Hyperband.")
    ] = "Bayesian",
    max_jobs: Annotated[int | None, typer.Option(help="Training jobs in all.")] = None,
    max_parallel_jobs: Annotated[int, typer.Option(help="Training jobs at once.")] = 1,
    early_stopping: Annotated[str, typer.Option(help="Off or Auto.")] = "Off",
    seed: Annotated[int, typer.Option(help="Random seed of the search.")] = 0,
    cpu_count: Annotated[int | None, typer.Option(help="CPUs per training job.")] = None,
    warm_start_from: Annotated[Repeated, typer.Option(help="Parent tuning job, repeatable.")] = [],  # noqa: B006
    warm_start_type: Annotated[
        str, typer.Option(help="IdenticalDataAndAlgorithm or TransferLearning.")
    ] = "IdenticalDataAndAlgorithm",
    config: Annotated[
        Path | None,
        typer.Option(help="A whole CreateHyperParameterTuningJob request as JSON (overrides)."),
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the tuning job to end.")] = True,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create a tuning job; by default wait for it, showing the trials' progress."""
    client = session(url, token)
    if config is not None:
        job = _create_from_file(client, config, name)
    else:
        if objective is None:
            raise ValidationError("required (or give --config)", "--objective")
        estimator = Estimator(
            algorithm,
            entry_point=entry_point,
            source_dir=source_dir,
            target=target,
            hyperparameters={k: parse_value(v) for k, v in pairs(hyperparameter, "--hp").items()},
            resources={"cpu_count": cpu_count} if cpu_count else {},
            metric_definitions=[
                {"name": k, "regex": v} for k, v in pairs(metric, "--metric").items()
            ],
            session=client,
        )
        tuner = HyperparameterTuner(
            estimator,
            objective,
            _ranges(continuous, integer, categorical),
            objective_type=objective_type,
            strategy=strategy,
            max_jobs=max_jobs,
            max_parallel_jobs=max_parallel_jobs,
            early_stopping_type=early_stopping,
            random_seed=seed,
            warm_start_config=(
                WarmStartConfig(warm_start_type, warm_start_from) if warm_start_from else None
            ),
        )
        job = tuner.fit(pairs(channel, "--channel"), job_name=name, wait=False)
    description = _wait(job, quiet=json_output) if wait else job.describe()
    _show(description, job, json_output)
    if description["status"] in ("Failed", "Stopped"):
        raise typer.Exit(1)


def _create_from_file(client: Session, path: Path, name: str | None) -> TuningJob:
    try:
        request = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path} is not valid JSON ({exc})", "--config") from None
    if not isinstance(request, dict):
        raise ValidationError(f"{path} must hold a JSON object", "--config")
    if name is not None:
        request["name"] = name
    client.post("/api/v1/tuning-jobs", json=request)
    return TuningJob(str(request.get("name")), client)


def _ranges(
    continuous: list[str], integer: list[str], categorical: list[str]
) -> dict[str, ParameterRange]:
    ranges: dict[str, ParameterRange] = {}
    for key, text in pairs(continuous, "--continuous").items():
        low, high, scaling = _bounds(text, "--continuous", float)
        ranges[key] = ContinuousParameter(low, high, scaling)
    for key, text in pairs(integer, "--integer").items():
        low, high, scaling = _bounds(text, "--integer", int)
        ranges[key] = IntegerParameter(int(low), int(high), scaling)
    for key, text in pairs(categorical, "--categorical").items():
        ranges[key] = CategoricalParameter([parse_value(v) for v in text.split(",") if v])
    return ranges


def _bounds(text: str, option: str, kind: type) -> tuple[Any, Any, str]:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise ValidationError(f"expected NAME=MIN:MAX[:SCALING], got {text!r}", option)
    try:
        low, high = kind(parts[0]), kind(parts[1])
    except ValueError:
        raise ValidationError(
            f"MIN and MAX must be {kind.__name__}s, got {text!r}", option
        ) from None
    return low, high, parts[2] if len(parts) == 3 else "Auto"


def _wait(job: TuningJob, *, quiet: bool) -> dict[str, Any]:
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=console, transient=True, disable=quiet,
    ) as progress:  # fmt: skip
        task = progress.add_task(f"{job.name}: InProgress", total=None)
        while True:
            description = job.describe()
            counters = description["training_job_status_counters"]
            done = sum(counters[k] for k in ("completed", "early_stopped", "stopped", "failed"))
            limit = description["hyperparameter_tuning_job_config"]["resource_limits"]
            progress.update(
                task,
                description=(
                    f"{job.name}: {description['status']}, {done} of "
                    f"{limit['max_number_of_training_jobs']} trials ended"
                ),
            )
            if description["status"] in TUNING_FINAL_STATUSES:
                return description
            time.sleep(0.5)


def _summary(description: dict[str, Any]) -> dict[str, Any]:
    config = description["hyperparameter_tuning_job_config"]
    best = description["best_training_job"] or {}
    counters = description["training_job_status_counters"]
    return {
        **description,
        "strategy": config["strategy"],
        "objective": f"{config['objective']['type']} {config['objective']['metric_name']}",
        "limits": config["resource_limits"],
        "early_stopping": config["training_job_early_stopping_type"],
        "best_training_job": best.get("training_job_name"),
        "best_objective": best.get("final_objective_value"),
        "best": best.get("final_objective_value"),
        "counters": {k: v for k, v in counters.items() if v},
        "trials": sum(counters.values()),
    }


def _show(description: dict[str, Any], job: TuningJob, json_output: bool) -> None:
    if json_output:
        print_json(description)
        return
    print_record(_summary(description), DESCRIBE_FIELDS)
    print_table(job.training_jobs(), TRIAL_COLUMNS, title="Trials")


@app.command("list")
@handle_errors
def list_jobs(
    status: Annotated[str | None, typer.Option(help="Only tuning jobs in this status.")] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List tuning jobs, newest first."""
    items = session(url, token).list_all("/api/v1/tuning-jobs", status=status)
    show_items(items, LIST_COLUMNS, "Tuning jobs", json_output, [_summary(i) for i in items])


@app.command()
@handle_errors
def describe(
    name: TuningName,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show a tuning job: status, best training job, and every trial."""
    job = TuningJob(name, session(url, token))
    _show(job.describe(), job, json_output)


@app.command()
@handle_errors
def stop(
    name: TuningName,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Stop a tuning job and its running trials."""
    job = TuningJob(name, session(url, token))
    description = job.stop()
    if json_output:
        print_json(description)
    else:
        console.print(f"stopping tuning job {name}; its running trials are being stopped")
