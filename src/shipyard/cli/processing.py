"""``shipyard processing create|list|describe|stop|logs``: scripts and SQL over datasets."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from shipyard.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    handle_errors,
    pairs,
    print_json,
    print_record,
    session,
)
from shipyard.cli.jobs import (
    add_list_command,
    add_logs_command,
    exit_if_failed_or_stopped,
    wait_with_progress,
)
from shipyard.core.errors import ValidationError
from shipyard.sdk.processing import (
    ProcessingInput,
    ProcessingJob,
    ProcessingOutput,
    ScriptProcessor,
    SQLProcessor,
)

app = typer.Typer(help="Processing jobs: scripts and SQL over datasets.", no_args_is_help=True)
JobName = Annotated[str, typer.Argument(help="Processing job name.", show_default=False)]
Repeated = list[str]
NAMED_STATEMENT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)", re.DOTALL)

LIST_COLUMNS = ("name", "status", "kind", "created_at", "ended_at")
DESCRIBE_FIELDS = (
    "name", "status", "secondary_status", "failure_reason", "sql", "entry_point",
    "arguments", "inputs", "outputs", "resources", "final_metrics", "created_at",
    "started_at", "ended_at",
)  # fmt: skip


@app.command()
@handle_errors
def create(
    input_: Annotated[
        Repeated,
        typer.Option("--input", "-i", help="NAME=SOURCE: a file, dataset or shipyard:// URI."),
    ] = [],  # noqa: B006
    output: Annotated[
        Repeated, typer.Option("--output", "-o", help="NAME[=DATASET], repeatable.")
    ] = [],  # noqa: B006
    sql: Annotated[
        Repeated,
        typer.Option(help="A SELECT over the inputs; OUTPUT=STATEMENT for each of several."),
    ] = [],  # noqa: B006
    entry_point: Annotated[str | None, typer.Option(help="Script to run.")] = None,
    source: Annotated[
        str | None, typer.Option(help="Directory holding the script, or its shipyard:// URI.")
    ] = None,
    argument: Annotated[
        Repeated, typer.Option("--arg", help="An argument of the script, repeatable.")
    ] = [],  # noqa: B006
    env: Annotated[Repeated, typer.Option(help="NAME=VALUE for the script, repeatable.")] = [],  # noqa: B006
    output_format: Annotated[
        str | None, typer.Option("--format", help="csv or parquet: the file of a SQL result.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Job name (default: generated).")] = None,
    instance_count: Annotated[int, typer.Option(help="Processes running the script.")] = 1,
    cpu_count: Annotated[int | None, typer.Option(help="CPUs per instance.")] = None,
    memory_limit_mb: Annotated[int | None, typer.Option(help="Memory limit in MB.")] = None,
    max_runtime_seconds: Annotated[int, typer.Option(help="Stop the job after this long.")] = 86400,
    wait: Annotated[bool, typer.Option(help="Wait for the job to end.")] = True,
    logs: Annotated[bool, typer.Option(help="Stream the job's logs while waiting.")] = False,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create a processing job from --sql or --entry-point; by default wait for it."""
    if bool(sql) == bool(entry_point):
        raise ValidationError("give --sql or --entry-point (with --source), one of them", "sql")
    inputs = [ProcessingInput(v, k) for k, v in pairs(input_, "--input").items()]
    outputs = [_output(value, output_format) for value in output]
    options: dict[str, Any] = {
        "instance_count": instance_count,
        "cpu_count": cpu_count,
        "memory_limit_mb": memory_limit_mb,
        "max_runtime_in_seconds": max_runtime_seconds,
        "session": session(url, token),
    }
    if entry_point:
        job = ScriptProcessor(env=pairs(env, "--env"), **options).run(
            entry_point, inputs, outputs, arguments=argument, source_dir=source, wait=False,
            job_name=name,
        )  # fmt: skip
    else:
        job = SQLProcessor(**options).run(
            _statements(sql), inputs, outputs, wait=False, job_name=name
        )
    if wait:
        description = wait_with_progress(
            job,
            logs=logs,
            quiet=json_output,
            settle=job.wait_for_datasets,
            settling="registering outputs",
        )
    else:
        description = job.describe()
    _show(description, json_output)
    exit_if_failed_or_stopped(description)


def _output(value: str, table_format: str | None) -> ProcessingOutput:
    output_name, _, dataset = value.partition("=")
    if not output_name:
        raise ValidationError(f"expected NAME[=DATASET], got {value!r}", "--output")
    return ProcessingOutput(output_name, dataset or None, table_format)


def _statements(values: list[str]) -> str | dict[str, str]:
    if len(values) == 1 and not _named(values[0]):
        return values[0]
    statements = {}
    for value in values:
        match = _named(value)
        if match is None:
            raise ValidationError(
                f"with several statements, each is OUTPUT=STATEMENT; got {value[:60]!r}",
                "--sql",
            )
        statements[match.group(1)] = match.group(2).strip()
    return statements


def _named(value: str) -> re.Match[str] | None:
    """``OUTPUT=STATEMENT``, told from a statement by its first word not being SQL."""
    match = NAMED_STATEMENT.match(value)
    if match is None or match.group(1).upper() in ("SELECT", "WITH", "FROM", "VALUES"):
        return None
    return match


def _show(description: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(description)
        return
    print_record(_summary(description), DESCRIBE_FIELDS)


def _summary(description: dict[str, Any]) -> dict[str, Any]:
    """The description with its inputs and outputs one line each."""
    inputs = [
        f"{i['input_name']}: {i['uri']} ({i['kind']}, sha256 {i['sha256'][:12]})"
        for i in description["processing_inputs"]
    ]
    outputs = []
    for o in description["processing_outputs"]:
        line = f"{o['output_name']}: {o['uri']}"
        if o["dataset_name"]:
            line += f" -> dataset {o['dataset_name']} ({o['rows']} rows)"
        outputs.append(line)
    return {
        **description,
        "inputs": "\n".join(inputs) or None,
        "outputs": "\n".join(outputs) or None,
        "kind": "sql" if description["sql"] else "script",
    }


add_list_command(app, collection="processing-jobs", columns=LIST_COLUMNS, summary=_summary)


@app.command()
@handle_errors
def describe(
    name: JobName, json_output: JsonOption = False, url: UrlOption = None, token: TokenOption = None
) -> None:
    """Show a processing job: status, inputs, outputs and the datasets they became."""
    _show(ProcessingJob(name, session(url, token)).describe(), json_output)


@app.command()
@handle_errors
def stop(
    name: JobName, json_output: JsonOption = False, url: UrlOption = None, token: TokenOption = None
) -> None:
    """Stop a processing job that has not ended."""
    _show(ProcessingJob(name, session(url, token)).stop(), json_output)


add_logs_command(app, ProcessingJob)
