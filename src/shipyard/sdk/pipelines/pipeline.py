"""``Pipeline``: define, upsert and start; ``PipelineExecution``: follow, stop, retry."""

from __future__ import annotations

import runpy
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shipyard.core.errors import ShipyardError, ValidationError
from shipyard.core.names import validate_name
from shipyard.sdk.client import Session
from shipyard.sdk.pipelines.expressions import Parameter
from shipyard.sdk.pipelines.steps import LocalCode, Step
from shipyard.sdk.waiting import UnexpectedStatus, wait_until

FINAL_STATUSES = ("Succeeded", "Failed", "Stopped")


class Pipeline:
    """``Pipeline(name, parameters=[...], steps=[...])``, as in SageMaker Pipelines.

    Steps inside a ConditionStep's branches need not be listed: they are found there.
    """

    def __init__(
        self,
        name: str,
        *,
        parameters: Sequence[Parameter] = (),
        steps: Sequence[Step] = (),
        description: str = "",
        session: Session | None = None,
    ) -> None:
        self.name = validate_name(name)
        self.parameters = list(parameters)
        self.steps = list(steps)
        self.description = description
        self._session = session

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = Session()
        return self._session

    def all_steps(self) -> list[Step]:
        """The steps, with those reachable through condition branches, each once."""
        found: dict[str, Step] = {}
        pending = list(self.steps)
        while pending:
            step = pending.pop(0)
            if step.name in found:
                continue
            found[step.name] = step
            pending.extend(getattr(step, "if_steps", []))
            pending.extend(getattr(step, "else_steps", []))
        return list(found.values())

    def definition(self) -> dict[str, Any]:
        """The compiled definition (local code is uploaded through the session)."""
        steps = []
        for step in self.all_steps():
            step.bind(self.session)
            steps.append(self._upload_code(step.to_json()))
        return {
            "version": 1,
            "parameters": [p.definition() for p in self.parameters],
            "steps": steps,
        }

    def upsert(self) -> dict[str, Any]:
        """Create the pipeline or add a version; returns its description."""
        body = {"definition": self.definition(), "description": self.description}
        return self.session.request("PUT", f"/api/v1/pipelines/{self.name}", json=body).json()

    def start(
        self, parameters: Mapping[str, Any] | None = None, display_name: str | None = None
    ) -> PipelineExecution:
        body = {"parameters": dict(parameters or {}), "display_name": display_name}
        execution = self.session.post(f"/api/v1/pipelines/{self.name}/executions", json=body)
        return PipelineExecution(self.name, execution["id"], self.session)

    def describe(self) -> dict[str, Any]:
        return self.session.get(f"/api/v1/pipelines/{self.name}")

    def list_executions(self) -> list[dict[str, Any]]:
        return self.session.list_all(f"/api/v1/pipelines/{self.name}/executions")

    def delete(self) -> None:
        self.session.delete(f"/api/v1/pipelines/{self.name}")

    def _upload_code(self, document: Any) -> Any:
        if isinstance(document, LocalCode):
            if not document.path.is_file():
                raise ValidationError(f"{document.path} does not exist", "code")
            return self.session.upload(document.path)
        if isinstance(document, dict):
            return {k: self._upload_code(v) for k, v in document.items()}
        if isinstance(document, list):
            return [self._upload_code(v) for v in document]
        return document


class PipelineExecution:
    """One execution of the pipeline ``pipeline_name``."""

    def __init__(
        self, pipeline_name: str, execution_id: str, session: Session | None = None
    ) -> None:
        self.pipeline_name = validate_name(pipeline_name, "pipeline_name")
        if not execution_id.isalnum():
            raise ValidationError("is not a pipeline execution id", "execution_id")
        self.id = execution_id
        self.session = session or Session()

    @property
    def path(self) -> str:
        return f"/api/v1/pipelines/{self.pipeline_name}/executions/{self.id}"

    def describe(self) -> dict[str, Any]:
        return self.session.get(self.path)

    def list_steps(self) -> list[dict[str, Any]]:
        return self.describe()["steps"]

    def stop(self) -> dict[str, Any]:
        return self.session.post(f"{self.path}/stop")

    def retry(self) -> dict[str, Any]:
        return self.session.post(f"{self.path}/retry")

    def wait(
        self,
        timeout: float | None = None,
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Block until the execution ends; raise UnexpectedStatus unless it Succeeded.
        ``on_change(step)`` is called for each step status seen for the first time."""
        seen: set[tuple[str, str]] = set()

        def report(description: dict[str, Any]) -> None:
            for step in description["steps"]:
                key = (step["step_name"], step["status"])
                if key not in seen and on_change is not None:
                    on_change(step)
                seen.add(key)

        description = wait_until(
            self.describe, done=FINAL_STATUSES, on_poll=report, timeout=timeout
        )
        if description["status"] != "Succeeded":
            raise UnexpectedStatus(
                f"pipeline execution {self.id} ended {description['status']}: "
                f"{description.get('failure_reason')}",
                description,
            )
        return description


def load_pipeline_file(path: str, session: Session | None = None) -> Pipeline:
    """The pipeline a Python file defines: a module-level ``pipeline``, a ``get_pipeline()``
    function, or its only ``Pipeline`` object."""
    namespace = _run_file(path)
    if callable(namespace.get("get_pipeline")):
        found = namespace["get_pipeline"]()
    elif isinstance(namespace.get("pipeline"), Pipeline):
        found = namespace["pipeline"]
    else:
        pipelines = [v for v in namespace.values() if isinstance(v, Pipeline)]
        if len(pipelines) != 1:
            raise ShipyardError(
                f"{path} defines {len(pipelines)} Pipeline objects; name one `pipeline` "
                "or define get_pipeline()"
            )
        found = pipelines[0]
    if not isinstance(found, Pipeline):
        raise ShipyardError(f"get_pipeline() in {path} did not return a Pipeline")
    if session is not None:
        found._session = session
    return found


def _run_file(path: str) -> dict[str, Any]:
    """Run the file; an error in it is one ShipyardError naming the file and line."""
    try:
        return runpy.run_path(path, run_name="__shipyard_pipeline__")
    except (ShipyardError, OSError):
        raise
    except Exception as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
        where = f"{path}:{frames[-1].lineno}" if frames else path
        raise ShipyardError(f"{where}: {type(exc).__name__}: {exc}") from None
