"""Check a pipeline definition completely before it is stored, and an execution's
parameters before it starts: every mistake is a ValidationError naming its place
(``steps.train.arguments.channels``, ``parameters.Threshold``...)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from graphlib import CycleError, TopologicalSorter
from typing import Any

from shipyard.core.errors import ValidationError
from shipyard.core.names import validate_name
from shipyard.pipelines import catalog, requests
from shipyard.pipelines.expressions import (
    EXECUTION_VARIABLES,
    Reference,
    check_json_path,
    references,
)
from shipyard.pipelines.schemas import ParameterDefinition, PipelineDefinition, StepDefinition

PARAMETER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "String": (str,),
    "Integer": (int,),
    "Float": (float, int),
    "Boolean": (bool,),
}
_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


@dataclass(frozen=True)
class CheckedPipeline:
    """A definition that passed every check, with its graph."""

    definition: PipelineDefinition
    dependencies: dict[str, list[str]]
    """Each step's upstream steps, sorted."""
    order: list[str]
    """The steps in an order where each comes after its upstream steps."""
    branches: dict[str, list[tuple[str, bool]]]
    """For a step inside a condition's branch: (condition step, the outcome it runs on)."""

    def step(self, name: str) -> StepDefinition:
        return next(s for s in self.definition.steps if s.name == name)


def check_definition(definition: PipelineDefinition) -> CheckedPipeline:
    parameters = _check_parameters(definition.parameters)
    steps = _check_step_names(definition.steps)
    dependencies: dict[str, set[str]] = {step.name: set() for step in definition.steps}
    branches: dict[str, list[tuple[str, bool]]] = {}
    for step in definition.steps:
        field = f"steps.{step.name}"
        kind = catalog.KINDS[step.type]
        _check_arguments(step, kind, field)
        _check_options(step, kind, field)
        for upstream in step.depends_on:
            _known_step(upstream, steps, step.name, f"{field}.depends_on")
            dependencies[step.name].add(upstream)
        for reference in references(step.arguments, f"{field}.arguments"):
            source = _check_reference(reference, parameters, steps, step.name)
            if source is not None:
                dependencies[step.name].add(source)
        if step.type == "Condition":
            for branch, outcome in (("if_steps", True), ("else_steps", False)):
                for target in _branch(step, branch, steps, field):
                    dependencies[target].add(step.name)
                    branches.setdefault(target, []).append((step.name, outcome))
    order = _topological_order(dependencies)
    return CheckedPipeline(
        definition=definition,
        dependencies={name: sorted(upstream) for name, upstream in dependencies.items()},
        order=order,
        branches=branches,
    )


def check_execution_parameters(
    definition: PipelineDefinition, given: Mapping[str, Any]
) -> dict[str, Any]:
    """Every parameter's value for one execution: given, else its default."""
    declared = {p.name: p for p in definition.parameters}
    for name in given:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise ValidationError(
                f"the pipeline has no parameter '{name}'; its parameters: {known}",
                f"parameters.{name}",
            )
    values = {}
    for name, parameter in declared.items():
        value = given.get(name, parameter.default_value)
        if value is None:
            raise ValidationError(
                "required: the parameter has no default value", f"parameters.{name}"
            )
        values[name] = _typed(parameter, value, f"parameters.{name}")
    return values


def parse_duration(text: str, field: str) -> timedelta:
    """An ISO 8601 duration of weeks, days, hours, minutes and seconds (``P30D``, ``PT1H``)."""
    match = _DURATION.fullmatch(text)
    if match is None or text in ("P", "PT"):
        raise ValidationError(
            f"'{text}' is not an ISO 8601 duration like P30D, PT12H or P1DT6H", field
        )
    parts = {key: int(value) for key, value in match.groupdict().items() if value}
    return timedelta(**parts)


def _check_parameters(parameters: list[ParameterDefinition]) -> dict[str, ParameterDefinition]:
    declared: dict[str, ParameterDefinition] = {}
    for parameter in parameters:
        field = f"parameters.{parameter.name}"
        if not PARAMETER_NAME.fullmatch(parameter.name):
            raise ValidationError(
                "parameter names are a letter, then letters, digits or '_'", field
            )
        if parameter.name in declared:
            raise ValidationError("a parameter of this name is already declared", field)
        if parameter.default_value is not None:
            _typed(parameter, parameter.default_value, f"{field}.default_value")
        declared[parameter.name] = parameter
    return declared


