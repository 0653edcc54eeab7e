"""Rollouts: every endpoint update is one, from its config (blue) to another (green).

The model host starts green's instances while blue serves, then moves the traffic along
the rollout's steps (:func:`advance`, at each tick of its duty): each share is held for
the wait interval, then the new fleet bakes at 100% and blue, idle, is kept for the
termination wait before it stops. If a rollback alarm is in ALARM before that, or the
rollout runs past its maximum execution time, or somebody rolls it back, the traffic goes
back to blue and the endpoint is what it was before the update. Every decision is made
here, in the database, and the host only applies it: a server that stops mid-rollout
comes back on blue (:func:`abandon_in_progress`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.core.clock import as_utc, utcnow
from shipyard.core.errors import InvalidState, NotFound, ValidationError
from shipyard.monitoring.alarms.states import alarm_states
from shipyard.serving.models import Endpoint, EndpointConfig
from shipyard.serving.rollouts.models import Rollout
from shipyard.serving.rollouts.plan import traffic_steps
from shipyard.serving.rollouts.schemas import DeploymentConfig, RolloutEvent, RolloutOut

DEPLOYING, SHIFTING, BAKING = "Deploying", "Shifting", "Baking"
COMPLETED, ROLLED_BACK, FAILED, STOPPED = "Completed", "RolledBack", "Failed", "Stopped"
IN_PROGRESS = (DEPLOYING, SHIFTING, BAKING)
ALARM_FIELD = "deployment_config.auto_rollback_configuration.alarms"

Outcome = Literal["Shift", "Complete", "RollBack"]


@dataclass(frozen=True)
class Move:
    """What the host does with the rollout now: give green ``traffic_percent`` of the
    traffic (``Shift``), make green the only fleet (``Complete``), or go back to blue."""

    outcome: Outcome
    traffic_percent: float
    messages: list[str] = field(default_factory=list)
    """What happened in this call, for the endpoint's log."""


# ---- starting ---------------------------------------------------------------------------
def start_rollout(
    session: Session,
    endpoint: Endpoint,
    to_config: EndpointConfig,
    deployment_config: DeploymentConfig | None,
    owner: str,
) -> Rollout:
    """A new rollout of ``endpoint`` to ``to_config``, before the endpoint's row moves to
    it; refused while another one is going on."""
    going_on = active_rollout(session, endpoint.name)
    if going_on is not None:
        raise InvalidState(
            f"endpoint '{endpoint.name}' is being updated to '{going_on.to_endpoint_config_name}' "
            f"(rollout {going_on.id}, {going_on.status}): wait for it to end or roll it back"
        )
    config = deployment_config or DeploymentConfig()
    _check_alarms_exist(session, config)
    policy = config.blue_green_update_policy
    now = utcnow()
    row = Rollout(
        id=uuid.uuid4().hex,
        endpoint_name=endpoint.name,
        from_endpoint_config_name=endpoint.endpoint_config_name,
        to_endpoint_config_name=to_config.name,
        from_status=endpoint.status,
        from_previous_endpoint_config_name=endpoint.previous_endpoint_config_name,
        deployment_config=config.model_dump(),
        steps=traffic_steps(policy.traffic_routing_configuration, _instances(to_config)),
        step=-1,
        traffic_percent=0.0,
        status=DEPLOYING,
        reason=None,
        events=[],
        next_step_at=None,
        owner=owner,
        started_at=now,
        last_modified_at=now,
        ended_at=None,
    )
    _event(row, now, f"starting the instances of '{to_config.name}'")
    session.add(row)
    session.flush()
    return row


def _instances(config: EndpointConfig) -> int:
    """The new fleet's instances (a serverless variant counts as one)."""
    return sum(int(v.get("initial_instance_count", 1)) for v in config.production_variants)


def _check_alarms_exist(session: Session, config: DeploymentConfig) -> None:
    rollback = config.auto_rollback_configuration
    if rollback is None:
        return
    names = [a.alarm_name for a in rollback.alarms]
    known = alarm_states(session, names)
    for index, name in enumerate(names):
        if name not in known:
            raise ValidationError(f"no alarm '{name}'", f"{ALARM_FIELD}.{index}.alarm_name")


