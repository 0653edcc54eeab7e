"""The pipeline engine: moves every running execution on, as far as it can go, each time
the scheduler calls :func:`advance_all` (every second, and whenever a job ends).

Each execution advances in one transaction holding its row: steps whose jobs ended are
recorded, ready steps start (independent ones together, each job queued for the worker),
steps reused from the cache finish at once. Everything is in the database, so an
execution goes on after a restart, and a step whose job died with its worker fails with
the worker's reason (or is retried by its policy) — no step stays Executing forever.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.core import logstore
from shipyard.core.artifacts import BaseArtifactStore, key_from_uri
from shipyard.core.clock import as_utc, utcnow
from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.core.errors import NotFound, ShipyardError, ValidationError
from shipyard.core.names import srn
from shipyard.lineage import service as lineage
from shipyard.monitoring.metrics import service as metrics
from shipyard.pipelines import caching, catalog
from shipyard.pipelines.expressions import Scope, read_json_path, resolve
from shipyard.pipelines.models import PipelineExecution, PipelineStepExecution, PipelineVersion
from shipyard.pipelines.schemas import PipelineDefinition, StepDefinition
from shipyard.pipelines.steps import RUNNERS, Outcome, StepContext, describe_error
from shipyard.pipelines.validation import CheckedPipeline, check_definition
from shipyard.security import service as security
from shipyard.security.iam import Principal, authorize

log = logging.getLogger(__name__)
DUTY_NAME = "pipelines"
"""The scheduler's name for :func:`advance_all` (``context.run_soon(DUTY_NAME)``)."""
ACTIVE = ("Executing", "Stopping")
SETTLED_STEPS = ("Succeeded", "Failed", "Stopped", "Skipped")
EXECUTION_KEY = ""  # the execution's own status among its steps' (no step has this name)


def advance_all(db: Database, settings: Settings, store: BaseArtifactStore) -> bool:
    """Advance every active execution; True when jobs were queued."""
    with db.session_scope() as session:
        ids = list(
            session.scalars(
                select(PipelineExecution.id)
                .where(PipelineExecution.status.in_(ACTIVE))
                .order_by(PipelineExecution.created_at)
            )
        )
    queued = False
    for execution_id in ids:
        try:
            queued = advance(db, settings, store, execution_id) or queued
        except Exception:  # one broken execution must not stall the others
            log.exception("pipeline execution %s could not advance", execution_id)
    return queued


def advance(db: Database, settings: Settings, store: BaseArtifactStore, execution_id: str) -> bool:
    """Advance one execution, unless another process holds it now; True when jobs were queued."""
    with db.session_scope() as session:
        execution = session.scalar(
            select(PipelineExecution)
            .where(PipelineExecution.id == execution_id)
            .with_for_update(skip_locked=True)
        )
        if execution is None or execution.status not in ACTIVE:
            return False
        try:
            run = ExecutionRun.load(session, settings, store, execution)
        except ShipyardError as exc:  # e.g. a definition this version no longer accepts
            execution.status, execution.ended_at = "Failed", utcnow()
            execution.failure_reason = f"its pipeline version cannot run: {exc.message}"
            return False
        return run.advance()


