"""Metric and composite alarms: put, describe, list, delete, set state, history; and the
evaluator duty that moves them between OK, ALARM and INSUFFICIENT_DATA.

Each alarm is evaluated in its own transaction with its row locked (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL; SQLite's write lock serializes writers), so two processes never
evaluate it, or run its actions, twice. A state change, its history row, its actions
(:mod:`.actions`) and the record of which state's actions ran commit together.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.core.artifacts import BaseArtifactStore
from shipyard.core.clock import as_utc, utcnow
from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.core.errors import InvalidState, NotFound, ShipyardError, ValidationError
from shipyard.core.names import srn, validate_name
from shipyard.monitoring.alarms import actions, composite, evaluation, history
from shipyard.monitoring.alarms.evaluation import ALARM, INSUFFICIENT_DATA, OK, STATES
from shipyard.monitoring.alarms.models import Alarm
from shipyard.monitoring.alarms.schemas import (
    AlarmHistoryItemOut,
    AlarmOut,
    CompositeAlarmIn,
    MetricAlarmIn,
    SetAlarmStateIn,
)
from shipyard.monitoring.metrics import service as metrics

log = logging.getLogger(__name__)
DUTY_NAME = "alarms"  # the scheduler duty that runs evaluate_all (shipyard.duties)
ALARM_KIND = "alarm"
METRIC, COMPOSITE = "metric", "composite"
BASIC_STATISTICS = ("SampleCount", "Sum", "Average", "Minimum", "Maximum")
PERCENTILE = re.compile(r"^p(\d{1,3}(?:\.\d{1,10})?)$")
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 30)
INITIAL_REASON = "Unchecked: Initial alarm creation"
ALARM_STATES = select(Alarm.name, Alarm.state_value)


# ---- put ------------------------------------------------------------------------------------
def put_metric_alarm(session: Session, name: str, request: MetricAlarmIn, owner: str) -> AlarmOut:
    """PutMetricAlarm: create, or replace the definition of, metric alarm ``name``. A new
    alarm starts INSUFFICIENT_DATA; a replaced one keeps its state and is evaluated at the
    next tick. ``owner`` (whose permissions its actions run with) is who put it last."""
    name = validate_name(name)
    fields = _checked_metric_fields(request)
    row = _existing(session, name, METRIC)
    now, created = utcnow(), row is None
    if row is None:
        row = _new_alarm(name, METRIC, owner, now)
        session.add(row)
    for key, value in fields.items():
        setattr(row, key, value)
    _set_actions(row, request.alarm_actions, request.ok_actions, request.insufficient_data_actions)
    row.description, row.actions_enabled = request.description, request.actions_enabled
    row.alarm_rule, row.owner, row.updated_at, row.next_evaluation_at = None, owner, now, now
    session.flush()
    _record_configuration(session, row, request.model_dump(), created=created)
    return alarm_out(row)


def put_composite_alarm(
    session: Session, name: str, request: CompositeAlarmIn, owner: str
) -> AlarmOut:
    """PutCompositeAlarm: create or replace composite alarm ``name``; its rule may name
    metric and composite alarms that exist, and no cycle (a 400 naming ``alarm_rule``)."""
    name = validate_name(name)
    rule = composite.parse(request.alarm_rule)
    _check_rule_alarms(session, name, rule)
    row = _existing(session, name, COMPOSITE)
    now, created = utcnow(), row is None
    if row is None:
        row = _new_alarm(name, COMPOSITE, owner, now)
        session.add(row)
    _set_actions(row, request.alarm_actions, request.ok_actions, request.insufficient_data_actions)
    row.alarm_rule, row.description = request.alarm_rule, request.description
    row.actions_enabled, row.owner, row.updated_at, row.next_evaluation_at = (
        request.actions_enabled,
        owner,
        now,
        now,
    )
    session.flush()
    _record_configuration(session, row, request.model_dump(), created=created)
    return alarm_out(row)


def _checked_metric_fields(request: MetricAlarmIn) -> dict[str, Any]:
    if (request.statistic is None) == (request.extended_statistic is None):
        raise ValidationError("give exactly one of statistic and extended_statistic", "statistic")
    if request.statistic is not None and request.statistic not in BASIC_STATISTICS:
        raise ValidationError(
            f"unknown statistic {request.statistic[:40]!r}; expected one of "
            f"{', '.join(BASIC_STATISTICS)} (or extended_statistic pNN)",
            "statistic",
        )
    if request.extended_statistic is not None:
        match = PERCENTILE.fullmatch(request.extended_statistic)
        if match is None or float(match.group(1)) > 100:
            raise ValidationError(
                f"{request.extended_statistic[:40]!r} is not a percentile; expected p0..p100 "
                "(e.g. p99.9)",
                "extended_statistic",
            )
    period = request.period
    if period not in HIGH_RESOLUTION_PERIODS and not (period >= 10 and period % 10 == 0):
        raise ValidationError(
            f"{period!r} is not a period; expected 1, 5, 10, 30 or a multiple of 10 seconds",
            "period",
        )
    n = request.evaluation_periods
    if n < 1:
        raise ValidationError("must be at least 1", "evaluation_periods")
    if n * period > evaluation.MAX_EVALUATION_SECONDS:
        raise ValidationError(
            f"evaluation_periods × period is {n * period} s; at most "
            f"{evaluation.MAX_EVALUATION_SECONDS} s (one day)",
            "evaluation_periods",
        )
    m = n if request.datapoints_to_alarm is None else request.datapoints_to_alarm
    if not 1 <= m <= n:
        raise ValidationError(
            f"must be between 1 and evaluation_periods ({n}), not {m}", "datapoints_to_alarm"
        )
    if request.comparison_operator not in evaluation.COMPARISONS:
        raise ValidationError(
            f"unknown comparison operator {request.comparison_operator[:60]!r}; expected one "
            f"of {', '.join(evaluation.COMPARISONS)}",
            "comparison_operator",
        )
    if request.treat_missing_data not in evaluation.TREATMENTS:
        raise ValidationError(
            f"{request.treat_missing_data[:40]!r} is not a treatment; expected one of "
            f"{', '.join(evaluation.TREATMENTS)}",
            "treat_missing_data",
        )
    if not math.isfinite(request.threshold):
        raise ValidationError("must be a finite number", "threshold")
    for key, value in request.dimensions.items():
        if not 1 <= len(key) <= 255 or not 1 <= len(value) <= 1024:
            raise ValidationError(
                "a dimension's name is 1-255 characters, its value 1-1024", "dimensions"
            )
    return {
        "namespace": request.namespace,
        "metric_name": request.metric_name,
        "dimensions": dict(request.dimensions),
        "statistic": request.statistic,
        "extended_statistic": request.extended_statistic,
        "unit": request.unit,
        "period": period,
        "evaluation_periods": n,
        "datapoints_to_alarm": m,
        "threshold": float(request.threshold),
        "comparison_operator": request.comparison_operator,
        "treat_missing_data": request.treat_missing_data,
    }


def _set_actions(row: Alarm, *lists: list[dict[str, Any]]) -> None:
    for field, given in zip(actions.ACTION_FIELDS, lists, strict=True):
        setattr(row, field, actions.validate_actions(given, field))


def _existing(session: Session, name: str, kind: str) -> Alarm | None:
    row = session.get(Alarm, name)
    if row is not None and row.kind != kind:
        raise InvalidState(f"alarm '{name}' exists and is a {row.kind} alarm, not a {kind} one")
    return row


def _new_alarm(name: str, kind: str, owner: str, now: datetime) -> Alarm:
    return Alarm(
        name=name,
        kind=kind,
        dimensions={},
        state_value=INSUFFICIENT_DATA,
        state_reason=INITIAL_REASON,
        state_reason_data=None,
        state_updated_at=now,
        actions_state=None,
        actions_transition_id=None,
        owner=owner,
        created_at=now,
    )


def _record_configuration(
    session: Session, row: Alarm, request: dict[str, Any], *, created: bool
) -> None:
    verb = "created" if created else "updated"
    history.record(
        session,
        row.name,
        history.CONFIGURATION_UPDATE,
        f"Alarm '{row.name}' {verb}",
        {"type": verb, "owner": row.owner, "definition": request},
    )


def _check_rule_alarms(session: Session, name: str, rule: composite.Node) -> None:
    """Every alarm named exists, and no chain of composite rules comes back to ``name``."""
    named = composite.alarm_names(rule)
    known = {
        row_name: (kind, rule_text)
        for row_name, kind, rule_text in session.execute(
            select(Alarm.name, Alarm.kind, Alarm.alarm_rule)
        )
    }
    for alarm_name in sorted(named):
        if alarm_name == name:
            raise ValidationError(f"the rule names alarm '{name}' itself", composite.FIELD)
        if alarm_name not in known:
            raise ValidationError(f"alarm '{alarm_name}' not found", composite.FIELD)
    pending, seen = list(named), set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        kind, rule_text = known.get(current, (METRIC, None))
        if kind != COMPOSITE or rule_text is None:
            continue
        for further in composite.alarm_names(composite.parse(rule_text)):
            if further == name:
                raise ValidationError(
                    f"the rule makes a cycle: alarm '{current}' depends on '{name}'",
                    composite.FIELD,
                )
            pending.append(further)


# ---- read ------------------------------------------------------------------------------------
def get_alarm(session: Session, name: str) -> Alarm:
    row = session.get(Alarm, validate_name(name))
    if row is None:
        raise NotFound(f"alarm '{name}' not found")
    return row


def describe_alarm(session: Session, name: str) -> AlarmOut:
    return alarm_out(get_alarm(session, name))


def list_alarms(
    session: Session,
    *,
    state: str | None = None,
    kind: str | None = None,
    name_prefix: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AlarmOut]:
    """DescribeAlarms, by name; ``state`` (OK, ALARM, INSUFFICIENT_DATA) and ``kind``
    (metric, composite) filter."""
    query = select(Alarm)
    if state is not None:
        if state not in STATES:
            raise ValidationError(f"expected one of {', '.join(STATES)}", "state")
        query = query.where(Alarm.state_value == state)
    if kind is not None:
        if kind not in (METRIC, COMPOSITE):
            raise ValidationError(f"expected {METRIC} or {COMPOSITE}", "kind")
        query = query.where(Alarm.kind == kind)
    if name_prefix:
        query = query.where(Alarm.name.startswith(name_prefix, autoescape=True))
    rows = session.scalars(query.order_by(Alarm.name).limit(limit).offset(offset))
    return [alarm_out(row) for row in rows]


def alarm_history(
    session: Session,
    name: str,
    *,
    item_type: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AlarmHistoryItemOut]:
    """DescribeAlarmHistory, newest first; ``item_type``: StateUpdate, Action or
    ConfigurationUpdate."""
    row = get_alarm(session, name)
    if item_type is not None and item_type not in history.ITEM_TYPES:
        raise ValidationError(f"expected one of {', '.join(history.ITEM_TYPES)}", "item_type")
    return history.list_history(session, row.name, item_type=item_type, limit=limit, offset=offset)


def delete_alarm(session: Session, name: str) -> None:
    """DeleteAlarms (one), with its history; refused while a composite alarm's rule names it."""
    row = get_alarm(session, name)
    for other, rule_text in session.execute(
        select(Alarm.name, Alarm.alarm_rule).where(Alarm.kind == COMPOSITE)
    ):
        if rule_text and row.name in composite.alarm_names(composite.parse(rule_text)):
            raise InvalidState(f"alarm '{name}' is named by the rule of composite alarm '{other}'")
    history.delete_history(session, row.name)
    session.delete(row)


