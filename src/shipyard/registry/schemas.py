"""Request and response types of the model registry (shared by the server, SDK and CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

ApprovalStatus = Literal["PendingManualApproval", "Approved", "Rejected"]
APPROVAL_STATUSES: tuple[str, ...] = ("PendingManualApproval", "Approved", "Rejected")
UploadFormat = Literal["xgboost", "lightgbm", "skops", "onnx", "pickle"]
UPLOAD_FORMATS: tuple[str, ...] = ("xgboost", "lightgbm", "skops", "onnx", "pickle")
ProblemType = Literal[
    "binary_classification",
    "multiclass_classification",
    "regression",
    "clustering",
    "anomaly_detection",
    "forecasting",
]
RiskRating = Literal["unknown", "low", "medium", "high"]
MetricValue = Annotated[float, Field(allow_inf_nan=False)]
ShortText = Annotated[str, Field(max_length=256)]
LongText = Annotated[str, Field(max_length=10_000)]


# ---- groups -------------------------------------------------------------------------------
class ModelPackageGroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = Field(default="", max_length=1024)
    tags: dict[ShortText, ShortText] = Field(default_factory=dict, max_length=50)


class ModelPackageGroupOut(BaseModel):
    name: str
    srn: str
    description: str
    tags: dict[str, str]
    package_count: int
    latest_version: int | None
    latest_approved_version: int | None
    owner: str
    created_at: datetime


# ---- inference specification ---------------------------------------------------------------
def _feature_from_name(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class FeatureSpec(BaseModel):
    """One input column; a plain string stands for ``{"name": ...}``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    type: Literal["numeric", "integer", "boolean", "string"] | None = None


class InputSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: list[Annotated[FeatureSpec, BeforeValidator(_feature_from_name)]] = Field(
        min_length=1, max_length=10_000
    )


class OutputSchema(BaseModel):
    """What the model answers: its problem type and, for a classifier, the class labels in
    the order of its probability columns."""

    model_config = ConfigDict(extra="forbid")

    problem_type: ProblemType
    classes: list[str | int | float | bool] | None = Field(default=None, max_length=10_000)
    target: str | None = Field(default=None, max_length=256)


class InferenceSpec(BaseModel):
    """How to call the model: its framework, the bodies it takes and gives, its columns."""

    model_config = ConfigDict(extra="forbid")

    algorithm: str | None = Field(default=None, max_length=64)
    framework: str | None = Field(default=None, max_length=64)
    framework_version: str | None = Field(default=None, max_length=64)
    supported_content_types: list[ShortText] = Field(
        default_factory=lambda: ["application/json", "text/csv"], max_length=20
    )
    supported_response_types: list[ShortText] = Field(
        default_factory=lambda: ["application/json", "text/csv"], max_length=20
    )
    input_schema: InputSchema | None = None
    output_schema: OutputSchema | None = None


# ---- packages -----------------------------------------------------------------------------
class ModelPackageIn(BaseModel):
    """RegisterModel: a Completed training job's model (``training_job_name``, or the best
    of ``tuning_job_name``), or an uploaded model file (``model_data_uri`` with
    ``model_format`` and an ``inference_spec`` naming the features and the output).

    ``model_package_group_name`` is the group of the URL when registered through the API.
    """

    model_config = ConfigDict(extra="forbid")

    model_package_group_name: str | None = None
    training_job_name: str | None = None
    tuning_job_name: str | None = None
    model_data_uri: str | None = Field(default=None, max_length=1024)
    model_format: UploadFormat | None = None
    inference_spec: InferenceSpec | None = None
    model_metrics: dict[ShortText, MetricValue] = Field(default_factory=dict, max_length=500)
    evaluation_report: dict[str, Any] | str | None = None
    """A JSON document, or the ``shipyard://`` URI of one (read and stored)."""
    approval_status: ApprovalStatus = "PendingManualApproval"
    description: str = Field(default="", max_length=4096)
    customer_metadata: dict[ShortText, ShortText] = Field(default_factory=dict, max_length=50)
    trust_pickle: bool = False
    """Let Shipyard deserialize this pickle (needs ``registry:TrustPickle``)."""


class ApprovalUpdate(BaseModel):
    """UpdateModelPackage: a new approval status, and why (required for Rejected)."""

    model_config = ConfigDict(extra="forbid")

    approval_status: ApprovalStatus
    reason: str | None = Field(default=None, max_length=4096)


class ApprovalOut(BaseModel):
    approval_status: str
    previous_status: str | None
    reason: str | None
    changed_by: str
    changed_at: datetime


class TrainingDataCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: LongText = ""
    datasets: list[Annotated[str, Field(max_length=1024)]] = Field(
        default_factory=list, max_length=100
    )


class ModelCardIn(BaseModel):
    """A model card. Without ``training_data``, the training job's channels fill it; without
    ``metrics``, the package's metrics."""

    model_config = ConfigDict(extra="forbid")

    intended_use: LongText = ""
    risk_rating: RiskRating = "unknown"
    training_data: TrainingDataCard | None = None
    metrics: dict[ShortText, MetricValue] | None = Field(default=None, max_length=500)
    caveats_and_limitations: LongText = ""
    ethical_considerations: LongText = ""


class ModelCardOut(BaseModel):
    intended_use: str
    risk_rating: str
    training_data: TrainingDataCard
    metrics: dict[str, float]
    caveats_and_limitations: str
    ethical_considerations: str
    updated_by: str
    updated_at: datetime


class ModelPackageOut(BaseModel):
    model_package_group_name: str
    version: int
    model_package_name: str
    """``<group>/<version>``: how a model, a policy or lineage names this package."""
    srn: str
    approval_status: str
    model_data_uri: str
    model_sha256: str
    model_format: str
    trust_pickle: bool
    inference_spec: InferenceSpec
    model_metrics: dict[str, float]
    evaluation_report: dict[str, Any] | None
    evaluation_report_uri: str | None
    training_job_name: str | None
    tuning_job_name: str | None
    description: str
    customer_metadata: dict[str, str]
    model_card: ModelCardOut | None
    approval_history: list[ApprovalOut]
    created_by: str
    created_at: datetime
    last_modified_at: datetime
