"""``shipyard transform create|list|describe|stop``: batch predictions over files."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shipyard.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    handle_errors,
    print_json,
    print_record,
    session,
)
from shipyard.cli.jobs import add_list_command, exit_if_failed_or_stopped, wait_with_progress
from shipyard.sdk.transform import Transformer, TransformJob

app = typer.Typer(help="Batch transform jobs: predictions over files.", no_args_is_help=True)
JobName = Annotated[str, typer.Argument(help="Transform job name.", show_default=False)]

LIST_COLUMNS = ("name", "status", "model_name", "records_processed", "created_at")
DESCRIBE_FIELDS = (
    "name", "status", "secondary_status", "failure_reason", "model_name", "input", "accept",
    "output_uri", "files", "records_processed", "batch_strategy", "max_concurrent_transforms",
    "max_payload_mb", "created_at", "started_at", "ended_at",
)  # fmt: skip


@app.command()
@handle_errors
def create(
    model: Annotated[str, typer.Option(help="The model to predict with.", show_default=False)],
    data: Annotated[
        str,
        typer.Option(
            help="A local file, dataset name, or shipyard:// file or prefix.", show_default=False
        ),
    ],
    name: Annotated[str | None, typer.Option(help="Job name (default: generated).")] = None,
    content_type: Annotated[
        str, typer.Option(help="text/csv, application/jsonlines or application/x-parquet.")
    ] = "text/csv",
    split_type: Annotated[str, typer.Option(help="Line (each line a record) or None.")] = "Line",
    accept: Annotated[str, typer.Option(help="text/csv or application/jsonlines.")] = "text/csv",
    strategy: Annotated[str, typer.Option(help="MultiRecord or SingleRecord.")] = "MultiRecord",
    max_concurrent_transforms: Annotated[
        int, typer.Option(help="Mini-batches predicted at once.")
    ] = 1,
    max_payload_mb: Annotated[int, typer.Option(help="The most data in a mini-batch.")] = 6,
    cpu_count: Annotated[int | None, typer.Option(help="CPUs of the job.")] = None,
    max_runtime_seconds: Annotated[int, typer.Option(help="Stop the job after this long.")] = 86400,
    wait: Annotated[bool, typer.Option(help="Wait for the job to end.")] = True,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create a transform job; by default wait for it with a progress display."""
    transformer = Transformer(
        model,
        accept=accept,
        strategy=strategy,
        max_concurrent_transforms=max_concurrent_transforms,
        max_payload=max_payload_mb,
        cpu_count=cpu_count,
        max_run=max_runtime_seconds,
        session=session(url, token),
    )
    job = transformer.transform(
        data, content_type=content_type, split_type=split_type, job_name=name, wait=False
    )
    if wait:
        description = wait_with_progress(job, logs=False, quiet=json_output, shown=_progress)
    else:
        description = job.describe()
    _show(description, json_output)
    exit_if_failed_or_stopped(description)


def _progress(description: dict[str, Any]) -> str:
    return f"{description['secondary_status']}, {description['records_processed']} records"


def _show(description: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(description)
        return
    print_record(_summary(description), DESCRIBE_FIELDS)


def _summary(description: dict[str, Any]) -> dict[str, Any]:
    source = description["transform_input"]
    files = [f"{o['output_uri']} ({o['records']} records)" for o in description["outputs"]]
    return {
        **description,
        "input": f"{source['uri']} ({source['content_type']}, {source['files']} files)",
        "accept": description["transform_output"]["accept"],
        "files": "\n".join(files) or None,
    }


add_list_command(app, collection="transform-jobs", columns=LIST_COLUMNS)


@app.command()
@handle_errors
def describe(
    name: JobName, json_output: JsonOption = False, url: UrlOption = None, token: TokenOption = None
) -> None:
    """Show a transform job: its model, input, output files and record counts."""
    _show(TransformJob(name, session(url, token)).describe(), json_output)


@app.command()
@handle_errors
def stop(
    name: JobName, json_output: JsonOption = False, url: UrlOption = None, token: TokenOption = None
) -> None:
    """Stop a transform job that has not ended."""
    _show(TransformJob(name, session(url, token)).stop(), json_output)
