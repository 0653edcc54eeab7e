"""Values known when an execution runs: parameters, step properties, JSON read from a
step's output, joins, execution variables; and the conditions a ConditionStep tests.

Each compiles to the one-key JSON object the server resolves (see
``shipyard.pipelines.schemas``).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel


class Expression(ABC):
    """A value the engine fills in at run time."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The one-key JSON object the server resolves."""

    # comparisons build conditions, as in `train.properties.final_metrics["auc"] >= 0.9`
    def __ge__(self, other: Any) -> Condition:
        return Condition("GreaterThanOrEqualTo", self, other)

    def __gt__(self, other: Any) -> Condition:
        return Condition("GreaterThan", self, other)

    def __le__(self, other: Any) -> Condition:
        return Condition("LessThanOrEqualTo", self, other)

    def __lt__(self, other: Any) -> Condition:
        return Condition("LessThan", self, other)


class Parameter(Expression):
    type = "String"

    def __init__(
        self, name: str, default_value: Any = None, enum_values: Sequence[Any] | None = None
    ) -> None:
        self.name = name
        self.default_value = default_value
        self.enum_values = list(enum_values) if enum_values is not None else None

    def to_json(self) -> dict[str, Any]:
        return {"Parameter": self.name}

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "default_value": self.default_value,
            "enum_values": self.enum_values,
        }


class ParameterString(Parameter):
    type = "String"


class ParameterInteger(Parameter):
    type = "Integer"


class ParameterFloat(Parameter):
    type = "Float"


class ParameterBoolean(Parameter):
    type = "Boolean"


class Properties(Expression):
    """A step's property; attributes and keys go deeper:
    ``train.properties.final_metrics["validation:auc"]``."""

    def __init__(self, step_name: str, path: tuple[str, ...] = ()) -> None:
        self._step_name = step_name
        self._path = path

    def __getattr__(self, key: str) -> Properties:
        if key.startswith("__"):
            raise AttributeError(key)
        return Properties(self._step_name, (*self._path, key))

    def __getitem__(self, key: str) -> Properties:
        return Properties(self._step_name, (*self._path, str(key)))

    def to_json(self) -> dict[str, Any]:
        return {"Property": {"step": self._step_name, "path": list(self._path)}}


@dataclasses.dataclass(frozen=True)
class PropertyFile:
    """A JSON file a processing step writes into one of its outputs."""

    name: str
    output_name: str
    path: str


class JsonGet(Expression):
    def __init__(self, step_name: Any, property_file: PropertyFile | str, json_path: str) -> None:
        self.step_name = getattr(step_name, "name", step_name)
        self.property_file = getattr(property_file, "name", property_file)
        self.json_path = json_path

    def to_json(self) -> dict[str, Any]:
        return {
            "JsonGet": {
                "step": self.step_name,
                "property_file": self.property_file,
                "json_path": self.json_path,
            }
        }


class Join(Expression):
    def __init__(self, on: str = "", values: Sequence[Any] = ()) -> None:
        self.on = on
        self.values = list(values)

    def to_json(self) -> dict[str, Any]:
        return {"Join": {"on": self.on, "values": to_json(self.values)}}


class ExecutionVariable(Expression):
    def __init__(self, name: str) -> None:
        self.name = name

    def to_json(self) -> dict[str, Any]:
        return {"ExecutionVariable": self.name}


class ExecutionVariables:
    PIPELINE_EXECUTION_ID = ExecutionVariable("PipelineExecutionId")
    PIPELINE_NAME = ExecutionVariable("PipelineName")
    START_DATETIME = ExecutionVariable("StartDateTime")


# ---- conditions --------------------------------------------------------------------------
class Condition:
    def __init__(self, kind: str, left: Any, right: Any) -> None:
        self.kind, self.left, self.right = kind, left, right

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "left": to_json(self.left), "right": to_json(self.right)}


def ConditionEquals(left: Any, right: Any) -> Condition:
    return Condition("Equals", left, right)


def ConditionGreaterThan(left: Any, right: Any) -> Condition:
    return Condition("GreaterThan", left, right)


def ConditionGreaterThanOrEqualTo(left: Any, right: Any) -> Condition:
    return Condition("GreaterThanOrEqualTo", left, right)


def ConditionLessThan(left: Any, right: Any) -> Condition:
    return Condition("LessThan", left, right)


def ConditionLessThanOrEqualTo(left: Any, right: Any) -> Condition:
    return Condition("LessThanOrEqualTo", left, right)


class ConditionIn(Condition):
    def __init__(self, value: Any, in_values: Sequence[Any]) -> None:
        super().__init__("In", value, list(in_values))

    def to_json(self) -> dict[str, Any]:
        return {"type": "In", "value": to_json(self.left), "in_values": to_json(self.right)}


class ConditionNot(Condition):
    def __init__(self, expression: Condition) -> None:
        super().__init__("Not", expression, None)

    def to_json(self) -> dict[str, Any]:
        return {"type": "Not", "expression": self.left.to_json()}


class ConditionOr(Condition):
    def __init__(self, conditions: Sequence[Condition]) -> None:
        super().__init__("Or", list(conditions), None)

    def to_json(self) -> dict[str, Any]:
        return {"type": "Or", "conditions": [c.to_json() for c in self.left]}


class ConditionAnd(Condition):
    def __init__(self, conditions: Sequence[Condition]) -> None:
        super().__init__("And", list(conditions), None)

    def to_json(self) -> dict[str, Any]:
        return {"type": "And", "conditions": [c.to_json() for c in self.left]}


def to_json(value: Any) -> Any:
    """``value`` with every expression (and condition) compiled, walking into containers,
    dataclasses and pydantic models."""
    if isinstance(value, Expression | Condition):
        return value.to_json()
    if isinstance(value, BaseModel):
        return to_json(value.model_dump(exclude_none=True))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value
