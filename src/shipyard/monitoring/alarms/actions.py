"""Alarm actions: what each type needs, checked at PutMetricAlarm, and how it runs.

Every action runs with the permissions of the alarm's owner, in the transaction that
changes the alarm's state (each in a savepoint, so a failed one leaves nothing behind),
and is recorded in the alarm's history with its outcome. Every type is a service call
that only writes to the database (a topic's deliveries are sent later by its duty), so
the state change, the actions and their records commit together or not at all.

=================================  ==========================================  ===========
type                               fields                                      permission
=================================  ==========================================  ===========
``notify``                         ``topic``                                   monitoring:Publish
``serving:StopEndpoint``           ``endpoint_name``                           (the type)
``serving:RollbackEndpoint``       ``endpoint_name``                           (the type)
``training:StopTrainingJob``       ``training_job_name``                       (the type)
``pipelines:StartPipelineExecution`` ``pipeline_name``, optional ``parameters``  (the type)
=================================  ==========================================  ===========
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from shipyard.core.errors import ShipyardError, ValidationError
from shipyard.core.names import srn, validate_name
from shipyard.monitoring.alarms import history
from shipyard.monitoring.alarms.models import Alarm
from shipyard.monitoring.topics import service as topics
from shipyard.pipelines import service as pipelines
from shipyard.pipelines.schemas import ExecutionIn
from shipyard.security import service as security
from shipyard.security.iam import Principal, authorize
from shipyard.serving import service as serving
from shipyard.training import service as training

log = logging.getLogger(__name__)
NOTIFY = "notify"
SUCCEEDED, FAILED = "Succeeded", "Failed"
ACTION_FIELDS = ("alarm_actions", "ok_actions", "insufficient_data_actions")
FIELD_OF_STATE = {
    "ALARM": "alarm_actions",
    "OK": "ok_actions",
    "INSUFFICIENT_DATA": "insufficient_data_actions",
}


@dataclass(frozen=True)
class ActionType:
    target: str  # the field naming what it acts on
    kind: str  # that resource's srn kind
    permission: str
    run: Callable[[Session, Alarm, Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]
    optional: tuple[str, ...] = ()


def _notify(
    session: Session, alarm: Alarm, action: Mapping[str, Any], message: Mapping[str, Any]
) -> dict[str, Any]:
    subject = f"{message['NewStateValue']}: {alarm.name}"
    message_id = topics.publish(
        session,
        action["topic"],
        subject=subject,
        message=message,
        publisher=srn("alarm", alarm.name),
    )
    return {"message_id": message_id}


def _stop_endpoint(
    session: Session, _alarm: Alarm, action: Mapping[str, Any], _message: Mapping[str, Any]
) -> dict[str, Any]:
    endpoint = serving.stop_endpoint(session, action["endpoint_name"])
    return {"endpoint_status": endpoint.status}


def _rollback_endpoint(
    session: Session, _alarm: Alarm, action: Mapping[str, Any], _message: Mapping[str, Any]
) -> dict[str, Any]:
    endpoint = serving.rollback_endpoint(session, action["endpoint_name"])
    return {
        "endpoint_status": endpoint.status,
        "endpoint_config_name": endpoint.endpoint_config_name,
    }


def _stop_training_job(
    session: Session, _alarm: Alarm, action: Mapping[str, Any], _message: Mapping[str, Any]
) -> dict[str, Any]:
    job = training.stop_training_job(session, action["training_job_name"])
    return {"training_job_status": job.status}


def _start_pipeline(
    session: Session, alarm: Alarm, action: Mapping[str, Any], _message: Mapping[str, Any]
) -> dict[str, Any]:
    execution = pipelines.start_execution(
        session,
        action["pipeline_name"],
        ExecutionIn(parameters=action.get("parameters") or {}),
        started_by=alarm.owner,
        trigger=f"alarm:{alarm.name}",
    )
    return {"execution_id": execution.id}


ACTION_TYPES: dict[str, ActionType] = {
    NOTIFY: ActionType("topic", "topic", "monitoring:Publish", _notify),
    "serving:StopEndpoint": ActionType(
        "endpoint_name", "endpoint", "serving:StopEndpoint", _stop_endpoint
    ),
    "serving:RollbackEndpoint": ActionType(
        "endpoint_name", "endpoint", "serving:RollbackEndpoint", _rollback_endpoint
    ),
    "training:StopTrainingJob": ActionType(
        "training_job_name", "training-job", "training:StopTrainingJob", _stop_training_job
    ),
    "pipelines:StartPipelineExecution": ActionType(
        "pipeline_name",
        "pipeline",
        "pipelines:StartPipelineExecution",
        _start_pipeline,
        optional=("parameters",),
    ),
}


# ---- checked at PutMetricAlarm -----------------------------------------------------------------
def validate_actions(actions: Sequence[Mapping[str, Any]], field: str) -> list[dict[str, Any]]:
    """The actions as stored; a ValidationError naming e.g. ``alarm_actions.0.topic``."""
    checked = []
    for index, action in enumerate(actions):
        at = f"{field}.{index}"
        kind = action.get("type")
        if kind not in ACTION_TYPES:
            choices = ", ".join(ACTION_TYPES)
            raise ValidationError(
                f"unknown action type {kind!r}; expected one of {choices}", f"{at}.type"
            )
        spec = ACTION_TYPES[kind]
        allowed = {"type", spec.target, *spec.optional}
        for key in action:
            if key not in allowed:
                raise ValidationError(f"is not a field of a {kind} action", f"{at}.{key}")
        if spec.target not in action:
            raise ValidationError(f"a {kind} action needs it", f"{at}.{spec.target}")
        entry: dict[str, Any] = {
            "type": kind,
            spec.target: validate_name(action[spec.target], f"{at}.{spec.target}"),
        }
        if "parameters" in action:
            entry["parameters"] = _parameters(action["parameters"], f"{at}.parameters")
        checked.append(entry)
    return checked


def _parameters(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError("expected a JSON object of parameter values", field)
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool):
            raise ValidationError("expected a string, number or boolean", f"{field}.{key}")
    return dict(value)


def describe(action: Mapping[str, Any]) -> str:
    spec = ACTION_TYPES.get(action.get("type", ""))
    return f"{action.get('type')} {action.get(spec.target) if spec else ''}".strip()


# ---- run for a state change ------------------------------------------------------------------
def run_for_state(
    session: Session, alarm: Alarm, state: str, transition_id: int, message: Mapping[str, Any]
) -> list[str]:
    """Run the actions of ``state`` (when actions are enabled), recording each outcome in
    the history; the outcomes, in order."""
    if not alarm.actions_enabled:
        return []
    actions: list[dict[str, Any]] = getattr(alarm, FIELD_OF_STATE[state]) or []
    principal: Principal | None = None
    outcomes = []
    for index, action in enumerate(actions):
        detail: dict[str, Any] = {}
        error: str | None = None
        try:
            with session.begin_nested():
                principal = principal or security.principal_of(session, alarm.owner)
                detail = _run(session, alarm, principal, action, message)
        except ShipyardError as exc:
            error = f"{exc.code}: {exc.message}"
        except Exception as exc:  # an action's bug must not stop the others or the state
            log.exception("alarm %s: action %s failed", alarm.name, describe(action))
            error = f"{type(exc).__name__}: {exc}"
        outcome = FAILED if error else SUCCEEDED
        outcomes.append(outcome)
        summary = (
            f"Failed to execute action {describe(action)}: {error}"
            if error
            else f"Successfully executed action {describe(action)}"
        )
        history.record(
            session,
            alarm.name,
            history.ACTION,
            summary,
            {
                "transition_id": transition_id,
                "state": state,
                "index": index,
                "action": dict(action),
                "principal": alarm.owner,
                "outcome": outcome,
                "error": error,
                "detail": detail,
            },
        )
    return outcomes


def _run(
    session: Session,
    alarm: Alarm,
    principal: Principal,
    action: Mapping[str, Any],
    message: Mapping[str, Any],
) -> dict[str, Any]:
    spec = ACTION_TYPES.get(action.get("type", ""))
    if spec is None:
        raise ValidationError(f"unknown action type {action.get('type')!r}", "type")
    authorize(principal, spec.permission, srn(spec.kind, action[spec.target]))
    return spec.run(session, alarm, action, message)
