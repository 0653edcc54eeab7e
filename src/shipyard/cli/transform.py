"""``shipyard transform create|wait|list|describe|stop``: batch predictions over files."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shipyard.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    console,
    handle_errors,
    print_json,
    print_record,
    session,
)
from shipyard.cli.jobs import POLL_SECONDS, add_list_command, exit_if_failed_or_stopped
from shipyard.sdk.jobs import FINAL_STATUSES
from shipyard.sdk.transform import Transformer, TransformJob

app = typer.Typer(help="Batch transform jobs: predictions over files.", no_args_is_help=True)
JobName = Annotated[str, typer.Argument(help="Transform job name.", show_default=False)]

LIST_COLUMNS = (
    "name", "status", "model_name", "records_processed", "records_failed", "created_at",
)  # fmt: skip
DESCRIBE_FIELDS = (
    "name", "status", "secondary_status", "failure_reason", "model_name", "input", "accept",
    "data_processing", "output_uri", "files", "records_total", "records_processed",
    "records_failed", "batch_strategy", "max_concurrent_transforms", "max_payload_mb",
    "created_at", "started_at", "ended_at",
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
    accept: Annotated[
        str, typer.Option(help="text/csv, application/jsonlines or application/x-parquet.")
    ] = "text/csv",
    input_filter: Annotated[
        str | None,
        typer.Option(help="What of each record the model gets (JSONPath): $[1:], $.features."),
    ] = None,
    join_source: Annotated[
        str | None, typer.Option(help="Input: write each output joined to its input record.")
    ] = None,
    output_filter: Annotated[
        str | None,
        typer.Option(help="What of each (joined) output is written (JSONPath): $[0,-1]."),
    ] = None,
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
        data,
        content_type=content_type,
        split_type=split_type,
        input_filter=input_filter,
        join_source=join_source,
        output_filter=output_filter,
        job_name=name,
        wait=False,
    )
    description = wait_for_records(job, quiet=json_output) if wait else job.describe()
    _show(description, json_output)
    exit_if_failed_or_stopped(description)


@app.command("wait")
@handle_errors
def wait_command(
    name: JobName, json_output: JsonOption = False, url: UrlOption = None, token: TokenOption = None
) -> None:
    """Wait for a transform job to end, showing a bar of its records."""
    description = wait_for_records(TransformJob(name, session(url, token)), quiet=json_output)
    _show(description, json_output)
    exit_if_failed_or_stopped(description)


def wait_for_records(job: TransformJob, *, quiet: bool) -> dict[str, Any]:
    """Poll ``job`` until it ends, showing its status and a bar of the records processed
    over its records in all (once the job counted them); the last description. The bar
    stays on screen: its last state is the job's record count."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("records{task.fields[failed]}"), TimeElapsedColumn(),
        console=console, disable=quiet,
    ) as progress:  # fmt: skip
        task = progress.add_task(f"{job.name}: Pending", total=None, failed="")
        while True:
            description = job.describe()
            failed = description["records_failed"]
            progress.update(
                task,
                description=f"{job.name}: {description['secondary_status']}",
                completed=description["records_processed"],
                total=description["records_total"],
                failed=f", {failed} failed" if failed else "",
            )
            if description["status"] in FINAL_STATUSES:
                return description
            time.sleep(POLL_SECONDS)


def _show(description: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(description)
        return
    print_record(_summary(description), DESCRIBE_FIELDS)


def _summary(description: dict[str, Any]) -> dict[str, Any]:
    source = description["transform_input"]
    files = [_file_line(o) for o in description["outputs"]]
    processing = description["data_processing"]
    changed = {k: v for k, v in processing.items() if v != {"join_source": "None"}.get(k, "$")}
    return {
        **description,
        "input": f"{source['uri']} ({source['content_type']}, {source['files']} files)",
        "accept": description["transform_output"]["accept"],
        "data_processing": ", ".join(f"{k} {v}" for k, v in changed.items()) or None,
        "files": "\n".join(files) or None,
    }


def _file_line(output: dict[str, Any]) -> str:
    line = f"{output['output_uri']} ({output['records']} records"
    if output.get("records_failed"):
        line += f", {output['records_failed']} failed: {output['errors_uri']}"
    return line + ")"


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
