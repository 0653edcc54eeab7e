"""Every check of a CreateTransformJob, before anything is queued: the model (it exists and
answers one prediction per record), the input (it exists; its files read as records of
the model's features after the input filter: a header naming them or rows of as many
fields, JSON records with them, parquet columns of them), the data processing (filters
that parse and apply to those records, a join that writes the input's format), the
payload bound and the resources."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from shipyard.core.artifacts import BaseArtifactStore, check_key
from shipyard.core.config import Settings
from shipyard.core.errors import AlreadyExists, NotFound, ValidationError
from shipyard.core.names import validate_name
from shipyard.data.service import safe_filename
from shipyard.processing import service as processing
from shipyard.serving import service as serving
from shipyard.serving.batch.models import TransformJob
from shipyard.serving.batch.outputs import JOIN_FIELD, OUTPUT_FILTER_FIELD, OutputFormat
from shipyard.serving.batch.records import (
    INPUT_FILTER_FIELD,
    JSON_LINES,
    SOURCE_FIELD,
    first_line,
    read_layout,
)
from shipyard.serving.batch.schemas import TransformJobIn
from shipyard.serving.batch.selectors import parse_selector
from shipyard.serving.loading import ModelSource

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
    _check_data_processing(request)
    source_input = request.transform_input
    source = processing.resolve_source(
        session, settings, store, source_input.data_source, SOURCE_FIELD
    )
    features = list(model.feature_names)
    for uri in source.files[:MAX_CHECKED_FILES]:
        _check_file(store, uri, request, model, features)
    files = [
        {"uri": uri, "output": _output_name(source.relative_name(uri))} for uri in source.files
    ]
    return CheckedTransformJob(
        name, serving.model_source(session, model.name), features, source, files
    )


def _check_file(
    store: BaseArtifactStore, uri: str, request: TransformJobIn, model: Any, features: list[str]
) -> None:
    """The file reads as records of the model (its first record, its parquet schema) and
    the output filter applies to its outputs."""
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
    processing_request = request.data_processing
    input_filter = parse_selector(processing_request.input_filter, INPUT_FILTER_FIELD)
    with processing.open_file(store, uri, SOURCE_FIELD) as handle:
        layout = read_layout(handle, uri, content_type, features, input_filter, limit)
    output_format = OutputFormat(
        request.transform_output.accept,
        layout,
        join=processing_request.join_source == "Input",
        selector=parse_selector(processing_request.output_filter, OUTPUT_FILTER_FIELD),
        problem_type=model.problem_type,
        classes=model.classes,
    )
    if content_type == JSON_LINES:
        with processing.open_file(store, uri, SOURCE_FIELD) as handle:
            output_format.check_record(json.loads(first_line(handle, limit)))


def _check_data_processing(request: TransformJobIn) -> None:
    """The filters parse; a join writes the input's own format."""
    processing_request = request.data_processing
    parse_selector(processing_request.input_filter, INPUT_FILTER_FIELD)
    parse_selector(processing_request.output_filter, OUTPUT_FILTER_FIELD)
    content_type = request.transform_input.content_type
    accept = request.transform_output.accept
    if processing_request.join_source == "Input" and accept != content_type:
        raise ValidationError(
            f"Input joins each output to its input record, so the output is the input's "
            f"format: transform_output.accept must be {content_type} (it is {accept})",
            JOIN_FIELD,
        )


def _output_name(relative: str) -> str:
    """``<input file>.out``, a storable key below the job's output prefix."""
    name = f"{relative}.out"
    try:
        return check_key(name)
    except ValidationError:
        return safe_filename(name, "records.out")