# ---- state ------------------------------------------------------------------------------------
def set_alarm_state(session: Session, name: str, request: SetAlarmStateIn) -> AlarmOut:
    """SetAlarmState: move the alarm to ``state_value`` until its next evaluation, running
    that state's actions (nothing happens when it is in that state already)."""
    if request.state_value not in STATES:
        raise ValidationError(f"expected one of {', '.join(STATES)}", "state_value")
    row = _locked(session, validate_name(name))
    if row is None:
        get_alarm(session, name)  # NotFound, or another process holds it right now
        raise InvalidState(f"alarm '{name}' is being evaluated; try again")
    change_state(
        session,
        row,
        request.state_value,
        request.state_reason,
        request.state_reason_data,
        utcnow(),
        source="SetAlarmState",
    )
    return alarm_out(row)


def change_state(
    session: Session,
    row: Alarm,
    new_state: str,
    reason: str,
    reason_data: dict[str, Any] | None,
    now: datetime,
    *,
    source: str,
) -> bool:
    """Move ``row`` (locked by the caller) to ``new_state``: a StateUpdate row, then the
    state's actions; whether the state changed. All in the caller's transaction."""
    old_state = row.state_value
    if new_state == old_state:
        return False
    row.state_value, row.state_reason, row.state_reason_data = new_state, reason, reason_data
    row.state_updated_at = now
    transition = history.record(
        session,
        row.name,
        history.STATE_UPDATE,
        f"Alarm updated from {old_state} to {new_state}",
        {
            "old_state": old_state,
            "new_state": new_state,
            "reason": reason,
            "reason_data": reason_data,
            "source": source,
        },
    )
    message = notification(row, old_state, now)
    actions.run_for_state(session, row, new_state, transition.id, message)
    row.actions_state, row.actions_transition_id = new_state, transition.id
    return True


