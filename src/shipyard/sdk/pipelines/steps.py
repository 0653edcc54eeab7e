"""The steps of a pipeline, in the shape of SageMaker Pipelines' step classes.

Each step compiles to ``{"name", "type", "arguments", ...}``; its arguments are the
room's own request (CreateProcessingJob, CreateTrainingJob...) without the name, and may
hold expressions. ``step.properties.<name>`` refers to what the step produces.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.sdk.pipelines.expressions import (
    Condition,
    Expression,
    Properties,
    PropertyFile,
    to_json,
)


@dataclass(frozen=True)
class CacheConfig:
    """Reuse an earlier run of the step when its definition and inputs are unchanged;
    ``expire_after`` is an ISO 8601 duration (``P30D``, ``PT12H``)."""

    enable_caching: bool = False
    expire_after: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"enabled": self.enable_caching, "expire_after": self.expire_after}


@dataclass(frozen=True)
class RetryPolicy:
    """Retry a failed step ``max_attempts - 1`` times, waiting ``interval_seconds`` times
    ``backoff_rate`` to the power of the retry; only for the failure reasons given."""

    max_attempts: int = 2
    interval_seconds: float = 1.0
    backoff_rate: float = 2.0
    failure_reasons: Sequence[str] | None = None

    def to_json(self) -> dict[str, Any]:
        reasons = list(self.failure_reasons) if self.failure_reasons is not None else None
        return {
            "max_attempts": self.max_attempts,
            "interval_seconds": self.interval_seconds,
            "backoff_rate": self.backoff_rate,
            "failure_reasons": reasons,
        }


class LocalCode:
    """A local ``.py`` file a step runs; uploaded when the pipeline is upserted (not a
    dataclass: compiling a step leaves it in place for the upload)."""

    def __init__(self, path: Path) -> None:
        self.path = path


class Step(ABC):
    """A step of a pipeline; each type says what its ``arguments`` are."""

    type = ""

    def __init__(
        self,
        name: str,
        *,
        depends_on: Sequence[Step | str] = (),
        cache_config: CacheConfig | None = None,
        retry_policy: RetryPolicy | None = None,
        description: str = "",
    ) -> None:
        self.name = name
        self.depends_on = list(depends_on)
        self.cache_config = cache_config
        self.retry_policy = retry_policy
        self.description = description

    @property
    def properties(self) -> Properties:
        return Properties(self.name)

    @abstractmethod
    def arguments(self) -> dict[str, Any]:
        """The room's request this step makes, without its name (expressions kept)."""

    def bind(self, session: Any) -> None:
        """Use the pipeline's session for what the step uploads, unless it has its own
        (only steps with an estimator upload anything)."""
        return

    def property_files(self) -> list[PropertyFile]:
        return []

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "arguments": to_json(self.arguments()),
            "depends_on": [getattr(d, "name", d) for d in self.depends_on],
            "description": self.description,
        }
        if self.cache_config is not None:
            document["cache_config"] = self.cache_config.to_json()
        if self.retry_policy is not None:
            document["retry_policy"] = self.retry_policy.to_json()
        files = self.property_files()
        if files:
            document["property_files"] = to_json(files)
        return document


class ProcessingStep(Step):
    """A processing job: ``sql=`` over the inputs, or ``code="prepare.py"`` (a local file,
    uploaded at upsert) run as a script. ``inputs`` are ``{"input_name", "source"}``
    (dicts or ``ProcessingInput`` objects) and ``outputs`` ``{"output_name", ...}``."""

    type = "Processing"

    def __init__(
        self,
        name: str,
        *,
        inputs: Sequence[Any],
        outputs: Sequence[Any] = (),
        sql: str | Mapping[str, str] | Expression | None = None,
        code: str | Path | None = None,
        arguments: Sequence[Any] = (),
        environment: Mapping[str, Any] | None = None,
        resources: Mapping[str, Any] | None = None,
        max_runtime_seconds: int | None = None,
        property_files: Sequence[PropertyFile] = (),
        **options: Any,
    ) -> None:
        super().__init__(name, **options)
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.sql, self.code = sql, code
        self.script_arguments = list(arguments)
        self.environment = dict(environment or {})
        self.resources = dict(resources or {})
        self.max_runtime_seconds = max_runtime_seconds
        self._property_files = list(property_files)

    def arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "processing_inputs": self.inputs,
            "processing_outputs": self.outputs,
        }
        if self.sql is not None:
            arguments["sql"] = self.sql
        if self.code is not None:
            arguments["entry_point"] = Path(self.code).name
            arguments["source_uri"] = LocalCode(Path(self.code))
        for key, value in (
            ("arguments", self.script_arguments),
            ("environment", self.environment),
            ("resources", self.resources),
        ):
            if value:
                arguments[key] = value
        if self.max_runtime_seconds is not None:
            arguments["stopping_condition"] = {"max_runtime_seconds": self.max_runtime_seconds}
        return arguments

    def property_files(self) -> list[PropertyFile]:
        return self._property_files


