"""Expressions in step arguments: find what they refer to, and resolve them at run time.

An expression is a one-key object (see :mod:`shipyard.pipelines.schemas`); any other
value is a literal, walked into (lists and objects) to find the expressions inside.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.core.errors import ValidationError

EXPRESSION_KEYS = ("Parameter", "Property", "JsonGet", "Join", "ExecutionVariable")
EXECUTION_VARIABLES = ("PipelineExecutionId", "PipelineName", "StartDateTime")
_JSON_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Reference:
    """One expression found in a definition, with the field it sits in."""

    kind: str  # a key of EXPRESSION_KEYS
    body: Any
    field: str


def is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in EXPRESSION_KEYS


def references(value: Any, field: str) -> Iterator[Reference]:
    """Every expression inside ``value``, depth first; Join's values are walked into."""
    if is_expression(value):
        kind, body = next(iter(value.items()))
        yield Reference(kind, body, field)
        if kind == "Join" and isinstance(body, dict):
            yield from references(body.get("values", []), f"{field}.Join.values")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from references(item, f"{field}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from references(item, f"{field}.{index}")


@dataclass(frozen=True)
class Scope:
    """What expressions resolve against while an execution runs."""

    parameters: Mapping[str, Any]
    properties: Callable[[str, list[str], str], Any]
    """``properties(step, path, field)``: a property of a finished step."""
    json_get: Callable[[str, str, str, str], Any]
    """``json_get(step, property_file, json_path, field)``."""
    variables: Mapping[str, Any]


def resolve(value: Any, scope: Scope, field: str) -> Any:
    """``value`` with every expression replaced by what it stands for now."""
    if is_expression(value):
        kind, body = next(iter(value.items()))
        return _resolve_one(kind, body, scope, field)
    if isinstance(value, dict):
        return {key: resolve(item, scope, f"{field}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, scope, f"{field}.{index}") for index, item in enumerate(value)]
    return value


def _resolve_one(kind: str, body: Any, scope: Scope, field: str) -> Any:
    if kind == "Parameter":
        return scope.parameters[body]
    if kind == "Property":
        return scope.properties(body["step"], list(body["path"]), field)
    if kind == "JsonGet":
        return scope.json_get(body["step"], body["property_file"], body["json_path"], field)
    if kind == "ExecutionVariable":
        return scope.variables[body]
    values = [resolve(item, scope, field) for item in body.get("values", [])]
    return str(body.get("on", "")).join(_text(item) for item in values)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read_json_path(document: Any, json_path: str, field: str) -> Any:
    """``a.b[0].c`` (a leading ``$.`` is allowed) inside a JSON document."""
    path = json_path.removeprefix("$").removeprefix(".")
    value = document
    for name, index in _JSON_PATH_PART.findall(path):
        try:
            value = value[int(index)] if index else value[name]
        except (KeyError, IndexError, TypeError):
            raise ValidationError(f"json path '{json_path}' is not in the file", field) from None
    return value


def check_json_path(json_path: str, field: str) -> None:
    path = json_path.removeprefix("$").removeprefix(".")
    rebuilt = "".join(
        (("." if i else "") + name) if name else f"[{index}]"
        for i, (name, index) in enumerate(_JSON_PATH_PART.findall(path))
    )
    if not path or rebuilt != path:
        raise ValidationError(
            f"'{json_path}' is not a json path like 'metrics.auc.value' or 'items[0].score'",
            field,
        )
