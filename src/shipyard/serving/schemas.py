"""Request and response types of the serving room."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shipyard.serving.asynchronous.schemas import AsyncInferenceConfig
from shipyard.serving.rollouts.schemas import RolloutOut


class ModelIn(BaseModel):
    """CreateModel from a completed training job, from model artifacts already stored, or
    from a registered model package (``<group>/<version>``)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    training_job_name: str | None = None
    model_data_uri: str | None = Field(default=None, max_length=1024)
    model_package_name: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _one_source(self) -> ModelIn:
        sources = (self.training_job_name, self.model_data_uri, self.model_package_name)
        if sum(1 for source in sources if source) != 1:
            raise ValueError(
                "give exactly one of training_job_name, model_data_uri or model_package_name"
            )
        return self


class ModelOut(BaseModel):
    name: str
    srn: str
    training_job_name: str | None
    model_data_uri: str
    algorithm: str
    problem_type: str
    feature_names: list[str]
    classes: list[Any] | None
    model_package_name: str | None = None
    model_sha256: str | None = None
    """The SHA-256 of the model directory at create; a load of other bytes fails."""
    trust_pickle: bool = False
    owner: str
    created_at: datetime


MAX_VARIANTS = 10
MAX_INSTANCES = 32
"""Instances of one variant (processes on this machine)."""


class BatchingConfig(BaseModel):
    """Micro-batching: the requests waiting for an instance are predicted together."""

    model_config = ConfigDict(extra="forbid")

    max_batch_size: int = Field(default=32, ge=2, le=1024)
    """The most rows predicted at once."""
    max_wait_ms: float = Field(default=0.0, ge=0, le=1000, allow_inf_nan=False)
    """How long the first request of a batch waits for others; 0 batches only what is
    waiting already, which adds no latency to a request that comes alone."""


class ServerlessConfig(BaseModel):
    """A serverless variant: no instance runs while it gets no requests. The first request
    after ``idle_timeout_seconds`` without any starts one (a cold start, its time in the
    ``ModelSetupTime`` metric); more than ``max_concurrency`` requests at once are
    throttled (429); an instance over ``memory_size_in_mb`` is replaced."""

    model_config = ConfigDict(extra="forbid")

    memory_size_in_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] = 2048
    max_concurrency: int = Field(default=20, ge=1, le=200)
    idle_timeout_seconds: int = Field(default=300, ge=1, le=86_400)


class ProductionVariant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant_name: str = "AllTraffic"
    model_name: str
    initial_instance_count: int = Field(default=1, ge=1, le=MAX_INSTANCES)
    """Instances (model-serving processes) it starts with."""
    initial_weight: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    """Its share of the traffic is its weight over the sum of the variants' weights; a
    variant of weight 0 answers only requests that target it."""
    batching: BatchingConfig | None = None
    serverless_config: ServerlessConfig | None = None

    @model_validator(mode="after")
    def _serverless_has_no_instance_count(self) -> ProductionVariant:
        if self.serverless_config is not None and self.initial_instance_count != 1:
            raise ValueError(
                "initial_instance_count: a serverless variant has no instance count (its "
                "instances start on demand, up to serverless_config.max_concurrency requests)"
            )
        return self


class ShadowVariant(BaseModel):
    """A model that gets a copy of a share of the production requests, after their answer
    was sent: its answers are compared, never returned (a shadow test)."""

    model_config = ConfigDict(extra="forbid")

    variant_name: str
    model_name: str
    initial_instance_count: int = Field(default=1, ge=1, le=MAX_INSTANCES)
    sampling_percentage: float = Field(default=100.0, gt=0, le=100)
    """The share of production requests it gets a copy of."""


CaptureOption = Literal["Input", "Output"]
CAPTURE_OPTIONS: tuple[CaptureOption, ...] = ("Input", "Output")


class DataCaptureConfig(BaseModel):
    """Write a sampled share of the requests and responses to the artifact store, as JSON
    lines under ``captures/<endpoint>/<variant>/<yyyy>/<mm>/<dd>/<hh>/``."""

    model_config = ConfigDict(extra="forbid")

    enable_capture: bool = True
    initial_sampling_percentage: float = Field(default=100.0, gt=0, le=100)
    capture_options: list[CaptureOption] = Field(
        default_factory=lambda: list(CAPTURE_OPTIONS), min_length=1, max_length=2
    )


class EndpointConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    production_variants: list[ProductionVariant] = Field(min_length=1, max_length=MAX_VARIANTS)
    shadow_production_variants: list[ShadowVariant] = Field(default_factory=list, max_length=1)
    data_capture_config: DataCaptureConfig | None = None
    async_inference_config: AsyncInferenceConfig | None = None


class EndpointConfigOut(BaseModel):
    name: str
    srn: str
    production_variants: list[ProductionVariant]
    shadow_production_variants: list[ShadowVariant] = []
    data_capture_config: DataCaptureConfig | None = None
    async_inference_config: AsyncInferenceConfig | None = None
    owner: str
    created_at: datetime


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    endpoint_config_name: str


class VariantStatus(BaseModel):
    """A variant's instances now, on the server that answered (SageMaker's
    ``CurrentInstanceCount`` and ``DesiredInstanceCount``). During a rollout both configs'
    variants are listed, each weight times its config's share of the traffic."""

    variant_name: str
    endpoint_config_name: str
    current_instance_count: int
    desired_instance_count: int
    current_weight: float


class EndpointOut(BaseModel):
    name: str
    srn: str
    endpoint_config_name: str
    previous_endpoint_config_name: str | None = None
    """The config it served before its last update: where a rollback goes when no rollout
    is going on."""
    status: str
    failure_reason: str | None
    production_variants: list[ProductionVariant]
    shadow_production_variants: list[ShadowVariant] = []
    variant_status: list[VariantStatus] = []
    """Each served variant's (and shadow's) instances; empty where this server serves none."""
    rollout: RolloutOut | None = None
    """Its latest update (DescribeEndpoint only)."""
    owner: str
    created_at: datetime
    last_modified_at: datetime


# ---- shadow tests ----------------------------------------------------------------------
class LatencySummary(BaseModel):
    """Milliseconds; each within 10% (the histogram's buckets)."""

    p50: float | None
    p90: float | None
    p99: float | None


class ShadowVariantReport(BaseModel):
    shadow_variant: str
    production_variants: list[str]
    requests: int
    """Copies the shadow answered (or failed on)."""
    shadow_errors: int
    rows_compared: int
    agreement_rate: float | None
    """The share of compared predictions that were equal."""
    mean_absolute_difference: float | None
    """Over the numeric predictions (regression values, numeric class labels)."""
    production_latency_ms: LatencySummary
    shadow_latency_ms: LatencySummary


class ShadowReportOut(BaseModel):
    endpoint_name: str
    start_time: datetime
    end_time: datetime
    shadows: list[ShadowVariantReport]


class PromoteShadowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant_name: str = Field(min_length=1, max_length=64)
    """The shadow variant that becomes the endpoint's only production variant."""
    endpoint_config_name: str = Field(min_length=1, max_length=64)
    """The name of the endpoint config made for it."""


class CapturedRecord(BaseModel):
    """One captured invocation (``input``/``output`` as the capture options say)."""

    event_id: str
    inference_time: datetime
    endpoint_name: str
    variant_name: str
    model_latency_ms: float | None
    input: dict[str, str] | None = None
    """``{"content_type", "encoding": "JSON" | "CSV" | "BASE64", "data"}``"""
    output: dict[str, str] | None = None


class CapturedRecordsOut(BaseModel):
    records: list[CapturedRecord]
    files_read: int
