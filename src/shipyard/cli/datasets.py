"""``shipyard datasets upload|list|describe|delete``."""

from __future__ import annotations

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
    print_table,
    resource_path,
    session,
)
from shipyard.core.errors import ValidationError

app = typer.Typer(help="Datasets: uploaded CSV or Parquet tables.", no_args_is_help=True)
DatasetName = Annotated[str, typer.Argument(help="Dataset name.", show_default=False)]
FIELDS = ("name", "uri", "format", "sha256", "size_bytes", "columns", "created_at")


@app.command()
@handle_errors
def upload(
    name: DatasetName,
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file to upload.")],
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Upload a table; channels can then point at the URI it prints."""
    if not file.is_file():
        raise ValidationError(f"{str(file)!r} is not a file", "file")
    client = session(url, token)
    client.upload(file, dataset_name=name)
    dataset = client.get(resource_path("datasets", name))
    print_json(dataset) if json_output else print_record(dataset, FIELDS)


@app.command("list")
@handle_errors
def list_datasets(
    json_output: JsonOption = False, url: UrlOption = None, token: TokenOption = None
) -> None:
    """List datasets, newest first."""
    items = session(url, token).list_all("/api/v1/datasets")
    columns = ("name", "format", "size_bytes", "uri", "created_at")
    print_json(items) if json_output else print_table(items, columns, title="Datasets")


@app.command()
@handle_errors
def describe(
    name: DatasetName,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show a dataset: its URI, format, content hash and columns."""
    dataset = session(url, token).get(resource_path("datasets", name))
    print_json(dataset) if json_output else print_record(dataset, FIELDS)


@app.command()
@handle_errors
def delete(name: DatasetName, url: UrlOption = None, token: TokenOption = None) -> None:
    """Delete a dataset and its stored file."""
    session(url, token).delete(resource_path("datasets", name))
    console.print(f"deleted dataset {name}")
