"""The pure evaluation: CloudWatch's documented table of missing-data cases, M of N, the
comparisons, and the evaluation range in time.

The table is "How alarm state is evaluated when data is missing" (CloudWatch User Guide,
"Configuring how CloudWatch alarms treat missing data"): 5 datapoints retrieved, oldest
first; ``0`` does not breach, ``X`` breaches, ``-`` is missing; RETAIN keeps the state.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipyard.monitoring.alarms.evaluation import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    Rule,
    evaluate,
    evaluation_range,
    next_evaluation,
    range_length,
    reason,
)

RETAIN = "retain"
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")

# (M, N, datapoints, MISSING, IGNORE, BREACHING, NOT BREACHING) — the documentation's rows
DOCUMENTED = [
    # Datapoints to Alarm = Evaluation Periods = 3
    (3, 3, "0 - X - X", OK, OK, OK, OK),
    (3, 3, "0 - - - -", OK, OK, OK, OK),
    (3, 3, "- - - - -", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    (3, 3, "0 X X - X", ALARM, ALARM, ALARM, ALARM),
    (3, 3, "- - - - X", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
    (3, 3, "X - - - -", ALARM, RETAIN, ALARM, OK),
    # 2 out of 3
    (2, 3, "0 - X - X", ALARM, ALARM, ALARM, ALARM),
    (2, 3, "0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    (2, 3, "0 - X - -", OK, OK, ALARM, OK),
    (2, 3, "- - - - 0", OK, OK, ALARM, OK),
    (2, 3, "- - - - X", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
]
CASES = [
    pytest.param(m, n, points, treatment, expected, id=f"{m}of{n} [{points}] {treatment}")
    for m, n, points, *states in DOCUMENTED
    for treatment, expected in zip(TREATMENTS, states, strict=True)
]


def values_of(points: str) -> list[float | None]:
    """``0`` → 1.0 (below the threshold 5), ``X`` → 9.0 (above), ``-`` → missing."""
    return [{"0": 1.0, "X": 9.0, "-": None}[p] for p in points.split()]


def rule(m: int, n: int, treatment: str, operator: str = "GreaterThanThreshold") -> Rule:
    return Rule(
        threshold=5.0,
        comparison_operator=operator,
        evaluation_periods=n,
        datapoints_to_alarm=m,
        treat_missing_data=treatment,
    )


@pytest.mark.parametrize(("m", "n", "points", "treatment", "expected"), CASES)
def test_the_documented_table(m, n, points, treatment, expected):
    outcome = evaluate(values_of(points), rule(m, n, treatment))
    assert (outcome.state or RETAIN) == expected
    assert len(CASES) >= 20


@pytest.mark.parametrize(
    ("m", "n", "points", "treatment", "expected"),
    [
        # enough datapoints present: the treatment plays no part, the newest N count
        (1, 1, "X", "notBreaching", ALARM),
        (1, 1, "0", "breaching", OK),
        (1, 1, "- - X", "notBreaching", ALARM),  # the newest present one, however old
        (1, 1, "X - 0", "breaching", OK),
        (2, 2, "X X 0 X", "missing", OK),
        # too few: filled as few times as possible, the newest missing slots first
        (1, 1, "- - -", "notBreaching", OK),
        (1, 1, "- - -", "breaching", ALARM),
        (2, 3, "X - - - -", "notBreaching", OK),
        (2, 3, "X - - - -", "breaching", ALARM),
        (3, 4, "X X - - - -", "notBreaching", OK),
        # missing / ignore: enough breaching present ones alarm without any filling
        (2, 3, "X - X - -", "missing", ALARM),
        (2, 3, "X - X - -", "ignore", ALARM),
    ],
)
def test_more_cases(m, n, points, treatment, expected):
    assert evaluate(values_of(points), rule(m, n, treatment)).state == expected


@pytest.mark.parametrize(
    ("operator", "value", "breaches"),
    [
        ("GreaterThanOrEqualToThreshold", 5.0, True),
        ("GreaterThanOrEqualToThreshold", 4.9, False),
        ("GreaterThanThreshold", 5.0, False),
        ("GreaterThanThreshold", 5.1, True),
        ("LessThanThreshold", 5.0, False),
        ("LessThanThreshold", 4.9, True),
        ("LessThanOrEqualToThreshold", 5.0, True),
        ("LessThanOrEqualToThreshold", 5.1, False),
    ],
)
def test_comparisons(operator, value, breaches):
    outcome = evaluate([value], rule(1, 1, "missing", operator))
    assert outcome.state == (ALARM if breaches else OK)


def test_what_was_evaluated_is_reported():
    the_rule = rule(2, 3, "breaching")
    outcome = evaluate(values_of("0 - X - -"), the_rule)
    assert [(p.index, p.value, p.breaching) for p in outcome.evaluated] == [
        (0, 1.0, False),
        (2, 9.0, True),
        (4, None, True),
    ]
    starts = [datetime(2026, 1, 1, 0, 0, s, tzinfo=UTC) for s in range(0, 50, 10)]
    text = reason(outcome, the_rule, starts, ALARM)
    assert text.startswith("Threshold Crossed: 2 out of the last 3 datapoints")
    assert "greater than the threshold (5.0)" in text


def test_the_range_ends_at_the_latest_complete_period():
    now = datetime(2026, 1, 1, 12, 0, 25, 500_000, tzinfo=UTC)
    starts = evaluation_range(now, 10, 1)
    assert len(starts) == range_length(1) == 3
    assert starts[-1] == datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)  # [12:00:10, 12:00:20)
    assert starts[0] == datetime(2026, 1, 1, 11, 59, 50, tzinfo=UTC)
    assert evaluation_range(now, 300, 3)[-1] == datetime(2026, 1, 1, 11, 55, tzinfo=UTC)


def test_due_when_the_next_period_completes_and_at_least_every_minute():
    now = datetime(2026, 1, 1, 12, 0, 25, tzinfo=UTC)
    assert next_evaluation(now, 10) == datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    assert next_evaluation(now, 1) == datetime(2026, 1, 1, 12, 0, 26, tzinfo=UTC)
    assert next_evaluation(now, 3600) == datetime(2026, 1, 1, 12, 1, tzinfo=UTC)
