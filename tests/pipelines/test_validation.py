"""Pipeline definitions are checked completely before they are stored: every mistake is a
ValidationError naming its place."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.core.errors import ValidationError
from shipyard.pipelines.schemas import PipelineDefinition
from shipyard.pipelines.validation import (
    check_definition,
    check_execution_parameters,
    parse_duration,
)

TRAIN = {
    "name": "train",
    "type": "Training",
    "arguments": {
        "algorithm": "xgboost",
        "target": "label",
        "channels": {"train": {"Parameter": "TrainData"}},
    },
}


def auc_at_least(threshold: Any) -> dict[str, Any]:
    return {
        "type": "GreaterThanOrEqualTo",
        "left": {"Property": {"step": "train", "path": ["final_metrics", "validation:auc"]}},
        "right": threshold,
    }


def definition(
    *steps: dict[str, Any], parameters: list[dict[str, Any]] | None = None
) -> PipelineDefinition:
    return PipelineDefinition.model_validate(
        {
            "parameters": parameters
            if parameters is not None
            else [
                {"name": "TrainData", "type": "String", "default_value": "/data/train.csv"},
                {"name": "Threshold", "type": "Float", "default_value": 0.5},
            ],
            "steps": list(steps),
        }
    )


def check_fails(document: PipelineDefinition, *needles: str) -> str:
    with pytest.raises(ValidationError) as caught:
        check_definition(document)
    for needle in needles:
        assert needle in caught.value.message, caught.value.message
    return caught.value.message


CONDITION = {
    "name": "check",
    "type": "Condition",
    "arguments": {
        "conditions": [auc_at_least({"Parameter": "Threshold"})],
        "if_steps": ["model"],
        "else_steps": ["fail"],
    },
}
MODEL = {
    "name": "model",
    "type": "CreateModel",
    "arguments": {
        "training_job_name": {"Property": {"step": "train", "path": ["training_job_name"]}}
    },
}
FAIL = {
    "name": "fail",
    "type": "Fail",
    "arguments": {
        "error_message": {"Join": {"on": " ", "values": ["AUC below", {"Parameter": "Threshold"}]}}
    },
}


def test_a_good_pipeline_has_its_graph() -> None:
    checked = check_definition(definition(TRAIN, CONDITION, MODEL, FAIL))
    assert checked.dependencies == {
        "train": [],
        "check": ["train"],
        "model": ["check", "train"],
        "fail": ["check"],
    }
    assert (
        checked.order.index("train") < checked.order.index("check") < checked.order.index("model")
    )
    assert checked.branches == {"model": [("check", True)], "fail": [("check", False)]}


def test_a_cycle_is_refused_naming_its_steps() -> None:
    a = {**MODEL, "name": "a", "depends_on": ["b"]}
    b = {**FAIL, "name": "b", "depends_on": ["a"], "arguments": {}}
    message = check_fails(definition(TRAIN, a, b), "steps: the steps form a cycle")
    assert "a" in message and "b" in message


def test_a_condition_on_an_unknown_property_is_refused() -> None:
    bad = {
        **CONDITION,
        "arguments": {
            **CONDITION["arguments"],
            "conditions": [
                {
                    "type": "GreaterThan",
                    "left": {"Property": {"step": "train", "path": ["accuracy"]}},
                    "right": 1,
                }
            ],
        },
    }
    check_fails(
        definition(TRAIN, bad, MODEL, FAIL),
        "steps.check.arguments.conditions.0.left.path",
        "no property 'accuracy'",
        "final_metrics",
    )


def test_a_reference_to_a_missing_step_is_refused() -> None:
    bad = {
        **MODEL,
        "arguments": {
            "training_job_name": {"Property": {"step": "trian", "path": ["training_job_name"]}}
        },
    }
    check_fails(definition(TRAIN, bad), "steps.model.arguments.training_job_name.step", "'trian'")
    check_fails(
        definition(TRAIN, {**FAIL, "depends_on": ["nope"]}), "steps.fail.depends_on", "'nope'"
    )
    branch = {**CONDITION, "arguments": {**CONDITION["arguments"], "if_steps": ["ghost"]}}
    check_fails(definition(TRAIN, branch, FAIL), "steps.check.arguments.if_steps", "'ghost'")


def test_an_unknown_parameter_and_a_bad_default_are_refused() -> None:
    bad = {
        **TRAIN,
        "arguments": {**TRAIN["arguments"], "channels": {"train": {"Parameter": "Nope"}}},
    }
    check_fails(definition(bad), "steps.train.arguments.channels.train", "no parameter 'Nope'")
    check_fails(
        definition(
            TRAIN, parameters=[{"name": "TrainData", "type": "Integer", "default_value": "x"}]
        ),
        "parameters.TrainData.default_value",
        "expected a Integer",
    )


def test_execution_parameters_are_typed() -> None:
    document = definition(TRAIN)
    assert check_execution_parameters(document, {"Threshold": "0.9"}) == {
        "TrainData": "/data/train.csv",
        "Threshold": 0.9,
    }
    assert check_execution_parameters(document, {"Threshold": 1})["Threshold"] == 1.0
    for given, needle in (
        ({"Threshold": "high"}, "parameters.Threshold: expected a Float, got 'high'"),
        ({"Threshold": True}, "parameters.Threshold: expected a Float"),
        ({"TrainData": 3}, "parameters.TrainData: expected a String"),
        ({"Other": 1}, "parameters.Other: the pipeline has no parameter 'Other'"),
    ):
        with pytest.raises(ValidationError, match=needle):
            check_execution_parameters(document, given)


def test_arguments_and_options_are_checked_by_step_type() -> None:
    check_fails(
        definition({**TRAIN, "arguments": {**TRAIN["arguments"], "epochz": 3}}),
        "steps.train.arguments.epochz",
        "takes no argument",
    )
    check_fails(definition({**FAIL, "cache_config": {"enabled": True}}), "steps.fail.cache_config")
    check_fails(
        definition({**TRAIN, "cache_config": {"enabled": True, "expire_after": "30 days"}}),
        "steps.train.cache_config.expire_after",
    )
    check_fails(
        definition(
            TRAIN,
            {
                **MODEL,
                "arguments": {
                    "training_job_name": {
                        "JsonGet": {
                            "step": "train",
                            "property_file": "evaluation",
                            "json_path": "auc",
                        }
                    }
                },
            },
        ),
        "steps.model.arguments.training_job_name.property_file",
        "declares no property file",
    )
    both = {**CONDITION, "arguments": {**CONDITION["arguments"], "else_steps": ["model"]}}
    check_fails(definition(TRAIN, both, MODEL), "in both branches")
    check_fails(
        definition(
            TRAIN,
            {**CONDITION, "arguments": {"conditions": [{"type": "Bigger", "left": 1, "right": 2}]}},
        ),
        "steps.check.arguments.conditions.0",
    )


def test_iso_durations() -> None:
    assert parse_duration("P30D", "f").days == 30
    assert parse_duration("PT1H30M", "f").total_seconds() == 5400
    assert parse_duration("P1W", "f").days == 7
    for bad in ("P", "PT", "30d", "P1Y"):
        with pytest.raises(ValidationError):
            parse_duration(bad, "f")
