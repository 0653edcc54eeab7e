"""``ModelPackageGroup`` and ``ModelPackage``: register models, approve them, deploy them.

group = ModelPackageGroup.create("fraud", description="card fraud")
package = group.register(training_job_name=estimator.latest_training_job.name)
package.approve("validation AUC 0.97 beats production")
predictor = package.deploy("fraud-live")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.core.names import validate_name
from shipyard.sdk.client import Session
from shipyard.sdk.serving import Model, Predictor

GROUPS = "/api/v1/model-package-groups"


class ModelPackageGroup:
    """A model package group on the server, by name: its versions are ModelPackages."""

    def __init__(self, name: str, session: Session | None = None) -> None:
        self.name = validate_name(name)
        self.session = session or Session()

    @classmethod
    def create(
        cls,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        session: Session | None = None,
    ) -> ModelPackageGroup:
        group = cls(name, session)
        group.session.post(
            GROUPS, json={"name": group.name, "description": description, "tags": dict(tags or {})}
        )
        return group

    @classmethod
    def list_groups(cls, session: Session | None = None) -> list[dict[str, Any]]:
        return (session or Session()).list_all(GROUPS)

    @property
    def path(self) -> str:
        return f"{GROUPS}/{self.name}"

    def describe(self) -> dict[str, Any]:
        return self.session.get(self.path)

    def delete(self) -> None:
        """Refused while a package is not Rejected or a model was made from one."""
        self.session.delete(self.path)

    def packages(self, approval_status: str | None = None) -> list[ModelPackage]:
        """The versions, newest first; only those of ``approval_status`` if given."""
        items = self.session.list_all(f"{self.path}/packages", approval_status=approval_status)
        return [ModelPackage(self.name, item["version"], self.session) for item in items]

    def latest_approved(self) -> ModelPackage | None:
        approved = self.packages("Approved")
        return approved[0] if approved else None

    def register(
        self,
        *,
        training_job_name: str | None = None,
        tuning_job_name: str | None = None,
        model_data: str | Path | None = None,
        model_format: str | None = None,
        feature_names: Sequence[str] | None = None,
        problem_type: str | None = None,
        classes: Sequence[Any] | None = None,
        inference_spec: Mapping[str, Any] | None = None,
        model_metrics: Mapping[str, float] | None = None,
        evaluation_report: Mapping[str, Any] | str | Path | None = None,
        approval_status: str = "PendingManualApproval",
        description: str = "",
        customer_metadata: Mapping[str, str] | None = None,
        trust_pickle: bool = False,
    ) -> ModelPackage:
        """Register the next version: a training job's model (or a tuning job's best), or a
        model file (a local path is uploaded first) in ``model_format`` with its
        ``feature_names``, ``problem_type`` and ``classes`` (or a whole ``inference_spec``).
        ``evaluation_report``: a dict, a ``shipyard://`` URI or a local JSON file."""
        spec = dict(inference_spec or {})
        if feature_names is not None:
            spec["input_schema"] = {"features": list(feature_names)}
        if problem_type is not None:
            output = {"problem_type": problem_type}
            spec["output_schema"] = output | ({"classes": list(classes)} if classes else {})
        body: dict[str, Any] = {
            "training_job_name": training_job_name,
            "tuning_job_name": tuning_job_name,
            "model_data_uri": self._uri(model_data),
            "model_format": model_format,
            "inference_spec": spec or None,
            "model_metrics": dict(model_metrics or {}),
            "evaluation_report": self._report(evaluation_report),
            "approval_status": approval_status,
            "description": description,
            "customer_metadata": dict(customer_metadata or {}),
            "trust_pickle": trust_pickle,
        }
        created = self.session.post(f"{self.path}/packages", json=body)
        return ModelPackage(self.name, created["version"], self.session)

    def _uri(self, value: str | Path | None) -> str | None:
        if value is None or (isinstance(value, str) and value.startswith("shipyard://")):
            return value
        return self.session.upload(Path(value).expanduser())

    def _report(self, value: Mapping[str, Any] | str | Path | None) -> Any:
        if value is None or isinstance(value, Mapping):
            return None if value is None else dict(value)
        return self._uri(value)


class ModelPackage:
    """Version ``version`` of a model package group."""

    def __init__(self, group: str, version: int, session: Session | None = None) -> None:
        self.group = validate_name(group)
        self.version = int(version)
        self.session = session or Session()

    @classmethod
    def from_name(cls, name: str, session: Session | None = None) -> ModelPackage:
        """The package ``"<group>/<version>"``."""
        group, _, version = name.partition("/")
        return cls(group, int(version), session)

    @property
    def name(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def path(self) -> str:
        return f"{GROUPS}/{self.group}/packages/{self.version}"

    def describe(self) -> dict[str, Any]:
        return self.session.get(self.path)

    @property
    def approval_status(self) -> str:
        return self.describe()["approval_status"]

    def approve(self, reason: str | None = None) -> dict[str, Any]:
        return self.set_approval_status("Approved", reason)

    def reject(self, reason: str) -> dict[str, Any]:
        return self.set_approval_status("Rejected", reason)

    def set_approval_status(self, status: str, reason: str | None = None) -> dict[str, Any]:
        body = {"approval_status": status, "reason": reason}
        return self.session.request("PATCH", self.path, json=body).json()

    def model_card(self) -> dict[str, Any]:
        return self.session.get(f"{self.path}/model-card")

    def set_model_card(self, **card: Any) -> dict[str, Any]:
        """Replace the model card (``intended_use=``, ``risk_rating=``, ...)."""
        return self.session.request("PUT", f"{self.path}/model-card", json=card).json()

    def model(self, model_name: str | None = None) -> Model:
        """A servable model of this package (not created yet)."""
        name = model_name or _model_name(self.group, self.version)
        return Model(name=name, model_package_name=self.name, session=self.session)

    def create_model(self, model_name: str | None = None) -> dict[str, Any]:
        return self.model(model_name).create()

    def deploy(
        self,
        endpoint_name: str | None = None,
        *,
        model_name: str | None = None,
        wait: bool = True,
    ) -> Predictor:
        """A model from this package, a one-variant endpoint config and the endpoint (which
        needs the package Approved, or ``registry:DeployUnapproved``)."""
        model = self.model(model_name)
        return model.deploy(endpoint_name or model.name, wait=wait)


def _model_name(group: str, version: int) -> str:
    suffix = f"-v{version}"
    return group[: 63 - len(suffix)].rstrip("-") + suffix
