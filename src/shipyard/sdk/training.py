"""``Estimator`` and ``TrainingJob``: train with a built-in algorithm or your own script."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.core.errors import ValidationError
from shipyard.debugger.schemas import RuleConfiguration
from shipyard.sdk.client import Session
from shipyard.sdk.jobs import FINAL_STATUSES as FINAL_STATUSES  # still importable from here
from shipyard.sdk.jobs import JobResource, upload_directory
from shipyard.sdk.registry import ModelPackageGroup
from shipyard.sdk.waiting import content_name, unique_name


class TrainingJob(JobResource):
    """A training job on the server, by name."""

    collection = "training-jobs"
    noun = "training job"

    def curves(self) -> dict[str, dict[str, tuple[list[int], list[float]]]]:
        """The per-iteration metrics, by metric and channel: ``{"auc": {"train": (steps,
        values), "validation": (steps, values)}}`` for ``train:auc`` and ``validation:auc``."""
        curves: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
        for point in self.metrics():
            if point["step"] is None:
                continue
            channel, _, metric = point["name"].rpartition(":")
            steps, values = curves.setdefault(metric, {}).setdefault(channel or "-", ([], []))
            steps.append(point["step"])
            values.append(point["value"])
        return curves

    def debugger_notifications(self) -> list[dict[str, Any]]:
        """The deliveries of the job's debugger Notify actions, with their status."""
        return self.session.get(self._path("debugger-notifications"))["deliveries"]