# ---- moving on --------------------------------------------------------------------------
def advance(session: Session, rollout_id: str, now: datetime) -> Move:
    """Take every step of the rollout that is due at ``now``, unless a rollback alarm is in
    ALARM or the rollout ran out of time (then it rolls back); what the host does."""
    row = session.get(Rollout, rollout_id, with_for_update=True)
    if row is None:
        return Move("RollBack", 0.0, ["the rollout is gone: the old fleet serves"])
    if row.status == COMPLETED:
        return Move("Complete", 100.0)
    if row.status not in IN_PROGRESS:  # rolled back, stopped or failed elsewhere
        return Move("RollBack", 0.0, [f"rollout {row.id} {row.status}: {row.reason}"])
    seen = len(row.events)
    config = DeploymentConfig.model_validate(row.deployment_config)
    if row.status == DEPLOYING:
        row.status, row.next_step_at = SHIFTING, now
        _event(row, now, f"the instances of '{row.to_endpoint_config_name}' are up")
    why = _alarm_firing(session, config) or _out_of_time(row, config, now)
    if why is not None:
        roll_back(session, row, why, now)
        return Move("RollBack", 0.0, _messages(row, seen))
    while row.status in IN_PROGRESS and _due(row, now):
        _take_step(session, row, config, now)
    row.last_modified_at = now
    outcome: Outcome = "Complete" if row.status == COMPLETED else "Shift"
    return Move(outcome, row.traffic_percent, _messages(row, seen))


def _due(row: Rollout, now: datetime) -> bool:
    due = as_utc(row.next_step_at)
    return due is not None and due <= now


def _take_step(session: Session, row: Rollout, config: DeploymentConfig, now: datetime) -> None:
    policy = config.blue_green_update_policy
    wait = policy.traffic_routing_configuration.wait_interval_in_seconds
    last = len(row.steps) - 1
    if row.step < last:
        row.step += 1
        row.traffic_percent = row.steps[row.step]
        row.status = BAKING if row.step == last else SHIFTING
        row.next_step_at = now + timedelta(seconds=wait)
        held = f", held {wait} s" if wait else ""
        _event(row, now, f"{row.traffic_percent:g}% of the traffic goes to the new fleet{held}")
    elif row.step == last:
        row.step += 1
        termination = policy.termination_wait_in_seconds
        row.next_step_at = now + timedelta(seconds=termination)
        after = f" in {termination} s" if termination else ""
        _event(row, now, f"baked: the old fleet '{row.from_endpoint_config_name}' stops{after}")
    else:
        _complete(session, row, now)


def _alarm_firing(session: Session, config: DeploymentConfig) -> str | None:
    rollback = config.auto_rollback_configuration
    if rollback is None:
        return None
    states = alarm_states(session, [a.alarm_name for a in rollback.alarms])
    for name, (state, reason) in sorted(states.items()):
        if state == "ALARM":
            return f"alarm '{name}' is in ALARM: {reason}"
    return None


def _out_of_time(row: Rollout, config: DeploymentConfig, now: datetime) -> str | None:
    limit = config.blue_green_update_policy.maximum_execution_timeout_in_seconds
    started = as_utc(row.started_at) or row.started_at
    if limit is not None and now - started > timedelta(seconds=limit):
        return f"the rollout ran past its maximum execution timeout of {limit} s"
    return None


# ---- ending -----------------------------------------------------------------------------
def complete(session: Session, rollout_id: str, note: str) -> None:
    """Green serves alone (deployed without a rollout, ``note`` says why)."""
    row = session.get(Rollout, rollout_id, with_for_update=True)
    if row is not None and row.status in IN_PROGRESS:
        _complete(session, row, utcnow(), note)


def _complete(session: Session, row: Rollout, now: datetime, note: str | None = None) -> None:
    """Green serves alone: the endpoint is InService on it."""
    _end(row, COMPLETED, None, now)
    row.traffic_percent = 100.0
    _event(row, now, note or f"completed: '{row.to_endpoint_config_name}' serves alone")
    endpoint = session.get(Endpoint, row.endpoint_name)
    if endpoint is not None and endpoint.status not in ("Deleting", "OutOfService"):
        endpoint.status, endpoint.failure_reason, endpoint.last_modified_at = "InService", None, now


def roll_back(session: Session, row: Rollout, reason: str, now: datetime) -> None:
    """Back to blue: the endpoint is again what it was before the update, and says why."""
    _end(row, ROLLED_BACK, reason, now)
    _event(row, now, f"rolled back to '{row.from_endpoint_config_name}': {reason}")
    _restore(
        session,
        row,
        row.from_status,
        f"the update to '{row.to_endpoint_config_name}' was rolled back: {reason}",
        now,
    )


def fail(session: Session, rollout_id: str, reason: str) -> None:
    """Green could not start: the endpoint is what it was, and says why."""
    row = session.get(Rollout, rollout_id, with_for_update=True)
    if row is None or row.status not in IN_PROGRESS:
        return
    now = utcnow()
    _end(row, FAILED, reason, now)
    _event(row, now, f"failed: {reason}")
    message = f"the update to '{row.to_endpoint_config_name}' failed: {reason}"
    _restore(session, row, row.from_status, message, now)