def notification(row: Alarm, old_state: str, now: datetime) -> dict[str, Any]:
    """The message a ``notify`` action publishes (CloudWatch's SNS message, in its words)."""
    message: dict[str, Any] = {
        "AlarmName": row.name,
        "AlarmDescription": row.description,
        "NewStateValue": row.state_value,
        "OldStateValue": old_state,
        "NewStateReason": row.state_reason,
        "StateChangeTime": now.isoformat(),
    }
    if row.kind == COMPOSITE:
        message["AlarmRule"] = row.alarm_rule
        return message
    message["Trigger"] = {
        "namespace": row.namespace,
        "metric_name": row.metric_name,
        "dimensions": row.dimensions,
        "statistic": row.statistic or row.extended_statistic,
        "period": row.period,
        "evaluation_periods": row.evaluation_periods,
        "datapoints_to_alarm": row.datapoints_to_alarm,
        "threshold": row.threshold,
        "comparison_operator": row.comparison_operator,
        "treat_missing_data": row.treat_missing_data,
    }
    return message


def _locked(session: Session, name: str, *conditions: Any) -> Alarm | None:
    query = select(Alarm).where(Alarm.name == name, *conditions)
    return session.scalars(query.with_for_update(skip_locked=True)).first()


# ---- the evaluator -----------------------------------------------------------------------------
def evaluate_all(
    db: Database, settings: Settings, store: BaseArtifactStore, now: datetime | None = None
) -> int:
    """Evaluate every alarm that is due and run the actions of its new state; how many
    alarms changed state (a scheduler duty). Metric alarms are due when their next period
    completes (and at least once a minute); composite alarms follow their alarms at
    every tick."""
    now = now or utcnow()
    with db.session_scope() as session:
        due = list(
            session.scalars(
                select(Alarm.name)
                .where(Alarm.kind == METRIC, Alarm.next_evaluation_at <= now)
                .order_by(Alarm.next_evaluation_at, Alarm.name)
            )
        )
    changed = 0
    for name in due:
        try:
            with db.session_scope() as session:
                changed += evaluate_metric_alarm(session, name, now)
        except Exception:
            log.exception("alarm %s could not be evaluated", name)
    return changed + evaluate_composites(db, now)


