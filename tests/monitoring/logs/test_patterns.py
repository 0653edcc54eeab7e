"""Filter patterns as CloudWatch Logs documents them: terms, phrases, exclusions, any-of
terms, regular expressions and JSON comparisons; a bad pattern is a 400 on ``pattern``."""

from __future__ import annotations

import pytest

from shipyard.core.errors import ValidationError
from shipyard.monitoring.logs import patterns

CASES = [
    # pattern, message, matches
    ("", "anything", True),
    ("ERROR", "[ERROR] disk full", True),
    ("ERROR", "[error] disk full", False),  # case-sensitive
    ("ERROR disk", "[ERROR] disk full", True),
    ("ERROR memory", "[ERROR] disk full", False),
    ('"disk full"', "[ERROR] disk full", True),
    ('"full disk"', "[ERROR] disk full", False),
    ("ERROR -disk", "[ERROR] disk full", False),
    ("ERROR -memory", "[ERROR] disk full", True),
    ('-"disk full"', "[ERROR] disk full", False),
    ("?ERROR ?WARN", "[WARN] slow", True),
    ("?ERROR ?WARN", "[INFO] fine", False),
    ("Traceback ?KeyError ?ValueError", "Traceback … ValueError: x", True),
    ("Traceback ?KeyError ?ValueError", "Traceback … TypeError: x", False),
    ("%Fail(ed|ure)%", "step Failed", True),
    ("%Fail(ed|ure)%", "step Fails", False),
    ("%^epoch [0-9]+%", "epoch 12 loss 0.3", True),
    ("%^epoch [0-9]+%", "at epoch 12", False),
    ('"say \\"hi\\""', 'they say "hi"', True),
    ('"%literal%"', "a %literal% percent", True),
    ("-?x", "a -?x b", False),
    ('{ $.level = "ERROR" }', '{"level": "ERROR", "msg": "x"}', True),
    ('{ $.level = "ERROR" }', '{"level": "INFO"}', False),
    ('{ $.level = "ERROR" }', "level=ERROR (not JSON)", False),
    ("{ $.level = ERROR }", '{"level": "ERROR"}', True),
    ('{ $.path = "/predict*" }', '{"path": "/predict/v2"}', True),
    ('{ $.path = "/predict*" }', '{"path": "/health"}', False),
    ('{ $.level != "ERROR" }', '{"msg": "no level"}', True),
    ("{ $.latency_ms > 250 }", '{"latency_ms": 300}', True),
    ("{ $.latency_ms > 250 }", '{"latency_ms": 250}', False),
    ("{ $.latency_ms >= 250 }", '{"latency_ms": 250}', True),
    ("{ $.latency_ms < 250 }", '{"latency_ms": "fast"}', False),
    ("{ $.http.status = 500 }", '{"http": {"status": 500}}', True),
    ("{ $.items[1] = 7 }", '{"items": [3, 7]}', True),
    ("{ $.ok = true }", '{"ok": true}', True),
    ("{ $.ok = true }", '{"ok": 1}', False),
    ('{ $.a = 1 && $.b = "x" }', '{"a": 1, "b": "x"}', True),
    ('{ $.a = 1 && $.b = "x" }', '{"a": 1, "b": "y"}', False),
    ('{ $.a = 2 || $.b = "x" }', '{"a": 1, "b": "x"}', True),
    ('{ $.a = 2 || $.b = "y" && $.a = 1 }', '{"a": 1, "b": "y"}', True),
]


@pytest.mark.parametrize(("pattern", "message", "expected"), CASES)
def test_a_pattern_matches_as_cloudwatch_documents(
    pattern: str, message: str, expected: bool
) -> None:
    assert patterns.parse(pattern).matches(message) is expected


def test_the_store_prefilters_on_the_plain_terms_every_match_has() -> None:
    parsed = patterns.parse('ERROR "disk full" -DEBUG ?a ?b %x+%')
    assert parsed.substrings == ("ERROR", "disk full")
    assert patterns.parse('{ $.a = "ERROR" }').substrings == ()


@pytest.mark.parametrize(
    ("pattern", "needle"),
    [
        ('"unclosed', "no closing quotation"),
        ("%([%", "not a regular expression"),
        ("{ $.a = 1", "ends with '}'"),
        ("{ }", "needs a comparison"),
        ("{ level = 1 }", "is not a comparison"),
        ('{ $.a > "x" }', "compares numbers"),
        ('{ $.a = "x }', "unclosed string"),
        ("x" * 1025, "at most 1024"),
    ],
)
def test_a_bad_pattern_is_refused_naming_the_field(pattern: str, needle: str) -> None:
    with pytest.raises(ValidationError) as raised:
        patterns.parse(pattern)
    assert raised.value.field == "pattern"
    assert needle in raised.value.message
