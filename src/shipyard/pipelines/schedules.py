"""Cron schedules and data triggers: the duties that start executions on their own.

A schedule's slot is taken by inserting its (pipeline, schedule, slot time) row: the key
makes the insert fail in every process but one, so a slot runs once however many
schedulers share the database. After downtime only the latest missed slot counts: it runs
(``run-once``) or is recorded as skipped (``skip``); older missed slots are not run.

A trigger starts one execution for every object that appears under its source; the objects
it has seen are rows with the same kind of key.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.core.artifacts import SCHEME, BaseArtifactStore, key_from_uri, uri_for
from shipyard.core.clock import as_utc, utcnow
from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.core.errors import AlreadyExists, NotFound, ShipyardError, ValidationError
from shipyard.core.names import validate_name
from shipyard.pipelines import service
from shipyard.pipelines.models import (
    PipelineSchedule,
    PipelineScheduleSlot,
    PipelineTrigger,
    PipelineTriggerObject,
)
from shipyard.pipelines.schemas import (
    ExecutionIn,
    ScheduleIn,
    ScheduleOut,
    TriggerIn,
    TriggerOut,
)
from shipyard.pipelines.validation import check_execution_parameters

log = logging.getLogger(__name__)
ON_TIME = timedelta(seconds=60)
"""A slot taken this late after its time is on time, not missed."""
MAX_NEW_OBJECTS = 100
"""Objects a trigger starts executions for in one tick; the rest wait for the next."""


# ---- schedules ------------------------------------------------------------------------------
def create_schedule(
    session: Session, pipeline_name: str, request: ScheduleIn, owner: str
) -> ScheduleOut:
    pipeline = service.get_pipeline(session, pipeline_name)
    name = validate_name(request.name)
    zone = _zone(request.timezone)
    _check_cron(request.cron)
    check_execution_parameters(service.latest_definition(session, pipeline), request.parameters)
    if session.get(PipelineSchedule, (pipeline.name, name)) is not None:
        raise AlreadyExists(f"pipeline '{pipeline.name}' already has a schedule '{name}'")
    now = utcnow()
    row = PipelineSchedule(
        pipeline_name=pipeline.name,
        name=name,
        cron=request.cron,
        timezone=zone.key,
        parameters=request.parameters,
        missed_slots=request.missed_slots,
        enabled=request.enabled,
        last_slot_at=_latest_slot(request.cron, zone, now),  # from now on, not before
        owner=owner,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return schedule_out(row)


def list_schedules(session: Session, pipeline_name: str) -> list[ScheduleOut]:
    pipeline = service.get_pipeline(session, pipeline_name)
    rows = session.scalars(
        select(PipelineSchedule)
        .where(PipelineSchedule.pipeline_name == pipeline.name)
        .order_by(PipelineSchedule.name)
    )
    return [schedule_out(r) for r in rows]


def delete_schedule(session: Session, pipeline_name: str, name: str) -> None:
    row = session.get(PipelineSchedule, (validate_name(pipeline_name), validate_name(name)))
    if row is None:
        raise NotFound(f"pipeline '{pipeline_name}' has no schedule '{name}'")
    session.delete(row)


def schedule_out(row: PipelineSchedule) -> ScheduleOut:
    zone = ZoneInfo(row.timezone)
    last = as_utc(row.last_slot_at)
    after = last or as_utc(row.created_at) or utcnow()
    return ScheduleOut(
        name=row.name,
        pipeline_name=row.pipeline_name,
        cron=row.cron,
        timezone=row.timezone,
        parameters=row.parameters,
        missed_slots=row.missed_slots,  # type: ignore[arg-type]
        enabled=row.enabled,
        last_slot_at=last,
        next_slot_at=_next_slot(row.cron, zone, after) if row.enabled else None,
        owner=row.owner,
        created_at=as_utc(row.created_at) or row.created_at,
    )


def run_due_schedules(db: Database, now: datetime | None = None) -> list[str]:
    """Take every schedule's due slot (at most one each); the executions started."""
    now = now or utcnow()
    with db.session_scope() as session:
        keys = [
            (r.pipeline_name, r.name)
            for r in session.scalars(
                select(PipelineSchedule).where(PipelineSchedule.enabled.is_(True))
            )
        ]
    started = []
    for key in keys:
        try:
            execution_id = _take_slot(db, key, now)
        except AlreadyExists:  # another scheduler took this slot first
            continue
        except Exception:
            log.exception("schedule %s/%s failed", *key)
            continue
        if execution_id is not None:
            started.append(execution_id)
    return started