def evaluate_metric_alarm(session: Session, name: str, now: datetime) -> bool:
    """Evaluate metric alarm ``name`` if it is due and no other process holds it; whether
    its state changed."""
    row = _locked(session, name, Alarm.kind == METRIC, Alarm.next_evaluation_at <= now)
    if row is None:
        return False
    assert row.period is not None and row.evaluation_periods is not None
    row.next_evaluation_at = evaluation.next_evaluation(now, row.period)
    starts = evaluation.evaluation_range(now, row.period, row.evaluation_periods)
    statistic = row.statistic or row.extended_statistic or "Average"
    try:
        datapoints = metrics.get_metric_statistics(
            session,
            namespace=row.namespace or "",
            metric_name=row.metric_name or "",
            dimensions=row.dimensions,
            start_time=starts[0],
            end_time=evaluation.period_end(starts[-1], row.period),
            period=row.period,
            statistics=[statistic],
            unit=row.unit,
        )
    except ShipyardError as exc:  # e.g. a unit the store refuses: keep the state, say why
        log.warning("alarm %s: the metrics store refused the query: %s", name, exc.message)
        return False
    found = {as_utc(point.timestamp): point.values.get(statistic) for point in datapoints}
    values = [found.get(start) for start in starts]
    rule = rule_of(row)
    outcome = evaluation.evaluate(values, rule)
    new_state = outcome.state or row.state_value
    reason = evaluation.reason(outcome, rule, starts, new_state)
    reason_data = {
        "version": "1.0",
        "query_date": now.isoformat(),
        "start_date": starts[0].isoformat(),
        "statistic": statistic,
        "period": row.period,
        "threshold": row.threshold,
        "treat_missing_data": row.treat_missing_data,
        "recent_datapoints": values,
        "evaluated_datapoints": [
            {
                "timestamp": starts[point.index].isoformat(),
                "value": point.value,
                "breaching": point.breaching,
                "filled": point.value is None,
            }
            for point in outcome.evaluated
        ],
    }
    return change_state(session, row, new_state, reason, reason_data, now, source="evaluation")