def _typed(parameter: ParameterDefinition, value: Any, field: str) -> Any:
    """``value`` as the parameter's type; a string from a command line is converted."""
    if isinstance(value, str) and parameter.type != "String":
        value = _from_text(parameter.type, value, field)
    allowed = PARAMETER_TYPES[parameter.type]
    if isinstance(value, bool) and parameter.type != "Boolean" or not isinstance(value, allowed):
        raise ValidationError(
            f"expected a {parameter.type}, got {type(value).__name__} {value!r}", field
        )
    if parameter.type == "Float":
        value = float(value)  # type: ignore[arg-type]  # an int or a float, checked above
    if parameter.enum_values is not None and value not in parameter.enum_values:
        raise ValidationError(f"expected one of {parameter.enum_values}, got {value!r}", field)
    return value


def _from_text(kind: str, text: str, field: str) -> Any:
    try:
        if kind == "Integer":
            return int(text)
        if kind == "Float":
            return float(text)
    except ValueError:
        raise ValidationError(f"expected a {kind}, got {text!r}", field) from None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    raise ValidationError(f"expected a Boolean (true or false), got {text!r}", field)


def _check_step_names(steps: list[StepDefinition]) -> dict[str, StepDefinition]:
    named: dict[str, StepDefinition] = {}
    for index, step in enumerate(steps):
        validate_name(step.name, f"steps.{index}.name")
        if step.name in named:
            raise ValidationError("two steps have this name", f"steps.{step.name}")
        named[step.name] = step
    return named


def _check_arguments(step: StepDefinition, kind: catalog.StepKind, field: str) -> None:
    allowed = kind.allowed_arguments or requests.argument_names(step.type)
    for key in step.arguments:
        if key not in allowed:
            raise ValidationError(
                f"a {step.type} step takes no argument '{key}'; it takes "
                f"{', '.join(sorted(allowed))}",
                f"{field}.arguments.{key}",
            )
    for key in kind.required_arguments:
        if key not in step.arguments:
            raise ValidationError(f"required for a {step.type} step", f"{field}.arguments.{key}")
    if step.type == "Condition":
        _check_conditions(step.arguments["conditions"], f"{field}.arguments.conditions")


def _check_conditions(conditions: Any, field: str) -> None:
    if not isinstance(conditions, list) or not conditions:
        raise ValidationError("expected a non-empty list of conditions", field)
    for index, condition in enumerate(conditions):
        _check_condition(condition, f"{field}.{index}")


def _check_condition(condition: Any, field: str) -> None:
    kinds = (*catalog.COMPARISONS, *catalog.LOGICAL)
    if not isinstance(condition, dict) or condition.get("type") not in kinds:
        raise ValidationError(f"expected a condition with a type among {', '.join(kinds)}", field)
    kind = condition["type"]
    if kind in catalog.COMPARISONS:
        expected = {"type", "left", "right"}
    elif kind == "In":
        expected = {"type", "value", "in_values"}
    elif kind == "Not":
        expected = {"type", "expression"}
    else:
        expected = {"type", "conditions"}
    if set(condition) != expected:
        raise ValidationError(
            f"a {kind} condition has exactly the keys {', '.join(sorted(expected))}", field
        )
    if kind == "Not":
        _check_condition(condition["expression"], f"{field}.expression")
    elif kind in ("And", "Or"):
        _check_conditions(condition["conditions"], f"{field}.conditions")
    elif kind == "In" and not isinstance(condition["in_values"], list):
        raise ValidationError("expected a list", f"{field}.in_values")


def _check_options(step: StepDefinition, kind: catalog.StepKind, field: str) -> None:
    if step.cache_config is not None and step.cache_config.enabled:
        if not kind.cacheable:
            raise ValidationError(
                f"a {step.type} step cannot be cached; processing, training, tuning and "
                "transform steps can",
                f"{field}.cache_config",
            )
        if step.cache_config.expire_after is not None:
            parse_duration(step.cache_config.expire_after, f"{field}.cache_config.expire_after")
    if step.retry_policy is not None and not kind.asynchronous:
        raise ValidationError(
            f"a {step.type} step runs at once and is not retried", f"{field}.retry_policy"
        )
    if step.property_files and step.type != "Processing":
        raise ValidationError(
            "only processing steps write property files", f"{field}.property_files"
        )
    outputs = _declared_outputs(step)
    names = set()
    for prop in step.property_files:
        where = f"{field}.property_files.{prop.name}"
        if prop.name in names:
            raise ValidationError("two property files have this name", where)
        names.add(prop.name)
        if outputs is not None and prop.output_name not in outputs:
            raise ValidationError(
                f"the step has no output '{prop.output_name}'; its outputs: "
                f"{', '.join(sorted(outputs)) or 'none'}",
                f"{where}.output_name",
            )


