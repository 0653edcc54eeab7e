"""The pipeline DSL compiles to the definition the server checks: expressions, conditions,
branches, options; local code is uploaded once per content."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from shipyard import (
    CacheConfig,
    ConditionGreaterThanOrEqualTo,
    ConditionIn,
    ConditionNot,
    ConditionStep,
    Estimator,
    ExecutionVariables,
    FailStep,
    Join,
    JsonGet,
    ParameterFloat,
    ParameterString,
    Pipeline,
    ProcessingInput,
    ProcessingOutput,
    ProcessingStep,
    PropertyFile,
    RetryPolicy,
    TrainingStep,
)
from shipyard.pipelines.schemas import PipelineDefinition
from shipyard.pipelines.validation import check_definition


class RecordingSession:
    """Stands in for the SDK session: an upload's URI is its content hash."""

    def __init__(self) -> None:
        self.uploads: list[str] = []

    def upload(self, path: Path, dataset_name: str | None = None) -> str:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        self.uploads.append(path.name)
        return f"shipyard://uploads/{digest}/{path.name}"


def example(tmp_path: Path) -> Pipeline:
    (tmp_path / "evaluate.py").write_text("print('evaluating')\n")
    source = tmp_path / "src"
    source.mkdir(exist_ok=True)
    (source / "train.py").write_text("print('training')\n")
    data = ParameterString("InputData")
    threshold = ParameterFloat("Threshold", default_value=0.8)
    prepare = ProcessingStep(
        "prepare",
        inputs=[ProcessingInput(source=data, input_name="raw")],
        outputs=[ProcessingOutput(output_name="train")],
        sql="SELECT * FROM raw",
        cache_config=CacheConfig(enable_caching=True, expire_after="P7D"),
    )
    train = TrainingStep(
        "train",
        estimator=Estimator(
            entry_point="train.py", source_dir=source, hyperparameters={"lr": threshold}
        ),
        inputs={"train": prepare.properties.processing_outputs["train"]["table_uri"]},
        retry_policy=RetryPolicy(max_attempts=3, failure_reasons=["WorkerLost"]),
    )
    report = PropertyFile(name="evaluation", output_name="report", path="evaluation.json")
    evaluate = ProcessingStep(
        "evaluate",
        inputs=[ProcessingInput(source=train.properties.model_artifacts, input_name="model")],
        outputs=[ProcessingOutput(output_name="report")],
        code=tmp_path / "evaluate.py",
        property_files=[report],
    )
    auc = JsonGet(evaluate, report, "metrics.auc.value")
    fail = FailStep(
        "fail", error_message=Join(" ", ["AUC", auc, ExecutionVariables.PIPELINE_EXECUTION_ID])
    )
    check = ConditionStep(
        "check",
        conditions=[
            ConditionGreaterThanOrEqualTo(left=auc, right=threshold),
            ConditionNot(ConditionIn(data, ["none"])),
            train.properties.final_metrics["train:loss"] <= 1.0,
        ],
        else_steps=[fail],
    )
    return Pipeline("dsl", parameters=[data, threshold], steps=[prepare, train, evaluate, check])


def test_the_dsl_compiles_to_a_definition_the_server_accepts(tmp_path: Path) -> None:
    pipeline = example(tmp_path)
    pipeline._session = RecordingSession()  # type: ignore[assignment]
    definition = pipeline.definition()
    steps = {s["name"]: s for s in definition["steps"]}
    assert list(steps) == ["prepare", "train", "evaluate", "check", "fail"]  # branches found
    assert steps["prepare"]["arguments"]["processing_inputs"][0]["source"] == {
        "Parameter": "InputData"
    }
    assert steps["prepare"]["cache_config"] == {"enabled": True, "expire_after": "P7D"}
    assert steps["train"]["arguments"]["channels"]["train"] == {
        "Property": {"step": "prepare", "path": ["processing_outputs", "train", "table_uri"]}
    }
    assert steps["train"]["arguments"]["hyperparameters"] == {"lr": {"Parameter": "Threshold"}}
    assert steps["train"]["retry_policy"]["failure_reasons"] == ["WorkerLost"]
    assert steps["evaluate"]["arguments"]["source_uri"].endswith("/evaluate.py")
    conditions = steps["check"]["arguments"]["conditions"]
    assert conditions[0]["left"] == {
        "JsonGet": {
            "step": "evaluate",
            "property_file": "evaluation",
            "json_path": "metrics.auc.value",
        }
    }
    assert conditions[1] == {
        "type": "Not",
        "expression": {"type": "In", "value": {"Parameter": "InputData"}, "in_values": ["none"]},
    }
    assert conditions[2]["type"] == "LessThanOrEqualTo"
    assert steps["check"]["arguments"]["else_steps"] == ["fail"]
    checked = check_definition(PipelineDefinition.model_validate(definition))
    assert checked.dependencies["evaluate"] == ["train"]
    assert checked.branches == {"fail": [("check", False)]}


def test_unchanged_code_uploads_to_the_same_uri(tmp_path: Path) -> None:
    """A source directory is archived reproducibly: the same files, the same archive."""
    first = example(tmp_path)
    first._session = RecordingSession()  # type: ignore[assignment]
    before = first.definition()
    os.utime(tmp_path / "src" / "train.py", (0, 0))  # touched, not changed
    again = example(tmp_path)
    again._session = RecordingSession()  # type: ignore[assignment]
    assert again.definition() == before