def stop(session: Session, endpoint_name: str, reason: str) -> None:
    """The endpoint is stopped or deleted: its rollout, if any, ends here (on blue's config)."""
    row = active_rollout(session, endpoint_name)
    if row is None:
        return
    now = utcnow()
    _end(row, STOPPED, reason, now)
    _event(row, now, f"stopped: {reason}")
    endpoint = session.get(Endpoint, row.endpoint_name)
    if endpoint is not None:
        endpoint.endpoint_config_name = row.from_endpoint_config_name
        endpoint.previous_endpoint_config_name = row.from_previous_endpoint_config_name


def abandon_in_progress(session: Session) -> list[str]:
    """After a restart: every rollout that was going on goes back to blue (its green
    instances died with the server); the endpoints'."""
    rows = session.scalars(select(Rollout).where(Rollout.status.in_(IN_PROGRESS))).all()
    now = utcnow()
    for row in rows:
        roll_back(session, row, "the server stopped during the rollout", now)
    return [row.endpoint_name for row in rows]


def _end(row: Rollout, status: str, reason: str | None, now: datetime) -> None:
    row.status, row.reason, row.next_step_at = status, reason, None
    row.ended_at = row.last_modified_at = now
    if status != COMPLETED:
        row.traffic_percent = 0.0


def _restore(session: Session, row: Rollout, status: str, reason: str, now: datetime) -> None:
    endpoint = session.get(Endpoint, row.endpoint_name)
    if endpoint is None or endpoint.status in ("Deleting", "OutOfService"):
        return
    endpoint.endpoint_config_name = row.from_endpoint_config_name
    endpoint.previous_endpoint_config_name = row.from_previous_endpoint_config_name
    endpoint.status, endpoint.failure_reason, endpoint.last_modified_at = status, reason, now


def _event(row: Rollout, now: datetime, message: str) -> None:
    event = {"at": now.isoformat(), "traffic_percent": row.traffic_percent, "message": message}
    row.events = [*row.events, event]


def _messages(row: Rollout, seen: int) -> list[str]:
    return [f"rollout {row.id}: {event['message']}" for event in row.events[seen:]]


# ---- reading ----------------------------------------------------------------------------
def rollout_to(session: Session, endpoint_name: str, endpoint_config_name: str) -> str | None:
    """The id of the rollout of the endpoint to that config going on, if any."""
    row = active_rollout(session, endpoint_name)
    if row is None or row.to_endpoint_config_name != endpoint_config_name:
        return None
    return row.id


def active_rollout(session: Session, endpoint_name: str) -> Rollout | None:
    query = select(Rollout).where(
        Rollout.endpoint_name == endpoint_name, Rollout.status.in_(IN_PROGRESS)
    )
    return session.scalars(query).first()


def latest_rollout(session: Session, endpoint_name: str) -> RolloutOut | None:
    query = select(Rollout).where(Rollout.endpoint_name == endpoint_name)
    row = session.scalars(query.order_by(Rollout.started_at.desc()).limit(1)).first()
    return rollout_out(row) if row is not None else None


def describe_rollout(session: Session, endpoint_name: str, rollout_id: str) -> RolloutOut:
    row = session.get(Rollout, rollout_id)
    if row is None or row.endpoint_name != endpoint_name:
        raise NotFound(f"endpoint '{endpoint_name}' has no rollout '{rollout_id}'")
    return rollout_out(row)


def list_rollouts(
    session: Session, endpoint_name: str, *, limit: int, offset: int
) -> list[RolloutOut]:
    query = select(Rollout).where(Rollout.endpoint_name == endpoint_name)
    rows = session.scalars(query.order_by(Rollout.started_at.desc()).limit(limit).offset(offset))
    return [rollout_out(row) for row in rows]


def delete_rollouts(session: Session, endpoint_name: str) -> None:
    for row in session.scalars(select(Rollout).where(Rollout.endpoint_name == endpoint_name)):
        session.delete(row)


def rollout_out(row: Rollout) -> RolloutOut:
    return RolloutOut(
        rollout_id=row.id,
        endpoint_name=row.endpoint_name,
        from_endpoint_config_name=row.from_endpoint_config_name,
        to_endpoint_config_name=row.to_endpoint_config_name,
        status=row.status,  # type: ignore[arg-type]
        traffic_percent=row.traffic_percent,
        steps=row.steps,
        deployment_config=DeploymentConfig.model_validate(row.deployment_config),
        reason=row.reason,
        events=[RolloutEvent.model_validate(event) for event in row.events],
        next_step_at=as_utc(row.next_step_at),
        owner=row.owner,
        started_at=as_utc(row.started_at) or row.started_at,
        last_modified_at=as_utc(row.last_modified_at) or row.last_modified_at,
        ended_at=as_utc(row.ended_at),
    )
