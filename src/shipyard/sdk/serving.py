"""``Model`` and ``Predictor``: deploy a trained model to an endpoint and get predictions, in
real time or asynchronously (``AsyncInference``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shipyard.core.errors import ValidationError
from shipyard.core.names import validate_name
from shipyard.sdk.client import Session
from shipyard.sdk.waiting import UnexpectedStatus, wait_until

ENDPOINT_SETTLED = ("InService", "Failed")
ROLLOUT_ENDED = ("Completed", "RolledBack", "Failed", "Stopped")
ASYNC_ENDED = ("Completed", "Failed", "Expired")
ASYNC_HEADERS = {
    "inference_id": "X-Shipyard-Inference-Id",
    "request_ttl_seconds": "X-Shipyard-Request-TTL-Seconds",
    "invocation_timeout_seconds": "X-Shipyard-Invocation-Timeout-Seconds",
    "input_location": "X-Shipyard-Input-Location",
}


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

    def update_endpoint(
        self,
        endpoint_config_name: str,
        deployment_config: dict[str, Any] | None = None,
        *,
        wait: bool = True,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Move the endpoint to another config by a blue/green rollout (SageMaker's
        ``DeploymentConfig`` in snake case: traffic routing, waits, rollback alarms). With
        ``wait``, returns the rollout once it completed, and raises UnexpectedStatus if it
        rolled back or failed (the endpoint then serves its old config)."""
        updated = self.session.request(
            "PUT",
            f"/api/v1/endpoints/{self.endpoint_name}",
            json={
                "endpoint_config_name": endpoint_config_name,
                "deployment_config": deployment_config,
            },
        ).json()
        rollout = updated["rollout"]
        return self.wait_for_rollout(rollout["rollout_id"], timeout) if wait else rollout

    def wait_for_rollout(
        self,
        rollout_id: str,
        timeout: float | None = None,
        on_poll: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """The rollout once it completed; UnexpectedStatus (with the rollout) if it rolled
        back, failed or stopped."""
        path = f"/api/v1/endpoints/{self.endpoint_name}/rollouts/{rollout_id}"
        rollout = wait_until(
            lambda: self.session.get(path), done=ROLLOUT_ENDED, on_poll=on_poll, timeout=timeout
        )
        if rollout["status"] != "Completed":
            raise UnexpectedStatus(
                f"the update of {self.endpoint_name} to {rollout['to_endpoint_config_name']} "
                f"is {rollout['status']}: {rollout['reason']}",
                rollout,
            )
        return rollout

    def rollouts(self) -> list[dict[str, Any]]:
        """The endpoint's updates, newest first."""
        return self.session.list_all(f"/api/v1/endpoints/{self.endpoint_name}/rollouts")

    def rollback(self) -> dict[str, Any]:
        """Roll back the update going on, else go back to the config served before the
        last update."""
        return self.session.post(f"/api/v1/endpoints/{self.endpoint_name}/rollback")

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

    def predict_async(
        self,
        data: Any = None,
        *,
        input_location: str | None = None,
        inference_id: str | None = None,
        request_ttl_seconds: int | None = None,
        invocation_timeout_seconds: int | None = None,
    ) -> AsyncInference:
        """Queue a request (the endpoint's config needs an ``async_inference_config``):
        ``data`` as :meth:`predict` takes it, or the ``shipyard://`` object at
        ``input_location``. ``.result()`` waits for the answer."""
        if (data is None) == (input_location is None):
            raise ValidationError("give data or input_location", "data")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        options = {
            ASYNC_HEADERS["inference_id"]: inference_id,
            ASYNC_HEADERS["request_ttl_seconds"]: request_ttl_seconds,
            ASYNC_HEADERS["invocation_timeout_seconds"]: invocation_timeout_seconds,
            ASYNC_HEADERS["input_location"]: input_location,
        }
        headers.update({key: str(value) for key, value in options.items() if value is not None})
        content = json.dumps({"instances": _instances(data)}) if data is not None else b""
        accepted = self.session.request(
            "POST",
            f"/api/v1/endpoints/{self.endpoint_name}/async-invocations",
            content=content,
            headers=headers,
        ).json()
        return AsyncInference(
            self.endpoint_name,
            accepted["inference_id"],
            output_location=accepted["output_location"],
            failure_location=accepted["failure_location"],
            session=self.session,
        )

    def async_inference(self, inference_id: str) -> AsyncInference:
        """An async request made earlier, by its id."""
        return AsyncInference(self.endpoint_name, inference_id, session=self.session)

    def list_async_inferences(self, status: str | None = None) -> list[dict[str, Any]]:
        """The endpoint's async requests, newest first (only those of ``status``)."""
        return self.session.list_all(
            f"/api/v1/endpoints/{self.endpoint_name}/async-invocations", status=status
        )

    def delete_endpoint(self) -> None:
        self.session.delete(f"/api/v1/endpoints/{self.endpoint_name}")


class AsyncInference:
    """One async request to an endpoint: ``describe()`` its status, ``wait()`` for its end,
    ``result()`` for its answer (SageMaker's AsyncInferenceResponse)."""

    def __init__(
        self,
        endpoint_name: str,
        inference_id: str,
        *,
        output_location: str | None = None,
        failure_location: str | None = None,
        session: Session | None = None,
    ) -> None:
        self.endpoint_name = validate_name(endpoint_name, "endpoint_name")
        self.inference_id = inference_id
        self.output_location = output_location
        self.failure_location = failure_location
        self.session = session or Session()

    @property
    def path(self) -> str:
        return f"/api/v1/endpoints/{self.endpoint_name}/async-invocations/{self.inference_id}"

    def describe(self) -> dict[str, Any]:
        description: dict[str, Any] = self.session.get(self.path)
        self.output_location = description["output_location"]
        self.failure_location = description["failure_location"]
        return description

    def wait(self, timeout: float | None = 300) -> dict[str, Any]:
        """Wait until it is Completed (its description); UnexpectedStatus when it ended
        Failed or Expired, with the reason."""
        description = wait_until(self.describe, done=ASYNC_ENDED, timeout=timeout)
        if description["status"] != "Completed":
            raise UnexpectedStatus(
                f"async inference {self.inference_id} is {description['status']}: "
                f"{description.get('failure_reason')}",
                description,
            )
        return description

    def result(self, timeout: float | None = 300) -> Any:
        """The answer, once Completed: JSON decoded, CSV as text, anything else as bytes."""
        self.wait(timeout)
        response = self.session.request("GET", f"{self.path}/result")
        content_type = response.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            return response.json()
        if content_type.startswith("text/"):
            return response.text
        return response.content


def _instances(data: Any) -> list[Any]:
    if hasattr(data, "to_dict") and hasattr(data, "columns"):
        return data.to_dict(orient="records")
    if hasattr(data, "tolist"):
        rows = data.tolist()
        return rows if rows and isinstance(rows[0], list) else [rows]
    if isinstance(data, dict | str):  # one record, or one document for a text model
        return [data]
    return [row.tolist() if hasattr(row, "tolist") else row for row in data]
