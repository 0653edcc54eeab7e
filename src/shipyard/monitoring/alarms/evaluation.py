"""How a metric alarm's state follows from its datapoints: CloudWatch's rules, as pure
functions (no database, no clock).

The *evaluation range* is the last ``evaluation_periods + EXTRA_RANGE_PERIODS`` periods
that are complete; each holds the period's statistic, or None when the metric has no
datapoint there. Following "How alarm state is evaluated when data is missing"
(CloudWatch User Guide):

- with at least ``evaluation_periods`` (N) datapoints present, the N most recent present
  ones are evaluated and ``treat_missing_data`` plays no part;
- with fewer, every present datapoint is evaluated, and as few missing ones as make up N:
  ``breaching`` counts them as breaching, ``notBreaching`` as not breaching; ``missing``
  and ``ignore`` do not count them: ALARM when ``datapoints_to_alarm`` (M) present ones
  breach, OK when fewer breach and at least one present datapoint does not; otherwise
  (every present one breaches, fewer than M) ``missing`` goes to ALARM when the oldest
  period of the range breaches and to INSUFFICIENT_DATA else, ``ignore`` keeps the state;
- with none present, ``missing`` goes to INSUFFICIENT_DATA, ``ignore`` keeps the state,
  ``breaching`` goes to ALARM and ``notBreaching`` to OK.

Then ALARM when at least M of the N evaluated datapoints breach, else OK.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT_DATA)
COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
TREATMENTS = ("missing", "notBreaching", "breaching", "ignore")
EXTRA_RANGE_PERIODS = 2  # CloudWatch looks at more periods than it evaluates: 5 for N = 3
MAX_EVALUATION_SECONDS = 86_400  # evaluation_periods × period, at most one day
EVALUATE_AT_LEAST_EVERY_SECONDS = 60


@dataclass(frozen=True)
class Rule:
    """The part of a metric alarm that decides its state."""

    threshold: float
    comparison_operator: str
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: str = "missing"

    def breaches(self, value: float) -> bool:
        compare, _words = COMPARISONS[self.comparison_operator]
        return compare(value, self.threshold)


@dataclass(frozen=True)
class EvaluatedPoint:
    """One datapoint that counted: its slot in the range, its value (None for a missing
    one filled in per ``treat_missing_data``) and whether it breached."""

    index: int
    value: float | None
    breaching: bool


@dataclass(frozen=True)
class Outcome:
    """The state the datapoints call for (``None``: keep the current one) and why."""

    state: str | None
    evaluated: tuple[EvaluatedPoint, ...]
    breaching: int
    present: int
    explanation: str


def evaluate(values: Sequence[float | None], rule: Rule) -> Outcome:
    """The state that the evaluation range ``values`` (oldest first) calls for."""
    n, m = rule.evaluation_periods, rule.datapoints_to_alarm
    present = [
        EvaluatedPoint(i, v, rule.breaches(v)) for i, v in enumerate(values) if v is not None
    ]
    if len(present) >= n:
        evaluated = present[-n:]
        return _counted(evaluated, m, len(present), "the most recent datapoints present")
    treatment = rule.treat_missing_data
    if treatment in ("breaching", "notBreaching"):
        filled = _filled(values, n - len(present), breaching=treatment == "breaching")
        evaluated = sorted(present + filled, key=lambda point: point.index)
        return _counted(evaluated, m, len(present), f"missing datapoints as {treatment}")
    breaching = sum(point.breaching for point in present)
    keep = None if treatment == "ignore" else INSUFFICIENT_DATA
    if not present:
        return Outcome(keep, (), 0, 0, "no datapoint in the evaluation range")
    if breaching >= m:
        return Outcome(ALARM, tuple(present), breaching, len(present), "enough breach")
    if breaching < len(present):
        return Outcome(OK, tuple(present), breaching, len(present), "too few breach")
    if treatment == "missing" and values and values[0] is not None:
        why = "the oldest datapoint of the range breaches and none does not"
        return Outcome(ALARM, tuple(present), breaching, len(present), why)
    why = "too few datapoints present, all of them breaching"
    return Outcome(keep, tuple(present), breaching, len(present), why)


def _counted(evaluated: list[EvaluatedPoint], m: int, present: int, how: str) -> Outcome:
    breaching = sum(point.breaching for point in evaluated)
    state = ALARM if breaching >= m else OK
    return Outcome(state, tuple(evaluated), breaching, present, how)


def _filled(values: Sequence[float | None], count: int, *, breaching: bool) -> list[EvaluatedPoint]:
    """The ``count`` most recent missing slots, filled in."""
    missing = [i for i, v in enumerate(values) if v is None][::-1][:count]
    return [EvaluatedPoint(i, None, breaching) for i in missing]


# ---- the range in time -------------------------------------------------------------------
def range_length(evaluation_periods: int) -> int:
    return evaluation_periods + EXTRA_RANGE_PERIODS


def evaluation_range(now: datetime, period: int, evaluation_periods: int) -> list[datetime]:
    """The starts of the periods of the evaluation range, oldest first: periods aligned to
    multiples of ``period`` seconds since the epoch, the last one the latest complete."""
    seconds = math.floor(now.timestamp())
    latest = (seconds // period) * period - period
    starts = [latest - i * period for i in range(range_length(evaluation_periods))][::-1]
    return [datetime.fromtimestamp(start, UTC) for start in starts]


def next_evaluation(now: datetime, period: int) -> datetime:
    """When the alarm is next due: when its next period completes, and at least once a
    minute."""
    interval = min(period, EVALUATE_AT_LEAST_EVERY_SECONDS)
    seconds = math.floor(now.timestamp())
    return datetime.fromtimestamp((seconds // interval + 1) * interval, UTC)


def period_end(start: datetime, period: int) -> datetime:
    return start + timedelta(seconds=period)


# ---- the reason, in CloudWatch's words -------------------------------------------------------
def reason(outcome: Outcome, rule: Rule, timestamps: Sequence[datetime], new_state: str) -> str:
    """The state reason: e.g. ``Threshold Crossed: 1 out of the last 1 datapoints [7.0
    (2026-12-02T10:00:00+00:00)] was greater than or equal to the threshold (5.0)
    (minimum 1 datapoint for ALARM).``"""
    if not outcome.evaluated:
        return f"Insufficient Data: no datapoint in the last {len(timestamps)} periods"
    shown = ", ".join(
        f"{_number(point.value)} ({timestamps[point.index].isoformat()})"
        for point in reversed(outcome.evaluated)
    )
    _compare, words = COMPARISONS[rule.comparison_operator]
    count, total = outcome.breaching, len(outcome.evaluated)
    was = "was" if count == 1 else "were"
    plural = "datapoint" if rule.datapoints_to_alarm == 1 else "datapoints"
    prefix = "Threshold Crossed" if new_state == ALARM else "Threshold Not Crossed"
    if new_state == INSUFFICIENT_DATA:
        prefix = "Insufficient Data"
    return (
        f"{prefix}: {count} out of the last {total} datapoints [{shown}] {was} {words} the "
        f"threshold ({_number(rule.threshold)}) (minimum {rule.datapoints_to_alarm} {plural} "
        f"for ALARM; {outcome.explanation})."
    )


def _number(value: float | None) -> str:
    return "missing" if value is None else repr(float(value))