def _take_slot(db: Database, key: tuple[str, str], now: datetime) -> str | None:
    with db.session_scope() as session:
        schedule = session.get(PipelineSchedule, key)
        if schedule is None or not schedule.enabled:
            return None
        slot = _latest_slot(schedule.cron, ZoneInfo(schedule.timezone), now)
        last = as_utc(schedule.last_slot_at)
        if last is not None and slot <= last:
            return None
        missed = now - slot > ON_TIME
        outcome = "Skipped" if missed and schedule.missed_slots == "skip" else "Started"
        session.add(
            PipelineScheduleSlot(
                pipeline_name=schedule.pipeline_name,
                schedule_name=schedule.name,
                slot_at=slot,
                execution_id=None,
                outcome=outcome,
                created_at=now,
            )
        )
        session.flush()  # the slot's key: a second scheduler stops here
        schedule.last_slot_at = slot
        if outcome == "Skipped":
            log.info("schedule %s/%s skipped the missed slot %s", *key, slot.isoformat())
            return None
        try:
            execution = service.start_execution(
                session,
                schedule.pipeline_name,
                ExecutionIn(parameters=schedule.parameters),
                schedule.owner,
                trigger=f"schedule:{schedule.name}@{slot.isoformat()}",
            )
        except ShipyardError as exc:  # the pipeline changed under it: recorded, not retried
            slot_row = session.get(PipelineScheduleSlot, (*key, slot))
            assert slot_row is not None
            slot_row.outcome = "Refused"
            log.warning("schedule %s/%s could not start: %s", *key, exc.message)
            return None
        slot_row = session.get(PipelineScheduleSlot, (*key, slot))
        assert slot_row is not None
        slot_row.execution_id = execution.id
        return execution.id


def _check_cron(expression: str) -> None:
    if len(expression.split()) not in (5, 6) or not croniter.is_valid(expression):
        raise ValidationError(
            f"'{expression}' is not a cron expression: expected 5 fields (minute hour "
            "day-of-month month day-of-week, e.g. '0 2 * * *'), or 6 with seconds last",
            "cron",
        )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"'{name}' is not a time zone like UTC or Europe/Paris", "timezone"
        ) from None


def _latest_slot(expression: str, zone: ZoneInfo, now: datetime) -> datetime:
    """The latest slot at or before ``now``, in UTC."""
    local = now.astimezone(zone) + timedelta(microseconds=1)  # a slot exactly at now counts
    slot = croniter(expression, local).get_prev(datetime)
    return slot.astimezone(ZoneInfo("UTC"))


def _next_slot(expression: str, zone: ZoneInfo, after: datetime) -> datetime:
    slot = croniter(expression, after.astimezone(zone)).get_next(datetime)
    return slot.astimezone(ZoneInfo("UTC"))


# ---- data triggers ------------------------------------------------------------------------------
def create_trigger(
    session: Session,
    settings: Settings,
    store: BaseArtifactStore,
    pipeline_name: str,
    request: TriggerIn,
    owner: str,
) -> TriggerOut:
    pipeline = service.get_pipeline(session, pipeline_name)
    name = validate_name(request.name)
    definition = service.latest_definition(session, pipeline)
    declared = {p.name for p in definition.parameters}
    if request.parameter_name is not None and request.parameter_name not in declared:
        raise ValidationError(
            f"the pipeline has no parameter '{request.parameter_name}'", "parameter_name"
        )
    given = dict(request.parameters)
    if request.parameter_name:
        given.setdefault(request.parameter_name, "shipyard://placeholder")
    check_execution_parameters(definition, given)
    existing = list_objects(store, settings, request.source)
    if session.get(PipelineTrigger, (pipeline.name, name)) is not None:
        raise AlreadyExists(f"pipeline '{pipeline.name}' already has a trigger '{name}'")
    now = utcnow()
    row = PipelineTrigger(
        pipeline_name=pipeline.name,
        name=name,
        source=request.source,
        parameter_name=request.parameter_name,
        parameters=request.parameters,
        enabled=request.enabled,
        owner=owner,
        created_at=now,
    )
    session.add(row)
    session.flush()
    for uri in existing:  # what is there already does not start anything
        session.add(_seen(row, uri, None, now))
    session.flush()
    return trigger_out(row)


