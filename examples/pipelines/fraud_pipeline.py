"""A fraud model from raw transactions to an endpoint, gated on its test AUC.

    prepare (SQL split) → train (xgboost) → evaluate (script) → check AUC ≥ Threshold
        → register (model registry) → model → deploy      … or → too-weak (Fail)

Run it from a shell or from CI (exits non-zero when the execution fails):

    shipyard pipelines run examples/pipelines/fraud_pipeline.py \
        --parameter InputData=shipyard://datasets/... --parameter Threshold=0.8 --wait
"""

from __future__ import annotations

from pathlib import Path

from shipyard import (
    CacheConfig,
    ConditionGreaterThanOrEqualTo,
    ConditionStep,
    CreateModelStep,
    DeployStep,
    Estimator,
    ExecutionVariables,
    FailStep,
    Join,
    JsonGet,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
    Pipeline,
    ProcessingInput,
    ProcessingOutput,
    ProcessingStep,
    PropertyFile,
    RegisterModelStep,
    RetryPolicy,
    TrainingStep,
)

HERE = Path(__file__).parent
CACHE = CacheConfig(enable_caching=True, expire_after="P30D")

input_data = ParameterString("InputData")
threshold = ParameterFloat("Threshold", default_value=0.8)
rounds = ParameterInteger("Rounds", default_value=60)
endpoint_name = ParameterString("EndpointName", default_value="fraud-scorer")
approval = ParameterString("ApprovalStatus", default_value="Approved")

prepare = ProcessingStep(
    "prepare",
    inputs=[ProcessingInput(source=input_data, input_name="raw")],
    outputs=[ProcessingOutput(output_name="train"), ProcessingOutput(output_name="test")],
    sql={
        "train": "SELECT * EXCLUDE (id) FROM raw WHERE id % 5 <> 0",
        "test": "SELECT * EXCLUDE (id) FROM raw WHERE id % 5 = 0",
    },
    cache_config=CACHE,
)

test_table = prepare.properties.processing_outputs["test"]["table_uri"]
train = TrainingStep(
    "train",
    estimator=Estimator(
        "xgboost",
        target="is_fraud",
        hyperparameters={"num_round": rounds, "max_depth": 4, "eta": 0.2},
    ),
    inputs={
        "train": prepare.properties.processing_outputs["train"]["table_uri"],
        "validation": test_table,
    },
    cache_config=CACHE,
    retry_policy=RetryPolicy(max_attempts=2, failure_reasons=["WorkerLost"]),
)

evaluation = PropertyFile(name="evaluation", output_name="report", path="evaluation.json")
evaluate = ProcessingStep(
    "evaluate",
    inputs=[
        ProcessingInput(source=train.properties.model_artifacts, input_name="model"),
        ProcessingInput(source=test_table, input_name="test"),
    ],
    outputs=[ProcessingOutput(output_name="report")],
    code=HERE / "evaluate.py",
    arguments=["--target", "is_fraud"],
    property_files=[evaluation],
    cache_config=CACHE,
)
auc = JsonGet(evaluate, evaluation, "metrics.auc.value")
report_output = evaluate.properties.processing_outputs["report"]

register = RegisterModelStep(
    "register",
    model_package_group_name="fraud-models",
    training_job_name=train.properties.training_job_name,
    approval_status=approval,
    evaluation_report=Join(
        "/", [evaluate.properties.processing_outputs["report"]["uri"], "evaluation.json"]
    ),
    description="fraud scorer trained by the fraud pipeline",
)
model = CreateModelStep(
    "model",
    model_name=Join("-", ["fraud", ExecutionVariables.PIPELINE_EXECUTION_ID]),
    model_package_name=register.properties.model_package_name,
)
deploy = DeployStep("deploy", endpoint_name=endpoint_name, model_name=model.properties.model_name)
too_weak = FailStep(
    "too-weak", error_message=Join(" ", ["test AUC", auc, "is below the threshold", threshold])
)
check = ConditionStep(
    "check-auc",
    conditions=[ConditionGreaterThanOrEqualTo(left=auc, right=threshold)],
    if_steps=[register, model, deploy],
    else_steps=[too_weak],
)

pipeline = Pipeline(
    "fraud-pipeline",
    parameters=[input_data, threshold, rounds, endpoint_name, approval],
    steps=[prepare, train, evaluate, check],
    description="raw transactions → approved, deployed fraud scorer",
)