@dataclass
class ExecutionRun:
    session: Session
    settings: Settings
    store: BaseArtifactStore
    execution: PipelineExecution
    pipeline: CheckedPipeline
    steps: dict[str, PipelineStepExecution]
    principal: Principal | None
    queued: bool = False
    _property_files: dict[tuple[str, str], Any] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        session: Session,
        settings: Settings,
        store: BaseArtifactStore,
        execution: PipelineExecution,
    ) -> ExecutionRun:
        version = session.get(
            PipelineVersion, (execution.pipeline_name, execution.pipeline_version)
        )
        assert version is not None
        pipeline = _checked(version)
        rows = session.scalars(
            select(PipelineStepExecution).where(PipelineStepExecution.execution_id == execution.id)
        )
        try:
            principal: Principal | None = security.principal_of(session, execution.started_by)
        except NotFound:
            principal = None
        return cls(
            session, settings, store, execution, pipeline, {r.step_name: r for r in rows}, principal
        )

    # ---- one pass ---------------------------------------------------------------------
    def advance(self) -> bool:
        """One pass; every step and execution status it changed is told in the log."""
        before = self._statuses()
        queued = self._advance()
        self._log_changes(before)
        return queued

    def _advance(self) -> bool:
        if self.principal is None:
            self._finish("Failed", f"the user '{self.execution.started_by}' who started it is gone")
            return False
        progressed = True
        while progressed and self.execution.status in ACTIVE:
            progressed = self._follow_running()
            if self.execution.status == "Stopping":
                progressed = self._stop_running() or progressed
            elif not self._failed_steps():
                progressed = self._start_ready() or progressed
            self._settle()
        return self.queued

    def _follow_running(self) -> bool:
        changed = False
        for row in self.steps.values():
            if row.status in ("Executing", "Stopping"):
                changed = self._poll(row) or changed
        return changed

    def _start_ready(self) -> bool:
        changed = False
        now = utcnow()
        for name in self.pipeline.order:
            row = self.steps[name]
            if row.status != "NotStarted":
                continue
            readiness = self._readiness(name)
            if readiness == "skip":
                self._set(row, "Skipped")
                changed = True
            elif readiness == "ready" and (as_utc(row.next_attempt_at) or now) <= now:
                self._start(row, self.pipeline.step(name))
                changed = True
        return changed

    def _stop_running(self) -> bool:
        changed = False
        for row in self.steps.values():
            if row.status == "Executing":
                runner = RUNNERS[row.step_type]
                if runner.stop is not None and row.resource_name:
                    runner.stop(self._context(), row.resource_name)
                row.status = "Stopping"
                changed = True
            elif row.status == "NotStarted":
                self._set(row, "Skipped")
                changed = True
        return changed

    def _settle(self) -> None:
        """End the execution once no step can move any more."""
        if any(r.status in ("Executing", "Stopping") for r in self.steps.values()):
            return
        if self.execution.status == "Stopping":
            self._skip_the_rest()
            self._finish("Stopped", self.execution.failure_reason or "Stopped by user")
            return
        failed = self._failed_steps()
        if failed:
            self._skip_the_rest()
            first = failed[0]
            kind = "Fail step" if first.step_type == "Fail" else "Step"
            self._finish("Failed", f"{kind} '{first.step_name}' failed: {first.failure_reason}")
        elif all(r.status in SETTLED_STEPS for r in self.steps.values()):
            self._finish("Succeeded", None)

    # ---- one step ---------------------------------------------------------------------
    def _readiness(self, name: str) -> str:
        for condition, outcome in self.pipeline.branches.get(name, []):
            decided = self.steps[condition]
            if decided.status == "Skipped":
                return "skip"
            if decided.status != "Succeeded":
                return "wait"
            if decided.properties.get("outcome") is not outcome:
                return "skip"
        statuses = [self.steps[upstream].status for upstream in self.pipeline.dependencies[name]]
        if "Skipped" in statuses:
            return "skip"
        return "ready" if all(s == "Succeeded" for s in statuses) else "wait"

    def _start(self, row: PipelineStepExecution, step: StepDefinition) -> None:
        kind = catalog.KINDS[step.type]
        row.attempts += 1
        row.started_at, row.ended_at, row.next_attempt_at = utcnow(), None, None
        row.failure_reason = None
        try:
            arguments = resolve(step.arguments, self._scope(), f"steps.{step.name}.arguments")
            name = self._resource_name(step, row.attempts, arguments)
            if kind.action is not None:
                authorize(self._principal, kind.action, _resource_of(step.type, name, arguments))
            if self._reuse(row, step, arguments):
                return
            with self.session.begin_nested():  # a refused start leaves nothing half-made
                outcome = RUNNERS[step.type].start(self._context(), name, arguments)
            row.resource_kind = kind.resource_kind
            row.resource_name = (outcome.resource_name or name) if kind.resource_kind else None
        except Exception as exc:  # the step fails, not the engine: nothing stays Executing
            outcome = Outcome("Failed", failure_reason=_reason(exc, f"steps.{step.name}.arguments"))
        if outcome.status != "Failed":
            self._record_lineage(row)
        if outcome.status == "Executing":
            self.queued = self.queued or kind.asynchronous
            row.status, row.properties = "Executing", outcome.properties
        else:
            self._apply(row, step, outcome)

    def _poll(self, row: PipelineStepExecution) -> bool:
        runner = RUNNERS[row.step_type]
        if runner.poll is None or not row.resource_name:
            self._apply(
                row,
                self.pipeline.step(row.step_name),
                Outcome("Failed", failure_reason="lost its resource"),
            )
            return True
        try:
            outcome = runner.poll(self._context(), row.resource_name, row.properties)
        except Exception as exc:
            outcome = Outcome("Failed", failure_reason=_reason(exc))
        if outcome.status == "Executing":
            return False
        if row.status == "Stopping":
            outcome = Outcome(
                "Stopped", outcome.properties, outcome.failure_reason or "Stopped by user"
            )
        self._apply(row, self.pipeline.step(row.step_name), outcome)
        return True

    def _apply(self, row: PipelineStepExecution, step: StepDefinition, outcome: Outcome) -> None:
        if outcome.status == "Failed" and self._may_retry(row, step, outcome.failure_reason or ""):
            policy = step.retry_policy
            assert policy is not None
            wait = policy.interval_seconds * policy.backoff_rate ** (row.attempts - 1)
            row.status, row.failure_reason = "NotStarted", outcome.failure_reason
            row.next_attempt_at = utcnow() + timedelta(seconds=wait)
            return
        row.status = outcome.status
        row.properties = outcome.properties
        row.failure_reason = outcome.failure_reason
        row.ended_at = utcnow()

    def _may_retry(self, row: PipelineStepExecution, step: StepDefinition, reason: str) -> bool:
        policy = step.retry_policy
        if (
            policy is None
            or row.attempts >= policy.max_attempts
            or self.execution.status != "Executing"
        ):
            return False
        return policy.failure_reasons is None or any(
            reason.startswith(r) for r in policy.failure_reasons
        )

    def _reuse(
        self, row: PipelineStepExecution, step: StepDefinition, arguments: dict[str, Any]
    ) -> bool:
        """Finish the step from the cache when an earlier run of it had the same inputs."""
        if step.cache_config is None or not step.cache_config.enabled:
            row.cache_key = None
            return False
        row.cache_key = caching.cache_key(self.session, self.store, step, arguments)
        hit = caching.find(
            self.session, self.execution.pipeline_name, row.cache_key, step.cache_config
        )
        if hit is None:
            return False
        row.status, row.properties, row.ended_at = "Succeeded", dict(hit.properties), utcnow()
        row.resource_kind, row.resource_name = hit.resource_kind, hit.resource_name
        row.cached_from_execution = hit.cached_from_execution or hit.execution_id
        return True

    # ---- the log ----------------------------------------------------------------------
    def _statuses(self) -> dict[str, tuple[str, int]]:
        steps = {name: (row.status, row.attempts) for name, row in self.steps.items()}
        return {**steps, EXECUTION_KEY: (self.execution.status, 0)}

    def _log_changes(self, before: dict[str, tuple[str, int]]) -> None:
        lines = [
            step_log_line(row)
            for name, row in self.steps.items()
            if before.get(name) != (row.status, row.attempts)
        ]
        if before[EXECUTION_KEY][0] != self.execution.status:
            lines.append(execution_log_line(self.execution))
        if lines:
            now = utcnow()
            logstore.append(
                self.session,
                logstore.pipeline_group(self.execution.pipeline_name),
                self.execution.id,
                [(now, line) for line in lines],
            )

    # ---- helpers ----------------------------------------------------------------------
    @property
    def _principal(self) -> Principal:
        assert self.principal is not None
        return self.principal

    def _context(self) -> StepContext:
        return StepContext(
            self.session, self.settings, self.store, self._principal, self.execution.id
        )

    def _scope(self) -> Scope:
        started = as_utc(self.execution.created_at) or self.execution.created_at
        return Scope(
            parameters=self.execution.parameters,
            properties=self._property,
            json_get=self._json_get,
            variables={
                "PipelineExecutionId": self.execution.id,
                "PipelineName": self.execution.pipeline_name,
                "StartDateTime": started.isoformat(),
            },
        )

    def _property(self, step: str, path: list[str], field: str) -> Any:
        value: Any = self.steps[step].properties
        for key in path:
            if not isinstance(value, dict) or key not in value:
                have = ", ".join(sorted(value)) if isinstance(value, dict) else "nothing"
                raise ValidationError(
                    f"step '{step}' has no property {'.'.join(path)} (it has: {have})", field
                )
            value = value[key]
        return value

    def _json_get(self, step: str, property_file: str, json_path: str, field: str) -> Any:
        cached = self._property_files.get((step, property_file))
        if cached is None:
            declared = next(
                p for p in self.pipeline.step(step).property_files if p.name == property_file
            )
            output = self._property(
                step, ["processing_outputs", declared.output_name, "uri"], field
            )
            key = f"{key_from_uri(output)}/{declared.path}"
            try:
                cached = json.loads(self.store.get_bytes(key))
            except NotFound:
                raise ValidationError(
                    f"step '{step}' wrote no {declared.path} in output '{declared.output_name}'",
                    field,
                ) from None
            except ValueError:
                raise ValidationError(
                    f"{declared.path} of step '{step}' is not JSON", field
                ) from None
            self._property_files[(step, property_file)] = cached
        return read_json_path(cached, json_path, field)

    def _resource_name(self, step: StepDefinition, attempt: int, arguments: dict[str, Any]) -> str:
        if step.type == "CreateModel" and arguments.get("model_name"):
            return str(arguments["model_name"])
        pipeline = self.execution.pipeline_name[:24].rstrip("-")
        base = f"{pipeline}-{step.name[:24].rstrip('-')}-{self.execution.id[:8]}"
        return base if attempt == 1 else f"{base}-{attempt}"

    def _record_lineage(self, row: PipelineStepExecution) -> None:
        if row.resource_kind and row.resource_name:
            lineage.record(
                self.session,
                lineage.Entity("pipeline-execution", self.execution.id),
                lineage.Entity(row.resource_kind, row.resource_name),
                "Ran",
            )

    def _failed_steps(self) -> list[PipelineStepExecution]:
        return [
            self.steps[n]
            for n in self.pipeline.order
            if self.steps[n].status in ("Failed", "Stopped")
        ]

    def _skip_the_rest(self) -> None:
        for row in self.steps.values():
            if row.status == "NotStarted":
                self._set(row, "Skipped")

    def _set(self, row: PipelineStepExecution, status: str) -> None:
        row.status = status
        row.ended_at = utcnow()

    def _finish(self, status: str, reason: str | None) -> None:
        self.execution.status = status
        self.execution.failure_reason = reason
        self.execution.ended_at = utcnow()
        metrics.record_pipeline_execution(
            self.session, self.execution.pipeline_name, status, self.execution.ended_at
        )


