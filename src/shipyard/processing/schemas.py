"""Request and response types of the processing room (shared by the server, SDK and CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shipyard.compute.schemas import Resources, StoppingCondition
from shipyard.training.schemas import StatusTransition

MAX_INPUTS = 20
MAX_OUTPUTS = 20


class ProcessingInput(BaseModel):
    """Where an input comes from: a dataset name, a ``shipyard://`` object or prefix (a
    directory of files), or a local path inside the allowed data roots. ``format`` says how
    to read a table whose file name does not (csv when nothing says)."""

    model_config = ConfigDict(extra="forbid")

    input_name: str = Field(min_length=1, max_length=64)
    source: str = Field(min_length=1, max_length=1024)
    format: Literal["csv", "parquet", "libsvm"] | None = None


class ProcessingOutput(BaseModel):
    """A directory the job writes; one holding a single csv or parquet table becomes the
    dataset ``dataset_name`` (default ``<job name>-<output_name>``). ``format`` is the file
    format of a SQL statement's result (csv when unset)."""

    model_config = ConfigDict(extra="forbid")

    output_name: str = Field(min_length=1, max_length=64)
    dataset_name: str | None = Field(default=None, max_length=64)
    format: Literal["csv", "parquet"] | None = None


class ProcessingJobIn(BaseModel):
    """CreateProcessingJob: DuckDB ``sql`` over the inputs, or a script (``entry_point`` in
    the uploaded ``source_uri``, run with ``arguments``)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    processing_inputs: list[ProcessingInput] = Field(default_factory=list, max_length=MAX_INPUTS)
    processing_outputs: list[ProcessingOutput] = Field(default_factory=list, max_length=MAX_OUTPUTS)
    sql: str | dict[str, str] | None = Field(
        default=None,
        description="One SELECT statement, or one per output: {output_name: statement}.",
    )
    entry_point: str | None = Field(default=None, max_length=256)
    source_uri: str | None = Field(default=None, max_length=1024)
    arguments: list[str] = Field(default_factory=list, max_length=100)
    environment: dict[str, str] = Field(default_factory=dict, max_length=50)
    resources: Resources = Field(default_factory=Resources)
    stopping_condition: StoppingCondition = Field(default_factory=StoppingCondition)
    tags: dict[str, str] = Field(default_factory=dict, max_length=50)


class ProcessingInputOut(BaseModel):
    input_name: str
    source: str
    uri: str = Field(description="Where the input was found: a file, or a prefix (kind).")
    kind: Literal["file", "prefix"]
    sha256: str = Field(description="The file's SHA-256, or the prefix's directory hash.")
    dataset_name: str | None = None
    format: str | None = Field(default=None, description="The table format, for a table.")
    columns: list[str] | None = None


class ProcessingOutputOut(BaseModel):
    output_name: str
    uri: str = Field(description="The prefix the output directory is stored under.")
    sha256: str | None = Field(
        default=None, description="Directory hash of the stored prefix, once written."
    )
    size_bytes: int | None = None
    files: int | None = None
    dataset_name: str | None = Field(
        default=None, description="The dataset it was registered as, once registered."
    )
    table_uri: str | None = Field(default=None, description="The output's single table file.")
    table_sha256: str | None = None
    format: str | None = None
    columns: list[str] | None = None
    rows: int | None = None
    registration_error: str | None = None


class ProcessingJobOut(BaseModel):
    name: str
    srn: str
    status: str
    secondary_status: str
    failure_reason: str | None
    sql: dict[str, str] | None
    entry_point: str | None
    source_uri: str | None
    arguments: list[str]
    environment: dict[str, str]
    processing_inputs: list[ProcessingInputOut]
    processing_outputs: list[ProcessingOutputOut]
    resources: Resources
    stopping_condition: StoppingCondition
    tags: dict[str, str]
    output_uri: str
    final_metrics: dict[str, float]
    attempts: int
    owner: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    status_history: list[StatusTransition]
