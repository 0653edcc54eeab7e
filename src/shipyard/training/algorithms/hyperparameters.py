"""The base of every hyperparameter schema, and the translation of its errors into 400s."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import annotated_types
import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shipyard.core.errors import ValidationError

SchemaT = TypeVar("SchemaT", bound="HyperparameterSchema")

_NONE_STRINGS = frozenset({"none", "null"})
_BOUND_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})
_BOUNDS = (
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Ge, "ge", ">="),
    (annotated_types.Lt, "lt", "<"),
    (annotated_types.Le, "le", "<="),
)


class HyperparameterSchema(BaseModel):
    """Typed hyperparameters of one algorithm, with SageMaker-like names and defaults.

    Values may arrive as strings, as SageMaker passes them ("5", "true", "0.1", "None").
    Unknown keys are rejected; a field whose name is not a Python identifier uses an alias.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _none_from_strings(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        return {
            key: None
            if isinstance(value, str) and value.strip().lower() in _NONE_STRINGS
            else value
            for key, value in data.items()
        }

    @classmethod
    def parse(cls: type[SchemaT], raw: Mapping[str, Any] | None) -> SchemaT:
        """Validate `raw`; the first problem raises ValidationError on `hyperparameters.<key>`."""
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ValidationError("must be an object", field="hyperparameters")
        try:
            return cls.model_validate(dict(raw))
        except pydantic.ValidationError as exc:
            raise _to_validation_error(cls, exc.errors()[0]) from None

    @classmethod
    def keys(cls) -> list[str]:
        """The accepted hyperparameter names, sorted."""
        return sorted(info.alias or name for name, info in cls.model_fields.items())

    def to_dict(self) -> dict[str, Any]:
        """Every hyperparameter, typed, defaults filled in, keyed by its public name."""
        return self.model_dump(by_alias=True)


class TabularHyperparameters(HyperparameterSchema):
    """What every tabular algorithm accepts: `k_fold` >= 2 cross-validates on the train
    channel (reporting `cv:<metric>:mean` and `:std`) before the final model is trained."""

    k_fold: Annotated[int, Field(ge=2, le=20)] | None = None


def split_metric_list(value: Any) -> Any:
    """'auc, logloss' -> ['auc', 'logloss']: SageMaker passes lists as comma-separated strings."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _to_validation_error(schema: type[HyperparameterSchema], error: Any) -> ValidationError:
    loc = error.get("loc") or ()
    if not loc:  # a model-level check
        return ValidationError(_message(error), field="hyperparameters")
    key = str(loc[0])
    field = f"hyperparameters.{key}"
    if error["type"] == "extra_forbidden":
        return ValidationError(
            f"unknown hyperparameter '{key}'; expected one of {', '.join(schema.keys())}",
            field=field,
        )
    if error["type"] == "missing":
        return ValidationError("is required", field=field)
    if error["type"] in _BOUND_ERRORS:
        bounds = _declared_bounds(schema, key) or _error_bounds(error)
        return ValidationError(f"must be {bounds}, got {error['input']!r}", field=field)
    return ValidationError(f"{_message(error)}, got {error.get('input')!r}", field=field)


def _message(error: Any) -> str:
    message = str(error["msg"])
    if error["type"] == "value_error":
        return message.removeprefix("Value error, ")
    if error["type"] == "literal_error":
        return f"must be one of {error['ctx']['expected']}"
    return message.replace("Input should be", "must be", 1)


def _declared_bounds(schema: type[HyperparameterSchema], key: str) -> str:
    """'>= 0 and <= 30' from the field's constraints, so the message states the whole range."""
    for name, info in schema.model_fields.items():
        if (info.alias or name) == key:
            return " and ".join(
                f"{symbol} {getattr(item, attribute)}"
                for kind, attribute, symbol in _BOUNDS
                for item in info.metadata
                if isinstance(item, kind)
            )
    return ""


def _error_bounds(error: Any) -> str:
    ctx = error.get("ctx", {})
    return " and ".join(
        f"{symbol} {ctx[attribute]}" for _, attribute, symbol in _BOUNDS if attribute in ctx
    )