class Estimator:
    """A training job definition: ``Estimator(algorithm="xgboost", target="label", ...)``.

    ``fit({"train": ..., "validation": ...})`` accepts local paths (uploaded for you),
    pandas DataFrames, or ``shipyard://`` URIs. For your own script give
    ``entry_point="train.py"`` and optionally ``source_dir``; ``instance_count=N`` runs
    it as N data-parallel ranks (the same as ``resources={"instance_count": N}``).
    A script's ``rules`` (``shipyard.debugger.Rule`` objects or dicts) are evaluated by
    its ``shipyard.debugger.Hook``, recording as ``debugger_hook_config`` says
    (``{"save_interval": 10}``); see docs/debugger.md.
    """

    def __init__(
        self,
        algorithm: str | None = None,
        *,
        entry_point: str | None = None,
        source_dir: str | Path | None = None,
        target: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        resources: Mapping[str, Any] | None = None,
        instance_count: int | None = None,
        max_run: int = 86400,
        metric_definitions: list[dict[str, str]] | None = None,
        max_retry_attempts: int = 1,
        tags: Mapping[str, str] | None = None,
        base_job_name: str | None = None,
        debugger_hook_config: Mapping[str, Any] | None = None,
        rules: Sequence[RuleConfiguration | Mapping[str, Any]] | None = None,
        session: Session | None = None,
    ) -> None:
        self.algorithm = algorithm
        self.entry_point = entry_point
        self.source_dir = source_dir
        self.target = target
        self.hyperparameters = dict(hyperparameters or {})
        self.resources = dict(resources or {})
        self.instance_count = instance_count
        self.max_run = max_run
        self.metric_definitions = list(metric_definitions or [])
        self.max_retry_attempts = max_retry_attempts
        self.tags = dict(tags or {})
        self.base_job_name = base_job_name
        self.debugger_hook_config = debugger_hook_config
        self.rules = list(rules or [])
        self._session = session
        self.latest_training_job: TrainingJob | None = None

    @property
    def session(self) -> Session:
        """The session given, else one from ``SHIPYARD_URL``/``SHIPYARD_TOKEN``, made when
        first needed (a pipeline gives its own to the estimators of its steps)."""
        if self._session is None:
            self._session = Session()
        return self._session

    @session.setter
    def session(self, session: Session) -> None:
        self._session = session

    def has_session(self) -> bool:
        return self._session is not None

    def fit(
        self,
        inputs: Mapping[str, Any],
        *,
        wait: bool = True,
        logs: bool = True,
        job_name: str | None = None,
    ) -> TrainingJob:
        name = job_name or unique_name(self.base_job_name or self.algorithm or "script")
        request = {"name": name, **self.training_job_request(inputs), "tags": self.tags}
        self.session.post("/api/v1/training-jobs", json=request)
        self.latest_training_job = TrainingJob(name, self.session)
        if wait:
            self.latest_training_job.wait(logs=logs)
        return self.latest_training_job

    def training_job_request(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The CreateTrainingJob body this estimator stands for, without a name or tags,
        with `inputs` uploaded where they are local (a tuner's training job definition)."""
        resources = self._resources()  # a contradiction fails before anything is uploaded
        request: dict[str, Any] = {
            "algorithm": self.algorithm,
            "hyperparameters": self.hyperparameters,
            "channels": {channel: self._channel_uri(value) for channel, value in inputs.items()},
            "target": self.target,
            "resources": resources,
            "stopping_condition": {"max_runtime_seconds": self.max_run},
            "metric_definitions": self.metric_definitions,
            "retry_strategy": {"maximum_retry_attempts": self.max_retry_attempts},
        }
        if self.debugger_hook_config is not None:
            request["debugger_hook_config"] = dict(self.debugger_hook_config)
        if self.rules:
            request["debugger_rule_configurations"] = [
                r.model_dump() if isinstance(r, RuleConfiguration) else dict(r) for r in self.rules
            ]
        if self.entry_point:
            request["entry_point"], request["source_uri"] = self._upload_source()
        return request

    @classmethod
    def attach(cls, training_job_name: str, session: Session | None = None) -> Estimator:
        """An estimator for a training job that exists (a tuner's best one, say), with its
        definition, ready to `deploy()`."""
        session = session or Session()
        job = TrainingJob(training_job_name, session)
        description = job.describe()
        estimator = cls(
            description["algorithm"],
            entry_point=description["entry_point"],
            target=description["target"],
            hyperparameters=description["hyperparameters"],
            resources=description["resources"],
            max_run=description["stopping_condition"]["max_runtime_seconds"],
            metric_definitions=description["metric_definitions"],
            tags=description["tags"],
            debugger_hook_config=description.get("debugger_hook_config"),
            rules=description.get("debugger_rule_configurations"),
            session=session,
        )
        estimator.latest_training_job = job
        return estimator

    def describe(self) -> dict[str, Any]:
        return self._require_job().describe()

    @property
    def model_data(self) -> str:
        return self.describe()["model_artifacts"]

    def deploy(self, endpoint_name: str | None = None, *, wait: bool = True) -> Any:
        """Create a model, an endpoint config and an endpoint; returns a Predictor."""
        from shipyard.sdk.serving import Model

        job = self._require_job()
        model = Model(training_job_name=job.name, name=job.name, session=self.session)
        return model.deploy(endpoint_name=endpoint_name or job.name, wait=wait)

    def register(self, model_package_group_name: str, **options: Any) -> Any:
        """Register the trained model as the next version of a model package group (which
        must exist); ``options`` are those of ``ModelPackageGroup.register``."""
        group = ModelPackageGroup(model_package_group_name, session=self.session)
        return group.register(training_job_name=self._require_job().name, **options)

    def _resources(self) -> dict[str, Any]:
        """``resources`` with ``instance_count`` in it, which may be given either way."""
        if self.instance_count is None:
            return self.resources
        given = self.resources.get("instance_count", self.instance_count)
        if given != self.instance_count:
            raise ValidationError(
                f"resources says {given}, instance_count says {self.instance_count}; give one",
                "instance_count",
            )
        return self.resources | {"instance_count": self.instance_count}

    def _require_job(self) -> TrainingJob:
        if self.latest_training_job is None:
            raise ValidationError("call fit() first: this estimator has no training job yet")
        return self.latest_training_job

    def _channel_uri(self, value: Any) -> str:
        if isinstance(value, str) and value.startswith("shipyard://"):
            return value
        if hasattr(value, "to_parquet"):
            return self._upload_frame(value)
        path = Path(value).expanduser()
        if not path.is_file():
            raise ValidationError(
                f"{value!r} is not a file, a DataFrame or a shipyard:// URI", "inputs"
            )
        return self.session.upload(path, dataset_name=content_name(path))

    def _upload_frame(self, frame: Any) -> str:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "data.parquet"
            frame.to_parquet(path, index=False)
            return self.session.upload(path, dataset_name=content_name(path))

    def _upload_source(self) -> tuple[str, str]:
        assert self.entry_point is not None
        if self.source_dir is None:
            path = Path(self.entry_point)
            if not path.is_file():
                raise ValidationError(f"{self.entry_point!r} does not exist", "entry_point")
            return path.name, self.session.upload(path)
        source = Path(self.source_dir)
        if not (source / self.entry_point).is_file():
            raise ValidationError(f"{self.entry_point!r} is not in {source}", "entry_point")
        return self.entry_point, upload_directory(self.session, source)