def _declared_outputs(step: StepDefinition) -> set[str] | None:
    """The output names of a processing step, when they are written out literally."""
    outputs = step.arguments.get("processing_outputs", [])
    if not isinstance(outputs, list):
        return None
    return {o["output_name"] for o in outputs if isinstance(o, dict) and "output_name" in o}


def _known_step(
    name: Any, steps: Mapping[str, StepDefinition], referrer: str, field: str
) -> StepDefinition:
    if not isinstance(name, str) or name not in steps:
        raise ValidationError(f"no step is called {name!r}", field)
    if name == referrer:
        raise ValidationError("a step cannot refer to itself", field)
    return steps[name]


def _check_reference(
    reference: Reference,
    parameters: Mapping[str, ParameterDefinition],
    steps: Mapping[str, StepDefinition],
    referrer: str,
) -> str | None:
    """Check one expression; the step it reads from, if any."""
    body, field = reference.body, reference.field
    if reference.kind == "Parameter":
        if body not in parameters:
            known = ", ".join(sorted(parameters)) or "none"
            raise ValidationError(f"no parameter {body!r}; the parameters: {known}", field)
        return None
    if reference.kind == "ExecutionVariable":
        if body not in EXECUTION_VARIABLES:
            raise ValidationError(
                f"no execution variable {body!r}; expected one of {', '.join(EXECUTION_VARIABLES)}",
                field,
            )
        return None
    if reference.kind == "Join":
        if not isinstance(body, dict) or not isinstance(body.get("values"), list):
            raise ValidationError("Join takes {'on': separator, 'values': [...]}", field)
        return None
    if not isinstance(body, dict) or not isinstance(body.get("step"), str):
        raise ValidationError(f"{reference.kind} needs the name of a step", field)
    source = _known_step(body["step"], steps, referrer, f"{field}.step")
    if reference.kind == "Property":
        _check_property_path(source, body.get("path"), field)
    else:
        files = {p.name: p for p in source.property_files}
        if body.get("property_file") not in files:
            raise ValidationError(
                f"step '{source.name}' declares no property file {body.get('property_file')!r}; "
                f"it declares: {', '.join(sorted(files)) or 'none'}",
                f"{field}.property_file",
            )
        if not isinstance(body.get("json_path"), str):
            raise ValidationError("expected a json path", f"{field}.json_path")
        check_json_path(body["json_path"], f"{field}.json_path")
    return source.name


def _check_property_path(source: StepDefinition, path: Any, field: str) -> None:
    kind = catalog.KINDS[source.type]
    where = f"{field}.path"
    if not isinstance(path, list) or not path or not all(isinstance(p, str) for p in path):
        raise ValidationError("expected a non-empty list of property names", where)
    shape = kind.properties.get(path[0])
    if shape is None:
        known = ", ".join(sorted(kind.properties)) or "none"
        raise ValidationError(
            f"a {source.type} step has no property '{path[0]}'; its properties: {known}", where
        )
    if shape == catalog.VALUE and len(path) != 1:
        raise ValidationError(f"'{path[0]}' is a value, with no properties inside", where)
    if shape == catalog.FREE_MAP and len(path) != 2:
        raise ValidationError(f"'{path[0]}' needs one key, e.g. [{path[0]!r}, 'name']", where)
    if shape == catalog.OUTPUTS:
        outputs = _declared_outputs(source)
        if len(path) != 3 or path[2] not in catalog.OUTPUT_FIELDS:
            raise ValidationError(
                f"expected ['{path[0]}', <output name>, one of {', '.join(catalog.OUTPUT_FIELDS)}]",
                where,
            )
        if outputs is not None and path[1] not in outputs:
            raise ValidationError(
                f"step '{source.name}' has no output '{path[1]}'; its outputs: "
                f"{', '.join(sorted(outputs)) or 'none'}",
                where,
            )


def _branch(
    step: StepDefinition, branch: str, steps: Mapping[str, StepDefinition], field: str
) -> list[str]:
    targets = step.arguments.get(branch, [])
    where = f"{field}.arguments.{branch}"
    if not isinstance(targets, list):
        raise ValidationError("expected a list of step names", where)
    for target in targets:
        _known_step(target, steps, step.name, where)
    other = step.arguments.get("else_steps" if branch == "if_steps" else "if_steps", [])
    both = sorted(set(targets) & set(other if isinstance(other, list) else []))
    if both:
        raise ValidationError(f"step '{both[0]}' is in both branches", where)
    return targets


def _topological_order(dependencies: dict[str, set[str]]) -> list[str]:
    try:
        return list(TopologicalSorter(dependencies).static_order())
    except CycleError as exc:
        cycle = " → ".join(reversed(exc.args[1]))
        raise ValidationError(f"the steps form a cycle: {cycle}", "steps") from None
