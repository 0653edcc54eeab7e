"""Request and response types of the batch transform room (shared by the server, SDK and
CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shipyard.compute.schemas import Resources, StoppingCondition
from shipyard.training.schemas import StatusTransition

ContentType = Literal["text/csv", "application/x-parquet", "application/jsonlines"]
Accept = Literal["text/csv", "application/jsonlines", "application/x-parquet"]


class TransformInput(BaseModel):
    """The records to predict on: a dataset name, a ``shipyard://`` file or prefix of files,
    or a local file inside the allowed data roots. ``split_type`` ``Line`` makes each line
    (each row of a parquet file) a record; ``None`` sends each file whole."""

    model_config = ConfigDict(extra="forbid")

    data_source: str = Field(min_length=1, max_length=1024)
    content_type: ContentType = "text/csv"
    split_type: Literal["Line", "None"] = "Line"


class TransformOutput(BaseModel):
    """``text/csv``: one line per record, its prediction; ``application/jsonlines``: one
    JSON object per record, its prediction and the model's other outputs (probabilities);
    ``application/x-parquet``: one row per record, a column per output."""

    model_config = ConfigDict(extra="forbid")

    accept: Accept = "text/csv"


class DataProcessing(BaseModel):
    """SageMaker's DataProcessing: ``input_filter`` picks what of each input record is sent
    to the model, ``join_source`` ``Input`` writes each output joined to its input record,
    ``output_filter`` picks what of that (joined) output record is written. The filters
    are JSONPath: ``$[1:]``, ``$[0,2:5]`` (fields by index), ``$.features``,
    ``$['id','SageMakerOutput']`` (by key)."""

    model_config = ConfigDict(extra="forbid")

    input_filter: str = Field(default="$", min_length=1, max_length=512)
    join_source: Literal["None", "Input"] = "None"
    output_filter: str = Field(default="$", min_length=1, max_length=512)


class TransformJobIn(BaseModel):
    """CreateTransformJob: the predictions of ``model_name`` for every record of the input,
    one ``<input file>.out`` per input file, records in input order."""

    model_config = ConfigDict(extra="forbid")

    name: str
    model_name: str
    transform_input: TransformInput
    transform_output: TransformOutput = Field(default_factory=TransformOutput)
    data_processing: DataProcessing = Field(default_factory=DataProcessing)
    max_concurrent_transforms: int = Field(
        default=1, ge=1, le=64, description="Mini-batches predicted at the same time (threads)."
    )
    max_payload_mb: int = Field(
        default=6, ge=1, le=100, description="The most data in one mini-batch."
    )
    batch_strategy: Literal["MultiRecord", "SingleRecord"] = "MultiRecord"
    resources: Resources = Field(default_factory=Resources)
    stopping_condition: StoppingCondition = Field(default_factory=StoppingCondition)
    tags: dict[str, str] = Field(default_factory=dict, max_length=50)


class TransformInputOut(BaseModel):
    data_source: str
    content_type: ContentType
    split_type: Literal["Line", "None"]
    uri: str = Field(description="Where the input was found: a file, or a prefix (kind).")
    kind: Literal["file", "prefix"]
    sha256: str
    dataset_name: str | None = None
    files: int


class TransformOutputOut(BaseModel):
    accept: Accept
    output_uri: str = Field(description="The prefix the .out files are stored under.")
    sha256: str | None = Field(default=None, description="Directory hash, once complete.")


class TransformFileOut(BaseModel):
    input_uri: str
    output_uri: str
    records: int = Field(description="Records of the file; its output has one per record.")
    records_failed: int = Field(default=0, description="Records whose output is empty.")
    errors_uri: str | None = Field(
        default=None, description="A JSON line per failed record (record, reason); if any."
    )


class TransformJobOut(BaseModel):
    name: str
    srn: str
    status: str
    secondary_status: str
    failure_reason: str | None
    model_name: str
    model_data_uri: str
    transform_input: TransformInputOut
    transform_output: TransformOutputOut
    output_uri: str
    data_processing: DataProcessing
    outputs: list[TransformFileOut] = Field(description="One per input file done so far.")
    records_total: int | None = Field(
        description="Records of every input file, once the job counted them."
    )
    records_processed: int = Field(description="Records with their output written so far.")
    records_failed: int = Field(description="Of those, the records whose output is empty.")
    max_concurrent_transforms: int
    max_payload_mb: int
    batch_strategy: str
    resources: Resources
    stopping_condition: StoppingCondition
    tags: dict[str, str]
    final_metrics: dict[str, float]
    attempts: int
    owner: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    status_history: list[StatusTransition]
