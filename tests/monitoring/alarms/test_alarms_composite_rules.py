"""Composite alarm rules: the grammar, the alarms named, the value against states, and
rules that are refused naming ``alarm_rule``."""

from __future__ import annotations

import pytest

from shipyard.core.errors import ValidationError
from shipyard.monitoring.alarms.composite import alarm_names, holds, parse

STATES = {"a": "ALARM", "b": "OK", "c": "INSUFFICIENT_DATA"}


@pytest.mark.parametrize(
    ("rule", "value"),
    [
        ("ALARM(a)", True),
        ("OK(a)", False),
        ("INSUFFICIENT_DATA(c)", True),
        ("TRUE", True),
        ("FALSE", False),
        ("NOT ALARM(b)", True),
        ("ALARM(a) AND OK(b)", True),
        ("ALARM(a) AND ALARM(b)", False),
        ("ALARM(b) OR ALARM(a)", True),
        ("ALARM(b) OR ALARM(c) OR FALSE", False),
        ("ALARM(a) OR ALARM(b) AND ALARM(c)", True),  # AND binds tighter
        ("(ALARM(a) OR ALARM(b)) AND ALARM(c)", False),
        ("NOT (ALARM(a) AND OK(b))", False),
        ("ALARM(\"a\") AND OK('b')", True),
        ("NOT NOT ALARM(a)", True),
    ],
)
def test_rules_hold_as_written(rule, value):
    assert holds(parse(rule), STATES) is value


def test_the_alarms_a_rule_names():
    assert alarm_names(parse("ALARM(a) OR (OK(b) AND NOT INSUFFICIENT_DATA(c)) OR TRUE")) == {
        "a",
        "b",
        "c",
    }


@pytest.mark.parametrize(
    "rule",
    ["", "ALARM(a", "ALARM()", "ALARM(a) AND", "ALARM(a) ALARM(b)", "alarm(a)", "RED(a)",
     "ALARM(a b)", "ALARM(-a)", "(TRUE", "TRUE)", "ALARM(a) & OK(b)"],
)  # fmt: skip
def test_bad_rules_name_alarm_rule(rule):
    with pytest.raises(ValidationError) as caught:
        parse(rule)
    assert caught.value.field == "alarm_rule"
