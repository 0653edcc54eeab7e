"""Every check of a CreateTransformJob, before anything is queued: the model (it exists and
answers one prediction per record), the input (it exists; its files read as records of
the model's features: a header naming them or rows of as many fields, JSON records with
them, parquet columns of them), the payload bound and the resources."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from shipyard.core.artifacts import BaseArtifactStore, check_key
from shipyard.core.config import Settings
from shipyard.core.errors import AlreadyExists, NotFound, ValidationError
from shipyard.core.names import validate_name
from shipyard.data.service import safe_filename
from shipyard.processing import service as processing
from shipyard.serving import service as serving
from shipyard.serving.batch.models import TransformJob
from shipyard.serving.batch.records import (
    CSV,
    JSON_LINES,
    PARQUET,
    csv_fields,
    csv_header,
    first_line,
)
from shipyard.serving.batch.schemas import TransformJobIn
from shipyard.serving.loading import ModelSource
from shipyard.training.algorithms.dataset import shorten_names

SOURCE_FIELD = "transform_input.data_source"
MAX_CHECKED_FILES = 100  # the first files of a prefix are read through; the rest at run time
MB = 1024 * 1024


@dataclass(frozen=True)
class CheckedTransformJob:
    """A request that passed every check: its model and its input's files, each with the
    name of its ``.out`` file."""

    name: str
    model: ModelSource
    feature_names: list[str]
    source: processing.Source
    files: list[dict[str, str]]


def check_transform_job(
    session: Session, settings: Settings, store: BaseArtifactStore, request: TransformJobIn
) -> CheckedTransformJob:
    name = validate_name(request.name)
    if session.get(TransformJob, name) is not None:
        raise AlreadyExists(f"transform job '{name}' already exists")
    try:
        model = serving.get_model(session, request.model_name)
    except (NotFound, ValidationError):
        raise ValidationError(f"no model is called {request.model_name!r}", "model_name") from None
    if model.problem_type == "forecasting":
        raise ValidationError(
            f"model '{model.name}' forecasts series, which has no one-prediction-per-record "
            "form; invoke an endpoint for forecasts",
            "model_name",
        )
    if request.resources.instance_count > 1:
        raise ValidationError(
            "must be 1: a transform job runs on one instance, max_concurrent_transforms "
            "mini-batches at a time",
            "resources.instance_count",
        )
    source_input = request.transform_input
    source = processing.resolve_source(
        session, settings, store, source_input.data_source, SOURCE_FIELD
    )
    features = list(model.feature_names)
    for uri in source.files[:MAX_CHECKED_FILES]:
        _check_file(store, uri, request, features)
    files = [
        {"uri": uri, "output": _output_name(source.relative_name(uri))} for uri in source.files
    ]
    return CheckedTransformJob(
        name, serving.model_source(session, model.name), features, source, files
    )


def _check_file(
    store: BaseArtifactStore, uri: str, request: TransformJobIn, features: list[str]
) -> None:
    content_type = request.transform_input.content_type
    limit = request.max_payload_mb * MB
    if request.transform_input.split_type == "None":
        size = processing.file_size(store, uri)
        if size > limit:
            raise ValidationError(
                f"{uri} is {size / MB:.1f} MB, over max_payload_mb ({request.max_payload_mb}); "
                "with split_type None each file is one payload: split it by Line",
                "transform_input.split_type",
            )
    with processing.open_file(store, uri, SOURCE_FIELD) as handle:
        if content_type == PARQUET:
            try:
                columns = [str(c) for c in pq.ParquetFile(handle).schema_arrow.names]
            except Exception as exc:
                raise ValidationError(
                    f"{uri} is not a readable parquet file ({exc})", SOURCE_FIELD
                ) from None
            _check_named(uri, columns, features)
            return
        line = first_line(handle, limit)
    if not line:
        raise ValidationError(f"{uri} holds no records", SOURCE_FIELD)
    if content_type == CSV:
        _check_csv(uri, line, features)
    elif content_type == JSON_LINES:
        _check_json_line(uri, line, features)


def _check_csv(uri: str, line: bytes, features: list[str]) -> None:
    if b"\x00" in line:
        raise ValidationError(f"{uri} is not a CSV file: it holds binary data", SOURCE_FIELD)
    if csv_header(line, features) is not None:
        return
    fields = len(csv_fields(line))
    if fields != len(features):
        raise ValidationError(
            f"the first row of {uri} has {fields} fields and is no header naming the model's "
            f"features; the model takes {len(features)} ({shorten_names(features)})",
            SOURCE_FIELD,
        )


def _check_json_line(uri: str, line: bytes, features: list[str]) -> None:
    try:
        record: Any = json.loads(line)
    except ValueError as exc:
        raise ValidationError(
            f"the first line of {uri} is not a JSON record ({exc})", SOURCE_FIELD
        ) from None
    if isinstance(record, dict):
        _check_named(uri, [str(k) for k in record], features)
    elif isinstance(record, list):
        if len(record) != len(features):
            raise ValidationError(
                f"the first record of {uri} has {len(record)} values; the model takes "
                f"{len(features)} features ({shorten_names(features)})",
                SOURCE_FIELD,
            )
    elif not (isinstance(record, str) and len(features) == 1):
        raise ValidationError(
            f"the records of {uri} must be JSON objects (features by name) or lists",
            SOURCE_FIELD,
        )


def _check_named(uri: str, columns: list[str], features: list[str]) -> None:
    missing = [f for f in features if f not in set(columns)]
    if missing:
        raise ValidationError(
            f"{uri} lacks the model's features {shorten_names(missing)}", SOURCE_FIELD
        )


def _output_name(relative: str) -> str:
    """``<input file>.out``, a storable key below the job's output prefix."""
    name = f"{relative}.out"
    try:
        return check_key(name)
    except ValidationError:
        return safe_filename(name, "records.out")
