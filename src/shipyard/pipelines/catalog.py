"""What each step type offers: the properties later steps may read, whether it may be
cached, and the arguments it takes (checked when a pipeline is upserted)."""

from __future__ import annotations

from dataclasses import dataclass, field

# a property is a plain value, or a map whose keys are free (metrics) or declared (outputs)
VALUE = "value"
FREE_MAP = "map"
OUTPUTS = "outputs"
OUTPUT_FIELDS = ("uri", "sha256", "table_uri", "dataset_name")


@dataclass(frozen=True)
class StepKind:
    properties: dict[str, str]
    cacheable: bool = False
    required_arguments: tuple[str, ...] = ()
    allowed_arguments: tuple[str, ...] | None = None
    """None: the arguments of the room's request type, checked when the step starts."""
    resource_kind: str | None = None
    asynchronous: bool = False
    action: str | None = None
    """The permission the execution's starter needs for the step."""
    extra: dict[str, str] = field(default_factory=dict)


KINDS: dict[str, StepKind] = {
    "Processing": StepKind(
        properties={"processing_job_name": VALUE, "processing_outputs": OUTPUTS},
        cacheable=True,
        required_arguments=("processing_inputs",),
        resource_kind="processing-job",
        asynchronous=True,
        action="processing:CreateProcessingJob",
    ),
    "Training": StepKind(
        properties={
            "training_job_name": VALUE,
            "model_artifacts": VALUE,
            "output_uri": VALUE,
            "final_metrics": FREE_MAP,
            "hyperparameters": FREE_MAP,
        },
        cacheable=True,
        required_arguments=("channels",),
        resource_kind="training-job",
        asynchronous=True,
        action="training:CreateTrainingJob",
    ),
    "Tuning": StepKind(
        properties={
            "tuning_job_name": VALUE,
            "best_training_job_name": VALUE,
            "best_model_artifacts": VALUE,
            "best_objective_value": VALUE,
        },
        cacheable=True,
        required_arguments=("hyperparameter_tuning_job_config", "training_job_definition"),
        resource_kind="tuning-job",
        asynchronous=True,
        action="tuning:CreateHyperParameterTuningJob",
    ),
    "Transform": StepKind(
        properties={"transform_job_name": VALUE, "output_uri": VALUE},
        cacheable=True,
        required_arguments=("model_name", "transform_input"),
        resource_kind="transform-job",
        asynchronous=True,
        action="serving:CreateTransformJob",
    ),
    "RegisterModel": StepKind(
        properties={
            "model_package_name": VALUE,
            "model_package_group_name": VALUE,
            "model_package_version": VALUE,
            "approval_status": VALUE,
        },
        required_arguments=("model_package_group_name",),
        resource_kind="model-package",
        action="registry:CreateModelPackage",
    ),
    "CreateModel": StepKind(
        properties={"model_name": VALUE},
        allowed_arguments=(
            "model_name",
            "training_job_name",
            "model_data_uri",
            "model_package_name",
        ),
        resource_kind="model",
        action="serving:CreateModel",
    ),
    "Deploy": StepKind(
        properties={"endpoint_name": VALUE, "endpoint_config_name": VALUE, "model_name": VALUE},
        required_arguments=("endpoint_name", "model_name"),
        allowed_arguments=("endpoint_name", "model_name", "variant_name", "instance_count"),
        resource_kind="endpoint",
        asynchronous=True,
        action="serving:CreateEndpoint",
    ),
    "Condition": StepKind(
        properties={"outcome": VALUE},
        required_arguments=("conditions",),
        allowed_arguments=("conditions", "if_steps", "else_steps"),
    ),
    "Fail": StepKind(properties={}, allowed_arguments=("error_message",)),
}

COMPARISONS = {
    "Equals": lambda a, b: a == b,
    "NotEquals": lambda a, b: a != b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanOrEqualTo": lambda a, b: a >= b,
    "LessThan": lambda a, b: a < b,
    "LessThanOrEqualTo": lambda a, b: a <= b,
}
LOGICAL = ("And", "Or", "Not", "In")
