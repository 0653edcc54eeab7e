"""Composite alarm rules: parse, list the alarms named, evaluate against their states.

Grammar (CloudWatch's, keywords in capitals)::

    rule    := or
    or      := and ("OR" and)*
    and     := not ("AND" not)*
    not     := "NOT" not | primary
    primary := "TRUE" | "FALSE" | STATE "(" name ")" | "(" rule ")"
    STATE   := "ALARM" | "OK" | "INSUFFICIENT_DATA"

A name may be quoted (``ALARM("cpu-high")``). A bad rule is a ValidationError naming
``alarm_rule`` and the character where it went wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from shipyard.core.errors import ValidationError
from shipyard.core.names import validate_name

FIELD = "alarm_rule"
MAX_RULE_LENGTH = 10_240
STATE_FUNCTIONS = ("ALARM", "OK", "INSUFFICIENT_DATA")
TOKEN = re.compile(
    r"""\s*(?:(?P<punct>[()])|(?P<quoted>"[^"]*"|'[^']*')|(?P<word>[A-Za-z0-9_\-]+))"""
)


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class StateIs:
    state: str
    alarm: str


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Const | StateIs | Not | And | Or


def parse(rule: str) -> Node:
    if not rule.strip():
        raise ValidationError("must not be empty", FIELD)
    if len(rule) > MAX_RULE_LENGTH:
        raise ValidationError(f"must be at most {MAX_RULE_LENGTH} characters", FIELD)
    parser = _Parser(_tokens(rule))
    node = parser.rule()
    if parser.peek() is not None:
        parser.fail("expected AND, OR or the end of the rule")
    return node


def alarm_names(node: Node) -> set[str]:
    """The alarms the rule names."""
    if isinstance(node, StateIs):
        return {node.alarm}
    if isinstance(node, Not):
        return alarm_names(node.operand)
    if isinstance(node, And | Or):
        return set().union(*(alarm_names(operand) for operand in node.operands))
    return set()


def holds(node: Node, states: Mapping[str, str]) -> bool:
    """Whether the rule is TRUE when the alarms are in ``states``."""
    if isinstance(node, Const):
        return node.value
    if isinstance(node, StateIs):
        return states.get(node.alarm) == node.state
    if isinstance(node, Not):
        return not holds(node.operand, states)
    if isinstance(node, And):
        return all(holds(operand, states) for operand in node.operands)
    return any(holds(operand, states) for operand in node.operands)


@dataclass(frozen=True)
class _Token:
    kind: str  # "punct" | "quoted" | "word"
    text: str
    at: int


def _tokens(rule: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(rule):
        if rule[position:].strip() == "":
            break
        match = TOKEN.match(rule, position)
        if match is None:
            at = position + len(rule[position:]) - len(rule[position:].lstrip())
            raise ValidationError(f"unexpected {rule[at]!r} at character {at}", FIELD)
        kind = match.lastgroup or "word"
        text = match.group(kind)
        tokens.append(_Token(kind, text, match.start(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            self.fail("the rule ends too soon")
        self.position += 1
        return token

    def fail(self, message: str) -> NoReturn:
        token = self.peek()
        where = f" at character {token.at} ({token.text!r})" if token else ""
        raise ValidationError(f"{message}{where}", FIELD)

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text == word:
            self.position += 1
            return True
        return False

    def rule(self) -> Node:
        operands = [self.conjunction()]
        while self.keyword("OR"):
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def conjunction(self) -> Node:
        operands = [self.negation()]
        while self.keyword("AND"):
            operands.append(self.negation())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def negation(self) -> Node:
        if self.keyword("NOT"):
            return Not(self.negation())
        return self.primary()

    def primary(self) -> Node:
        token = self.peek()
        if token is None:
            self.fail("the rule ends too soon")
        if token.kind == "punct" and token.text == "(":
            self.position += 1
            node = self.rule()
            self.expect(")")
            return node
        if token.kind == "word" and token.text in ("TRUE", "FALSE"):
            self.position += 1
            return Const(token.text == "TRUE")
        if token.kind == "word" and token.text in STATE_FUNCTIONS:
            self.position += 1
            self.expect("(")
            name_token = self.take()
            if name_token.kind == "punct":
                self.position -= 1
                self.fail("expected an alarm's name")
            name = name_token.text.strip("\"'") if name_token.kind == "quoted" else name_token.text
            try:
                validate_name(name, FIELD)
            except ValidationError:
                raise ValidationError(
                    f"{name!r} at character {name_token.at} is not an alarm's name", FIELD
                ) from None
            self.expect(")")
            return StateIs(token.text, name)
        self.fail("expected ALARM(...), OK(...), INSUFFICIENT_DATA(...), TRUE, FALSE, NOT or (")

    def expect(self, punct: str) -> None:
        token = self.peek()
        if token is None or token.kind != "punct" or token.text != punct:
            self.fail(f"expected {punct!r}")
        self.position += 1