def rule_of(row: Alarm) -> evaluation.Rule:
    assert row.threshold is not None and row.comparison_operator is not None
    assert row.evaluation_periods is not None and row.datapoints_to_alarm is not None
    return evaluation.Rule(
        threshold=row.threshold,
        comparison_operator=row.comparison_operator,
        evaluation_periods=row.evaluation_periods,
        datapoints_to_alarm=row.datapoints_to_alarm,
        treat_missing_data=row.treat_missing_data or "missing",
    )


def evaluate_composites(db: Database, now: datetime) -> int:
    """Move every composite alarm whose rule's value changed; how many changed. One read
    finds them; each is then changed under its lock, its rule read again."""
    with db.session_scope() as session:
        states = {name: state for name, state in session.execute(ALARM_STATES)}
        rules = {
            name: rule_text
            for name, rule_text in session.execute(
                select(Alarm.name, Alarm.alarm_rule).where(Alarm.kind == COMPOSITE)
            )
        }
    changed = 0
    for name in _dependency_order(rules):
        wanted = _composite_state(rules[name], states)
        if wanted is None or wanted == states.get(name):
            continue
        try:
            with db.session_scope() as session:
                if evaluate_composite_alarm(session, name, now):
                    changed += 1
                    states[name] = wanted  # composites over this one see it at once
        except Exception:
            log.exception("composite alarm %s could not be evaluated", name)
    return changed


def evaluate_composite_alarm(session: Session, name: str, now: datetime) -> bool:
    row = _locked(session, name, Alarm.kind == COMPOSITE)
    if row is None or row.alarm_rule is None:
        return False
    rule = composite.parse(row.alarm_rule)
    named = sorted(composite.alarm_names(rule))
    states = {
        alarm: state for alarm, state in session.execute(ALARM_STATES.where(Alarm.name.in_(named)))
    }
    holds = composite.holds(rule, states)
    new_state = ALARM if holds else OK
    reason = f"the rule {row.alarm_rule} is {'TRUE' if holds else 'FALSE'}"
    reason_data = {
        "version": "1.0",
        "alarm_rule": row.alarm_rule,
        "triggering_alarms": [{"name": n, "state": states.get(n)} for n in named],
    }
    return change_state(session, row, new_state, reason, reason_data, now, source="evaluation")


def _composite_state(rule_text: str | None, states: Mapping[str, str]) -> str | None:
    if rule_text is None:
        return None
    try:
        return ALARM if composite.holds(composite.parse(rule_text), states) else OK
    except ValidationError:
        return None


def _dependency_order(rules: Mapping[str, str | None]) -> list[str]:
    """Composite alarms, each after the composites its rule names."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered or name in visiting:
            return
        visiting.add(name)
        rule_text = rules.get(name)
        if rule_text:
            try:
                names = composite.alarm_names(composite.parse(rule_text))
            except ValidationError:
                names = set()
            for other in sorted(names):
                if other in rules:
                    visit(other)
        visiting.discard(name)
        ordered.append(name)

    for name in sorted(rules):
        visit(name)
    return ordered


# ---- out ----------------------------------------------------------------------------------------
def alarm_out(row: Alarm) -> AlarmOut:
    return AlarmOut(
        name=row.name,
        srn=srn(ALARM_KIND, row.name),
        kind=row.kind,
        description=row.description,
        namespace=row.namespace,
        metric_name=row.metric_name,
        dimensions=row.dimensions or {},
        statistic=row.statistic,
        extended_statistic=row.extended_statistic,
        unit=row.unit,
        period=row.period,
        evaluation_periods=row.evaluation_periods,
        datapoints_to_alarm=row.datapoints_to_alarm,
        threshold=row.threshold,
        comparison_operator=row.comparison_operator,
        treat_missing_data=row.treat_missing_data,
        alarm_rule=row.alarm_rule,
        actions_enabled=row.actions_enabled,
        alarm_actions=row.alarm_actions or [],
        ok_actions=row.ok_actions or [],
        insufficient_data_actions=row.insufficient_data_actions or [],
        state_value=row.state_value,
        state_reason=row.state_reason,
        state_reason_data=row.state_reason_data,
        state_updated_at=as_utc(row.state_updated_at) or row.state_updated_at,
        actions_state=row.actions_state,
        owner=row.owner,
        created_at=as_utc(row.created_at) or row.created_at,
        updated_at=as_utc(row.updated_at) or row.updated_at,
    )
