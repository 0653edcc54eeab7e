"""``shipyard datasets upload|list|describe|delete``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    handle_errors,
    print_json,
    print_record,
    resource_path,
    session,
)
from shipyard.cli.resources import add_collection_commands
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


add_collection_commands(
    app,
    collection="datasets",
    noun="dataset",
    fields=FIELDS,
    columns=("name", "format", "size_bytes", "uri", "created_at"),
    delete_help="Delete a dataset and its stored file.",
)