class TrainingStep(Step):
    """A training job of an ``Estimator`` on ``inputs`` (channel → URI or expression)."""

    type = "Training"

    def __init__(
        self, name: str, *, estimator: Any, inputs: Mapping[str, Any], **options: Any
    ) -> None:
        super().__init__(name, **options)
        self.estimator = estimator
        self.inputs = dict(inputs)

    def arguments(self) -> dict[str, Any]:
        return _training_request(self.estimator, self.inputs)

    def bind(self, session: Any) -> None:
        if not self.estimator.has_session():
            self.estimator.session = session


class TuningStep(Step):
    """A tuning job of a ``HyperparameterTuner`` on ``inputs``."""

    type = "Tuning"

    def __init__(self, name: str, *, tuner: Any, inputs: Mapping[str, Any], **options: Any) -> None:
        super().__init__(name, **options)
        self.tuner = tuner
        self.inputs = dict(inputs)

    def arguments(self) -> dict[str, Any]:
        literal = {k: v for k, v in self.inputs.items() if not isinstance(v, Expression)}
        request = self.tuner.tuning_job_request("placeholder", literal)
        request.pop("name")
        definition = request["training_job_definition"]
        definition["channels"] = {**definition["channels"], **_expressions(self.inputs)}
        return request

    def bind(self, session: Any) -> None:
        if not self.tuner.estimator.has_session():
            self.tuner.estimator.session = session

    def get_top_model_artifacts(self) -> Properties:
        return self.properties.best_model_artifacts


class TransformStep(Step):
    type = "Transform"

    def __init__(
        self,
        name: str,
        *,
        model_name: Any,
        data: Any,
        content_type: str = "text/csv",
        split_type: str = "Line",
        accept: str = "text/csv",
        **arguments: Any,
    ) -> None:
        options = {k: arguments.pop(k) for k in _STEP_OPTIONS if k in arguments}
        super().__init__(name, **options)
        self.request = {
            "model_name": model_name,
            "transform_input": {
                "data_source": data,
                "content_type": content_type,
                "split_type": split_type,
            },
            "transform_output": {"accept": accept},
            **arguments,
        }

    def arguments(self) -> dict[str, Any]:
        return self.request


class RegisterModelStep(Step):
    """Register a model package version in ``model_package_group_name`` (made if missing)
    from a training job (``training_job_name=train.properties.training_job_name``)."""

    type = "RegisterModel"

    def __init__(self, name: str, *, model_package_group_name: Any, **request: Any) -> None:
        options = {k: request.pop(k) for k in _STEP_OPTIONS if k in request}
        super().__init__(name, **options)
        self.request = {"model_package_group_name": model_package_group_name, **request}

    def arguments(self) -> dict[str, Any]:
        return self.request


class CreateModelStep(Step):
    type = "CreateModel"

    def __init__(self, name: str, *, model_name: Any = None, **source: Any) -> None:
        options = {k: source.pop(k) for k in _STEP_OPTIONS if k in source}
        super().__init__(name, **options)
        self.request = {**source, **({"model_name": model_name} if model_name else {})}

    def arguments(self) -> dict[str, Any]:
        return self.request


class DeployStep(Step):
    """Serve ``model_name`` at ``endpoint_name``: created, or moved to the new model."""

    type = "Deploy"

    def __init__(
        self,
        name: str,
        *,
        endpoint_name: Any,
        model_name: Any,
        instance_count: int = 1,
        variant_name: str = "AllTraffic",
        **options: Any,
    ) -> None:
        super().__init__(name, **options)
        self.request = {
            "endpoint_name": endpoint_name,
            "model_name": model_name,
            "instance_count": instance_count,
            "variant_name": variant_name,
        }

    def arguments(self) -> dict[str, Any]:
        return self.request


class ConditionStep(Step):
    """Run ``if_steps`` when every condition holds, else ``else_steps``."""

    type = "Condition"

    def __init__(
        self,
        name: str,
        *,
        conditions: Sequence[Condition],
        if_steps: Sequence[Step] = (),
        else_steps: Sequence[Step] = (),
        **options: Any,
    ) -> None:
        super().__init__(name, **options)
        self.conditions = list(conditions)
        self.if_steps, self.else_steps = list(if_steps), list(else_steps)

    def arguments(self) -> dict[str, Any]:
        return {
            "conditions": self.conditions,
            "if_steps": [s.name for s in self.if_steps],
            "else_steps": [s.name for s in self.else_steps],
        }


class FailStep(Step):
    """End the execution Failed with ``error_message`` (a string or a ``Join``)."""

    type = "Fail"

    def __init__(self, name: str, *, error_message: Any = "", **options: Any) -> None:
        super().__init__(name, **options)
        self.error_message = error_message

    def arguments(self) -> dict[str, Any]:
        return {"error_message": self.error_message}


_STEP_OPTIONS = ("depends_on", "cache_config", "retry_policy", "description")


def _expressions(inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in inputs.items() if isinstance(v, Expression)}


def _training_request(estimator: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The estimator's CreateTrainingJob body; local inputs are uploaded, expressions kept."""
    literal = {k: v for k, v in inputs.items() if not isinstance(v, Expression)}
    request = estimator.training_job_request(literal)
    request["channels"] = {**request["channels"], **_expressions(inputs)}
    request["tags"] = estimator.tags
    return request
