"""Filter patterns, as CloudWatch Logs writes them.

Text patterns match case-sensitively against the whole message:

- ``ERROR timeout``: every term appears (``"a phrase"`` is one term);
- ``-DEBUG``: the term does not appear;
- ``?ERROR ?WARN``: at least one of the ``?`` terms appears;
- ``%Fail(ed|ure)%``: a regular expression, searched anywhere in the message.

JSON patterns match messages that are JSON objects: ``{ $.level = "ERROR" }``,
``{ $.latency_ms > 250 && $.path = "/predict*" }``, with ``=`` ``!=`` (strings may end in
``*``), ``<`` ``<=`` ``>`` ``>=`` (numbers), ``&&`` and ``||`` (``&&`` binds first).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shipyard.core.errors import ValidationError

FIELD = "pattern"
MAX_PATTERN = 1024
COMPARISON = re.compile(
    r"\s*\$((?:\.[A-Za-z_][A-Za-z0-9_\-]*|\[\d+\])+)\s*(=|!=|<=|>=|<|>)\s*(.+?)\s*$"
)
NUMERIC_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class Term:
    text: str
    regex: re.Pattern[str] | None = None

    def found_in(self, message: str) -> bool:
        if self.regex is not None:
            return self.regex.search(message) is not None
        return self.text in message


@dataclass(frozen=True)
class TextPattern:
    required: tuple[Term, ...] = ()
    excluded: tuple[Term, ...] = ()
    optional: tuple[Term, ...] = ()

    def matches(self, message: str) -> bool:
        return (
            all(t.found_in(message) for t in self.required)
            and not any(t.found_in(message) for t in self.excluded)
            and (not self.optional or any(t.found_in(message) for t in self.optional))
        )

    @property
    def substrings(self) -> tuple[str, ...]:
        """Plain terms every match contains: what the store can pre-filter on."""
        return tuple(t.text for t in self.required if t.regex is None)


@dataclass(frozen=True)
class Comparison:
    path: tuple[str | int, ...]
    operator: str
    value: Any

    def holds(self, document: Any) -> bool:
        found, actual = _lookup(document, self.path)
        if not found:
            return self.operator == "!="
        if self.operator in NUMERIC_OPERATORS:
            if not _is_number(actual):
                return False
            return NUMERIC_OPERATORS[self.operator](float(actual), float(self.value))
        equal = _equals(actual, self.value)
        return equal if self.operator == "=" else not equal


@dataclass(frozen=True)
class JsonPattern:
    alternatives: tuple[tuple[Comparison, ...], ...] = field(default_factory=tuple)
    """OR of ANDs."""

    def matches(self, message: str) -> bool:
        try:
            document = json.loads(message)
        except ValueError:
            return False
        return any(all(c.holds(document) for c in group) for group in self.alternatives)

    @property
    def substrings(self) -> tuple[str, ...]:
        return ()


Pattern = TextPattern | JsonPattern


def parse(pattern: str | None) -> Pattern:
    """The pattern, checked; a ValidationError on ``pattern`` says what is wrong."""
    text = (pattern or "").strip()
    if len(text) > MAX_PATTERN:
        raise ValidationError(f"at most {MAX_PATTERN} characters", FIELD)
    if text.startswith("{"):
        return _parse_json(text)
    return _parse_text(text)


def _parse_text(text: str) -> TextPattern:
    kinds: dict[str, list[Term]] = {"": [], "-": [], "?": []}
    for prefix, term in _terms(text):
        kinds[prefix].append(term)
    return TextPattern(tuple(kinds[""]), tuple(kinds["-"]), tuple(kinds["?"]))


def _terms(text: str) -> list[tuple[str, Term]]:
    """Each term with its prefix (``-``, ``?`` or none): a word, a ``"quoted phrase"``
    (``\"`` inside it a quote) or a ``%regular expression%`` (spaces and all)."""
    terms = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        prefix = ""
        if text[i] in "-?" and i + 1 < len(text) and not text[i + 1].isspace():
            prefix, i = text[i], i + 1
        if text[i] == '"':
            phrase, i = _quoted(text, i)
            terms.append((prefix, Term(phrase)))
            continue
        closing = text.find("%", i + 1) if text[i] == "%" else -1
        end = closing + 1 if closing > i else _word_end(text, i)
        terms.append((prefix, _term(text[i:end])))
        i = end
    return terms


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The phrase of the quote opening at ``start``, and where the pattern goes on."""
    phrase = []
    i = start + 1
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] == '"':
            phrase.append('"')
            i += 2
        elif text[i] == '"':
            return "".join(phrase), i + 1
        else:
            phrase.append(text[i])
            i += 1
    raise ValidationError(f"no closing quotation mark in {text!r}", FIELD)


def _word_end(text: str, start: int) -> int:
    end = start
    while end < len(text) and not text[end].isspace():
        end += 1
    return end


def _term(token: str) -> Term:
    if len(token) >= 2 and token.startswith("%") and token.endswith("%"):
        try:
            return Term(token, re.compile(token[1:-1]))
        except re.error as exc:
            message = f"{token!r} is not a regular expression: {exc}"
            raise ValidationError(message, FIELD) from exc
    return Term(token)


def _parse_json(text: str) -> JsonPattern:
    if not text.endswith("}"):
        raise ValidationError(f"a JSON pattern ends with '}}': {text!r}", FIELD)
    body = text[1:-1].strip()
    if not body:
        message = "a JSON pattern needs a comparison, e.g. { $.a = 1 }"
        raise ValidationError(message, FIELD)
    return JsonPattern(
        tuple(
            tuple(_comparison(part) for part in alternative.split("&&"))
            for alternative in body.split("||")
        )
    )


def _comparison(text: str) -> Comparison:
    match = COMPARISON.fullmatch(text)
    if match is None:
        raise ValidationError(
            f'{text.strip()!r} is not a comparison like $.field = "value" or $.field > 10',
            FIELD,
        )
    selector, operator, raw = match.groups()
    value = _value(raw.strip(), text)
    if operator in NUMERIC_OPERATORS and not _is_number(value):
        raise ValidationError(f"{operator} compares numbers, got {raw!r}", FIELD)
    return Comparison(_path(selector), operator, value)


def _path(selector: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    for name, index in re.findall(r"\.([A-Za-z_][A-Za-z0-9_\-]*)|\[(\d+)\]", selector):
        parts.append(name if name else int(index))
    return tuple(parts)


def _value(raw: str, text: str) -> Any:
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise ValidationError(f"an unclosed string in {text.strip()!r}", FIELD)
        return raw[1:-1]
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "NULL" or raw == "null":
        return None
    try:
        return float(raw)
    except ValueError:
        return raw  # an unquoted word, as CloudWatch allows: { $.level = ERROR }


def _lookup(document: Any, path: tuple[str | int, ...]) -> tuple[bool, Any]:
    for part in path:
        if isinstance(part, int):
            if not isinstance(document, list) or part >= len(document):
                return False, None
            document = document[part]
        else:
            if not isinstance(document, dict) or part not in document:
                return False, None
            document = document[part]
    return True, document


def _equals(actual: Any, expected: Any) -> bool:
    if isinstance(expected, str):
        return isinstance(actual, str) and _wildcard(expected).fullmatch(actual) is not None
    if _is_number(expected):
        return _is_number(actual) and float(actual) == float(expected)
    return actual is expected  # true, false, null


def _wildcard(expected: str) -> re.Pattern[str]:
    """``*`` matches any run of characters; nothing else is special."""
    return re.compile(".*".join(re.escape(part) for part in expected.split("*")), re.DOTALL)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