_CHECKED: dict[str, CheckedPipeline] = {}
"""Checked definitions by content hash: an execution advances every second, and a
version's definition never changes."""


def step_log_line(row: PipelineStepExecution) -> str:
    """``step 'train' (Training) Executing, attempt 1: training-job 'fraud-…'``."""
    line = f"step '{row.step_name}' ({row.step_type}) {row.status}"
    if row.status == "NotStarted" and row.failure_reason:
        at = as_utc(row.next_attempt_at)
        when = f" at {at.isoformat(timespec='seconds')}" if at else ""
        return f"{line}: attempt {row.attempts} failed, retrying{when}: {row.failure_reason}"
    if row.status in ("Executing", "Stopping"):
        line += f", attempt {row.attempts}"
    if row.resource_kind and row.resource_name:
        line += f": {row.resource_kind} '{row.resource_name}'"
    if row.cached_from_execution and row.status == "Succeeded":
        line += f" from the cache of execution {row.cached_from_execution}"
    if row.failure_reason and row.status in ("Failed", "Stopped"):
        line += f": {row.failure_reason}"
    return line


def execution_log_line(execution: PipelineExecution) -> str:
    line = f"execution {execution.status}"
    return f"{line}: {execution.failure_reason}" if execution.failure_reason else line


def _checked(version: PipelineVersion) -> CheckedPipeline:
    checked = _CHECKED.get(version.definition_sha256)
    if checked is None:
        if len(_CHECKED) > 1000:
            _CHECKED.clear()
        checked = check_definition(PipelineDefinition.model_validate(version.definition))
        _CHECKED[version.definition_sha256] = checked
    return checked


def _resource_of(step_type: str, name: str, arguments: dict[str, Any]) -> str:
    """The resource id a step's action is authorized on."""
    if step_type == "Deploy":
        return srn("endpoint", str(arguments["endpoint_name"]))
    if step_type == "RegisterModel":
        return srn("model-package-group", str(arguments["model_package_group_name"]))
    kind = catalog.KINDS[step_type].resource_kind
    assert kind is not None
    return srn(kind, name)


def _reason(exc: Exception, field: str = "") -> str:
    """Why a step could not start or be followed, in one line."""
    if isinstance(exc, PydanticValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in (field, *first["loc"]) if part != "")
        return f"ValidationError: {where}: {first['msg']}"
    if isinstance(exc, ShipyardError):
        return describe_error(exc)
    log.error("a pipeline step failed on an unexpected error", exc_info=exc)
    return f"InternalError: {type(exc).__name__}: {exc}"