def list_triggers(session: Session, pipeline_name: str) -> list[TriggerOut]:
    pipeline = service.get_pipeline(session, pipeline_name)
    rows = session.scalars(
        select(PipelineTrigger)
        .where(PipelineTrigger.pipeline_name == pipeline.name)
        .order_by(PipelineTrigger.name)
    )
    return [trigger_out(r) for r in rows]


def delete_trigger(session: Session, pipeline_name: str, name: str) -> None:
    row = session.get(PipelineTrigger, (validate_name(pipeline_name), validate_name(name)))
    if row is None:
        raise NotFound(f"pipeline '{pipeline_name}' has no trigger '{name}'")
    session.delete(row)


def trigger_out(row: PipelineTrigger) -> TriggerOut:
    return TriggerOut(
        name=row.name,
        pipeline_name=row.pipeline_name,
        source=row.source,
        parameter_name=row.parameter_name,
        parameters=row.parameters,
        enabled=row.enabled,
        owner=row.owner,
        created_at=as_utc(row.created_at) or row.created_at,
    )


def run_triggers(db: Database, settings: Settings, store: BaseArtifactStore) -> list[str]:
    """Start an execution for each new object under each enabled trigger's source."""
    with db.session_scope() as session:
        triggers = [
            (r.pipeline_name, r.name, r.source)
            for r in session.scalars(
                select(PipelineTrigger).where(PipelineTrigger.enabled.is_(True))
            )
        ]
    started = []
    for pipeline_name, name, source in triggers:
        try:
            objects = list_objects(store, settings, source)
        except ShipyardError as exc:
            log.warning(
                "trigger %s/%s cannot list %s: %s", pipeline_name, name, source, exc.message
            )
            continue
        with db.session_scope() as session:
            seen = set(
                session.scalars(
                    select(PipelineTriggerObject.object_uri).where(
                        PipelineTriggerObject.pipeline_name == pipeline_name,
                        PipelineTriggerObject.trigger_name == name,
                    )
                )
            )
        for uri in [o for o in objects if o not in seen][:MAX_NEW_OBJECTS]:
            execution_id = _fire(db, (pipeline_name, name), uri)
            if execution_id is not None:
                started.append(execution_id)
    return started


def _fire(db: Database, key: tuple[str, str], uri: str) -> str | None:
    try:
        with db.session_scope() as session:
            trigger = session.get(PipelineTrigger, key)
            if trigger is None or not trigger.enabled:
                return None
            now = utcnow()
            seen = _seen(trigger, uri, None, now)
            session.add(seen)
            session.flush()  # the object's key: a second scheduler stops here
            parameters = dict(trigger.parameters)
            if trigger.parameter_name:
                parameters[trigger.parameter_name] = uri
            execution = service.start_execution(
                session,
                trigger.pipeline_name,
                ExecutionIn(parameters=parameters),
                trigger.owner,
                trigger=f"data:{trigger.name}",
            )
            seen.execution_id = execution.id
            return execution.id
    except AlreadyExists:
        return None
    except IntegrityError:
        return None


def list_objects(store: BaseArtifactStore, settings: Settings, source: str) -> list[str]:
    """The URIs of every file under ``source`` (a ``shipyard://`` prefix or a local
    directory inside the data roots), sorted."""
    if source.startswith(SCHEME):
        prefix = (
            key_from_uri(source.rstrip("/")) if source.rstrip("/") != SCHEME.rstrip("/") else ""
        )
        return [uri_for(key) for key in store.list(prefix)]
    path = _local_directory(source, settings.allowed_data_roots)
    return sorted(p.as_uri() for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))


def _local_directory(source: str, roots: list[Path]) -> Path:
    path = Path(source.removeprefix("file://")).expanduser()
    if not path.is_absolute():
        raise ValidationError("expected shipyard://… or an absolute local path", "source")
    resolved = path.resolve()
    if not any(resolved.is_relative_to(root.resolve()) for root in roots):
        raise ValidationError(
            f"{source} is outside the allowed data roots; add its directory to SHIPYARD_DATA_ROOTS",
            "source",
        )
    if not resolved.is_dir():
        raise ValidationError(f"{source} is not a directory", "source")
    return resolved


def _seen(
    trigger: PipelineTrigger, uri: str, execution_id: str | None, now: datetime
) -> PipelineTriggerObject:
    return PipelineTriggerObject(
        pipeline_name=trigger.pipeline_name,
        trigger_name=trigger.name,
        object_uri=uri[:768],
        execution_id=execution_id,
        created_at=now,
    )
