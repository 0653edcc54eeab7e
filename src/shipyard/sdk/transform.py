"""``Transformer`` and ``TransformJob``: a served model's predictions over files, in the
shape of ``sagemaker.transformer``.

    transformer = Transformer("fraud-model", accept="text/csv", max_concurrent_transforms=2)
    job = transformer.transform(
        "shipyard://processing-jobs/prep/output/scoring",
        input_filter="$[1:]", join_source="Input", output_filter="$[0,-1]",
    )
    transformer.output_path  # shipyard://transform-jobs/<job>/output, a .out per file
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.core.errors import ValidationError
from shipyard.sdk.client import Session
from shipyard.sdk.jobs import FINAL_STATUSES as FINAL_STATUSES  # still importable from here
from shipyard.sdk.jobs import JobResource
from shipyard.sdk.processing import upload_source
from shipyard.sdk.waiting import unique_name

PARQUET = "application/x-parquet"


class TransformJob(JobResource):
    """A transform job on the server, by name."""

    collection = "transform-jobs"
    noun = "transform job"

    def wait(self, logs: bool = False, timeout: float | None = None) -> dict[str, Any]:
        """Block until the job ends; raise UnexpectedStatus unless it Completed."""
        return super().wait(logs, timeout)


class Transformer:
    """Batch predictions of the model ``model_name`` (a model created from a training
    job). ``strategy`` MultiRecord sends mini-batches of up to ``max_payload`` MB,
    SingleRecord one record at a time; ``accept`` is text/csv (one prediction per line),
    application/jsonlines (a JSON object per record) or application/x-parquet (a row per
    record)."""

    def __init__(
        self,
        model_name: str,
        *,
        accept: str = "text/csv",
        strategy: str = "MultiRecord",
        max_concurrent_transforms: int = 1,
        max_payload: int = 6,
        cpu_count: int | None = None,
        memory_limit_mb: int | None = None,
        max_run: int = 86400,
        tags: Mapping[str, str] | None = None,
        base_transform_job_name: str | None = None,
        session: Session | None = None,
    ) -> None:
        self.model_name = model_name
        self.accept = accept
        self.strategy = strategy
        self.max_concurrent_transforms = max_concurrent_transforms
        self.max_payload = max_payload
        self.cpu_count = cpu_count
        self.memory_limit_mb = memory_limit_mb
        self.max_run = max_run
        self.tags = dict(tags or {})
        self.base_transform_job_name = base_transform_job_name
        self.session = session or Session()
        self.latest_transform_job: TransformJob | None = None

    def transform(
        self,
        data: Any,
        *,
        content_type: str | None = None,
        split_type: str = "Line",
        input_filter: str | None = None,
        join_source: str | None = None,
        output_filter: str | None = None,
        job_name: str | None = None,
        wait: bool = True,
        logs: bool = False,
    ) -> TransformJob:
        """Predict every record of ``data``: a local file or DataFrame (uploaded for you), a
        ``shipyard://`` file or prefix, or a dataset name. A DataFrame is sent as parquet.

        As SageMaker's: ``input_filter`` picks what of each record the model gets
        (JSONPath: ``"$[1:]"``, ``"$.features"``), ``join_source="Input"`` writes each
        output joined to its record, ``output_filter`` picks what of that is written
        (``"$[0,-1]"``, ``"$['id','SageMakerOutput']"``)."""
        if content_type is None:
            content_type = PARQUET if hasattr(data, "to_parquet") else "text/csv"
        name = job_name or unique_name(self.base_transform_job_name or self.model_name)
        resources: dict[str, Any] = {}
        if self.cpu_count is not None:
            resources["cpu_count"] = self.cpu_count
        if self.memory_limit_mb is not None:
            resources["memory_limit_mb"] = self.memory_limit_mb
        body = {
            "name": name,
            "model_name": self.model_name,
            "transform_input": {
                "data_source": upload_source(self.session, data, "data"),
                "content_type": content_type,
                "split_type": split_type,
            },
            "transform_output": {"accept": self.accept},
            "data_processing": _data_processing(input_filter, join_source, output_filter),
            "max_concurrent_transforms": self.max_concurrent_transforms,
            "max_payload_mb": self.max_payload,
            "batch_strategy": self.strategy,
            "resources": resources,
            "stopping_condition": {"max_runtime_seconds": self.max_run},
            "tags": self.tags,
        }
        self.session.post("/api/v1/transform-jobs", json=body)
        self.latest_transform_job = TransformJob(name, self.session)
        if wait:
            self.latest_transform_job.wait(logs=logs)
        return self.latest_transform_job

    @property
    def output_path(self) -> str:
        """The prefix the latest transform job writes its ``.out`` files under."""
        if self.latest_transform_job is None:
            raise ValidationError("call transform() first: no transform job yet")
        return self.latest_transform_job.describe()["output_uri"]


def _data_processing(
    input_filter: str | None, join_source: str | None, output_filter: str | None
) -> dict[str, str]:
    """The request's ``data_processing``: what was given (the server has the defaults)."""
    given = {
        "input_filter": input_filter,
        "join_source": join_source,
        "output_filter": output_filter,
    }
    return {key: value for key, value in given.items() if value is not None}
