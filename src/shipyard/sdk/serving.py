"""``Model`` and ``Predictor``: deploy a trained model to an endpoint and get predictions."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shipyard.core.names import validate_name
from shipyard.sdk.client import Session
from shipyard.sdk.waiting import UnexpectedStatus, wait_until

ENDPOINT_SETTLED = ("InService", "Failed")


class Model:
    """A servable model: from a completed training job, from stored model artifacts, or
    from a registered model package (``model_package_name="group/version"``)."""

    def __init__(
        self,
        *,
        name: str,
        training_job_name: str | None = None,
        model_data: str | None = None,
        model_package_name: str | None = None,
        session: Session | None = None,
    ) -> None:
        self.name = name
        self.training_job_name = training_job_name
        self.model_data = model_data
        self.model_package_name = model_package_name
        self.session = session or Session()

    def create(self) -> dict[str, Any]:
        return self.session.post(
            "/api/v1/models",
            json={
                "name": self.name,
                "training_job_name": self.training_job_name,
                "model_data_uri": self.model_data,
                "model_package_name": self.model_package_name,
            },
        )

    def deploy(self, endpoint_name: str | None = None, *, wait: bool = True) -> Predictor:
        """Create this model, a one-variant endpoint config and the endpoint."""
        endpoint_name = endpoint_name or self.name
        self.create()
        self.session.post(
            "/api/v1/endpoint-configs",
            json={
                "name": endpoint_name,
                "production_variants": [{"variant_name": "AllTraffic", "model_name": self.name}],
            },
        )
        self.session.post(
            "/api/v1/endpoints", json={"name": endpoint_name, "endpoint_config_name": endpoint_name}
        )
        predictor = Predictor(endpoint_name, session=self.session)
        if wait:
            predictor.wait()
        return predictor


class Predictor:
    """Sends data to an endpoint: a DataFrame, a list of records or lists, a numpy array; for
    a text model also a string or a list of strings."""

    def __init__(self, endpoint_name: str, session: Session | None = None) -> None:
        self.endpoint_name = validate_name(endpoint_name, "endpoint_name")
        self.session = session or Session()
        self.last_variant: str | None = None

    def predict(self, data: Any, *, target_variant: str | None = None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if target_variant:
            headers["X-Shipyard-Target-Variant"] = target_variant
        response = self.session.request(
            "POST",
            f"/api/v1/endpoints/{self.endpoint_name}/invocations",
            content=json.dumps({"instances": _instances(data)}),
            headers=headers,
        )
        self.last_variant = response.headers.get("X-Shipyard-Variant")
        return response.json()

    def describe(self) -> dict[str, Any]:
        return self.session.get(f"/api/v1/endpoints/{self.endpoint_name}")

    def wait(self, timeout: float | None = 300) -> dict[str, Any]:
        description = wait_until(self.describe, done=ENDPOINT_SETTLED, timeout=timeout)
        if description["status"] != "InService":
            raise UnexpectedStatus(
                f"endpoint {self.endpoint_name} is {description['status']}: "
                f"{description.get('failure_reason')}",
                description,
            )
        return description

    def shadow_report(
        self, start_time: datetime | None = None, end_time: datetime | None = None
    ) -> dict[str, Any]:
        """How each shadow variant answered next to production (the last hour by default):
        requests, errors, agreement rate, mean absolute difference, latency percentiles."""
        return self.session.get(
            f"/api/v1/endpoints/{self.endpoint_name}/shadow-report",
            start_time=start_time.isoformat() if start_time else None,
            end_time=end_time.isoformat() if end_time else None,
        )

    def captured_records(
        self,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        *,
        variant: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """The invocations data capture kept (the last hour by default), oldest first."""
        found = self.session.get(
            f"/api/v1/endpoints/{self.endpoint_name}/data-capture",
            start_time=start_time.isoformat() if start_time else None,
            end_time=end_time.isoformat() if end_time else None,
            variant=variant,
            limit=limit,
        )
        return found["records"]

    def promote_shadow(self, variant_name: str, endpoint_config_name: str) -> dict[str, Any]:
        """Make the shadow the only production variant (through a new endpoint config of
        that name); ``wait()`` for the update."""
        return self.session.post(
            f"/api/v1/endpoints/{self.endpoint_name}/promote-shadow",
            json={"variant_name": variant_name, "endpoint_config_name": endpoint_config_name},
        )

    def delete_endpoint(self) -> None:
        self.session.delete(f"/api/v1/endpoints/{self.endpoint_name}")


def _instances(data: Any) -> list[Any]:
    if hasattr(data, "to_dict") and hasattr(data, "columns"):
        return data.to_dict(orient="records")
    if hasattr(data, "tolist"):
        rows = data.tolist()
        return rows if rows and isinstance(rows[0], list) else [rows]
    if isinstance(data, dict | str):  # one record, or one document for a text model
        return [data]
    return [row.tolist() if hasattr(row, "tolist") else row for row in data]
