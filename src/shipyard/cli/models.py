"""``shipyard models create|list|describe|delete``."""

from __future__ import annotations

from typing import Annotated

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
from shipyard.cli.resources import add_collection_commands

app = typer.Typer(help="Models: servable artifacts of training jobs.", no_args_is_help=True)
ModelName = Annotated[str, typer.Argument(help="Model name.", show_default=False)]
FIELDS = (
    "name",
    "training_job_name",
    "model_data_uri",
    "algorithm",
    "problem_type",
    "feature_names",
    "created_at",
)


@app.command()
@handle_errors
def create(
    name: ModelName,
    training_job: Annotated[str | None, typer.Option(help="Completed training job.")] = None,
    model_data_uri: Annotated[str | None, typer.Option(help="shipyard:// model artifacts.")] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create a model from a training job's artifacts."""
    body = {"name": name, "training_job_name": training_job, "model_data_uri": model_data_uri}
    model = session(url, token).post("/api/v1/models", json=body)
    print_json(model) if json_output else print_record(model, FIELDS)


add_collection_commands(
    app,
    collection="models",
    noun="model",
    fields=FIELDS,
    columns=("name", "algorithm", "training_job_name", "created_at"),
)
