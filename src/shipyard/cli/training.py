"""``shipyard training create|list|describe|logs|metrics|stop``."""

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
    parse_value,
    print_json,
    print_record,
    print_table,
    session,
)
from shipyard.cli.jobs import (
    add_list_command,
    add_logs_command,
    exit_if_failed_or_stopped,
    wait_with_progress,
)
from shipyard.core.errors import ValidationError
from shipyard.sdk.training import Estimator, TrainingJob

app = typer.Typer(
    help="Training jobs: built-in algorithms or your own script.", no_args_is_help=True
)
JobName = Annotated[str, typer.Argument(help="Training job name.", show_default=False)]

LIST_COLUMNS = ("name", "status", "algorithm", "created_at", "ended_at")
DESCRIBE_FIELDS = (
    "name", "status", "secondary_status", "failure_reason", "algorithm", "entry_point",
    "hyperparameters", "channels", "target", "resources", "final_metrics", "model_artifacts",
    "created_at", "started_at", "ended_at", "debugger_rule_evaluation_statuses",
)  # fmt: skip


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
    cpu_count: Annotated[int | None, typer.Option(help="CPUs per instance.")] = None,
    instance_count: Annotated[
        int | None, typer.Option(help="Run the script as this many data-parallel ranks.")
    ] = None,
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
        hyperparameters={k: parse_value(v) for k, v in pairs(hyperparameter, "--hp").items()},
        resources=resources,
        instance_count=instance_count,
        max_run=max_runtime_seconds,
        metric_definitions=[{"name": k, "regex": v} for k, v in pairs(metric, "--metric").items()],
        session=session(url, token),
    )
    job = estimator.fit(pairs(channel, "--channel"), wait=False, job_name=name)
    description = wait_with_progress(job, logs=logs, quiet=json_output) if wait else job.describe()
    _show(description, json_output)
    exit_if_failed_or_stopped(description)


def _show(description: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(description)
    else:
        statuses = _rule_statuses(description.get("debugger_rule_evaluation_statuses") or [])
        print_record(
            {**description, "debugger_rule_evaluation_statuses": statuses}, DESCRIBE_FIELDS
        )


def _rule_statuses(statuses: list[dict[str, Any]]) -> str | None:
    """One line per debugger rule: its name, status, step and details."""
    lines = []
    for status in statuses:
        at = f" at step {status['step']}" if status.get("step") is not None else ""
        lines.append(
            f"{status['rule_configuration_name']}: {status['rule_evaluation_status']}{at}"
            f" ({status['status_details']})"
        )
    return "\n".join(lines) or None


add_list_command(app, collection="training-jobs", columns=LIST_COLUMNS)


@app.command()
@handle_errors
def describe(
    name: JobName, json_output: JsonOption = False, url: UrlOption = None, token: TokenOption = None
) -> None:
    """Show a training job: status, hyperparameters, final metrics, artifacts."""
    _show(TrainingJob(name, session(url, token)).describe(), json_output)


add_logs_command(app, TrainingJob)


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
def plot(
    name: JobName,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="PNG file (default: NAME-curves.png).")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Write a PNG of a training job's per-iteration curves: a panel per metric, a line
    per channel (train, validation)."""
    curves = TrainingJob(name, session(url, token)).curves()
    if not curves:
        raise ValidationError(
            f"training job {name} has no per-iteration metrics to plot (boosters and "
            "scripts that log with a step have them)",
            "name",
        )
    target = output or Path(f"{name}-curves.png")
    write_curves_png(name, curves, target)
    console.print(f"wrote {target}", soft_wrap=True, highlight=False)  # a path to copy: one line


def write_curves_png(
    title: str, curves: dict[str, dict[str, tuple[list[int], list[float]]]], target: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(
        len(curves), 1, figsize=(8, 3 * len(curves)), squeeze=False, sharex=True
    )
    for panel, (metric, channels) in zip(axes[:, 0], sorted(curves.items()), strict=True):
        for channel, (steps, values) in sorted(channels.items()):
            panel.plot(steps, values, label=channel)
        panel.set_ylabel(metric)
        panel.grid(alpha=0.3)
        panel.legend(loc="best")
    axes[-1, 0].set_xlabel("iteration")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(target, dpi=100)
    pyplot.close(figure)


@app.command()
@handle_errors
def stop(
    name: JobName, json_output: JsonOption = False, url: UrlOption = None, token: TokenOption = None
) -> None:
    """Stop a running training job."""
    _show(TrainingJob(name, session(url, token)).stop(), json_output)
