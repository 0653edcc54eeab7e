"""How the engine runs each step type: start it, follow it, stop it — through the service
functions of the room that does the work (processing, training, tuning, registry,
serving). A step's *properties* are what later steps may read from it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from shipyard.core.artifacts import BaseArtifactStore
from shipyard.core.config import Settings
from shipyard.core.errors import InvalidState, NotFound, ShipyardError, ValidationError
from shipyard.core.names import srn
from shipyard.pipelines import catalog
from shipyard.pipelines.requests import build_request
from shipyard.processing import service as processing
from shipyard.registry import service as registry
from shipyard.security.iam import Principal, is_allowed
from shipyard.serving import service as serving
from shipyard.serving.batch import service as batch
from shipyard.serving.schemas import EndpointConfigIn, EndpointIn, ModelIn, ProductionVariant
from shipyard.training import service as training
from shipyard.tuning import service as tuning

RUNNING = ("Pending", "InProgress", "Stopping")
ENDED_BADLY = ("Failed", "Stopped")


@dataclass(frozen=True)
class Outcome:
    """Where a step stands after a start or a poll."""

    status: str  # Executing | Succeeded | Failed
    properties: dict[str, Any] = field(default_factory=dict)
    failure_reason: str | None = None
    resource_name: str | None = None
    """What the step made, when it is not the name the engine gave (a package version)."""


@dataclass
class StepContext:
    """What a step runs with: the execution's transaction, and who started it."""

    session: Session
    settings: Settings
    store: BaseArtifactStore
    principal: Principal
    execution_id: str


@dataclass(frozen=True)
class Runner:
    start: Callable[[StepContext, str, dict[str, Any]], Outcome]
    """``start(context, resource name, resolved arguments)``."""
    poll: Callable[[StepContext, str, dict[str, Any]], Outcome] | None = None
    """``poll(context, resource name, properties so far)``."""
    stop: Callable[[StepContext, str], None] | None = None


def executing() -> Outcome:
    return Outcome("Executing")


def failed(reason: str) -> Outcome:
    return Outcome("Failed", failure_reason=reason)


def job_outcome(
    status: str, reason: str | None, properties: Callable[[], dict[str, Any]]
) -> Outcome:
    if status in RUNNING:
        return executing()
    if status in ENDED_BADLY:
        return failed(reason or f"the job ended {status}")
    return Outcome("Succeeded", properties())


def stopping(stop: Callable[[Session, str], Any]) -> Callable[[StepContext, str], None]:
    def stop_resource(context: StepContext, name: str) -> None:
        with contextlib.suppress(InvalidState, NotFound):  # it ended meanwhile
            stop(context.session, name)

    return stop_resource


# ---- processing -------------------------------------------------------------------------
def start_processing(context: StepContext, name: str, arguments: dict[str, Any]) -> Outcome:
    request = build_request("Processing", name, arguments)
    processing.create_processing_job(
        context.session, context.settings, context.store, request, context.principal.name
    )
    return executing()


def poll_processing(context: StepContext, name: str, _properties: dict[str, Any]) -> Outcome:
    job = processing.describe_processing_job(context.session, name)

    def properties() -> dict[str, Any]:
        outputs = {
            o.output_name: {key: getattr(o, key, None) for key in catalog.OUTPUT_FIELDS}
            for o in job.processing_outputs
        }
        return {"processing_job_name": name, "processing_outputs": outputs}

    return job_outcome(job.status, job.failure_reason, properties)


# ---- training ---------------------------------------------------------------------------
def start_training(context: StepContext, name: str, arguments: dict[str, Any]) -> Outcome:
    request = build_request("Training", name, arguments)
    training.create_training_job(
        context.session, context.settings, context.store, request, context.principal.name
    )
    return executing()


def poll_training(context: StepContext, name: str, _properties: dict[str, Any]) -> Outcome:
    job = training.describe_training_job(context.session, name)
    return job_outcome(
        job.status,
        job.failure_reason,
        lambda: {
            "training_job_name": name,
            "model_artifacts": job.model_artifacts,
            "output_uri": job.output_uri,
            "final_metrics": job.final_metrics,
            "hyperparameters": job.hyperparameters,
        },
    )


# ---- tuning -----------------------------------------------------------------------------
def start_tuning(context: StepContext, name: str, arguments: dict[str, Any]) -> Outcome:
    request = build_request("Tuning", name, arguments)
    tuning.create_tuning_job(
        context.session, context.settings, context.store, request, context.principal.name
    )
    return executing()


def poll_tuning(context: StepContext, name: str, _properties: dict[str, Any]) -> Outcome:
    job = tuning.describe_tuning_job(context.session, name)
    if job.status in ("Completed", "Stopped") and job.best_training_job is None:
        return failed(f"tuning job '{name}' ended {job.status} without a best training job")

    def properties() -> dict[str, Any]:
        assert job.best_training_job is not None
        best = job.best_training_job.training_job_name
        return {
            "tuning_job_name": name,
            "best_training_job_name": best,
            "best_model_artifacts": training.describe_training_job(
                context.session, best
            ).model_artifacts,
            "best_objective_value": job.best_training_job.final_objective_value,
        }

    status = "Completed" if job.status == "Stopped" and job.best_training_job else job.status
    return job_outcome(status, job.failure_reason, properties)


# ---- transform --------------------------------------------------------------------------
def start_transform(context: StepContext, name: str, arguments: dict[str, Any]) -> Outcome:
    request = build_request("Transform", name, arguments)
    batch.create_transform_job(
        context.session, context.settings, context.store, request, context.principal.name
    )
    return executing()


def poll_transform(context: StepContext, name: str, _properties: dict[str, Any]) -> Outcome:
    job = batch.describe_transform_job(context.session, name)
    return job_outcome(
        job.status,
        job.failure_reason,
        lambda: {"transform_job_name": name, "output_uri": job.transform_output.output_uri},
    )


# ---- registry and models ----------------------------------------------------------------
def register_model(context: StepContext, _name: str, arguments: dict[str, Any]) -> Outcome:
    """A new version in the group (made when missing) of the step's model."""
    group = str(arguments["model_package_group_name"])
    registry.ensure_model_package_group(context.session, group, context.principal.name)
    package = registry.create_model_package(
        context.session,
        context.store,
        build_request("RegisterModel", None, arguments),
        context.principal.name,
        may_trust_pickle=is_allowed(
            context.principal, "registry:TrustPickle", srn("model-package", f"{group}/*")
        ),
    )
    return Outcome(
        "Succeeded",
        {
            "model_package_name": package.model_package_name,
            "model_package_group_name": package.model_package_group_name,
            "model_package_version": package.version,
            "approval_status": package.approval_status,
        },
        resource_name=package.model_package_name,
    )


def create_model(context: StepContext, name: str, arguments: dict[str, Any]) -> Outcome:

    values = dict(arguments)
    model_name = values.pop("model_name", None) or name
    model = serving.create_model(
        context.session, context.store, ModelIn(name=model_name, **values), context.principal.name
    )
    return Outcome("Succeeded", {"model_name": model.name}, resource_name=model.name)


# ---- deployment -------------------------------------------------------------------------
def deploy(context: StepContext, name: str, arguments: dict[str, Any]) -> Outcome:
    """A new endpoint config serving the model; the endpoint is created, or moved to it."""

    endpoint = arguments["endpoint_name"]
    variant = ProductionVariant(
        variant_name=arguments.get("variant_name", "AllTraffic"),
        model_name=arguments["model_name"],
        initial_instance_count=arguments.get("instance_count", 1),
    )
    owner = context.principal.name
    serving.create_endpoint_config(
        context.session, EndpointConfigIn(name=name, production_variants=[variant]), owner
    )
    for package in serving.unapproved_packages(context.session, name):
        package_srn = srn("model-package", f"{package.model_package_group_name}/{package.version}")
        if not is_allowed(context.principal, "registry:DeployUnapproved", package_srn):
            return failed(
                f"AccessDenied: model package {package_srn} is {package.approval_status}; "
                f"{owner} may not deploy it without registry:DeployUnapproved"
            )
    try:
        serving.describe_endpoint(context.session, endpoint)
    except NotFound:
        serving.create_endpoint(
            context.session, EndpointIn(name=endpoint, endpoint_config_name=name), owner
        )
    else:
        serving.update_endpoint(context.session, endpoint, name)
    properties = {"endpoint_config_name": name, "model_name": variant.model_name}
    return Outcome("Executing", properties, resource_name=endpoint)


def poll_deploy(context: StepContext, endpoint: str, properties: dict[str, Any]) -> Outcome:
    """Done once the endpoint serves the step's endpoint config."""
    described = serving.describe_endpoint(context.session, endpoint)
    config = properties["endpoint_config_name"]
    if described.endpoint_config_name != config:
        return failed(
            f"endpoint '{endpoint}' was moved to endpoint config '{described.endpoint_config_name}'"
        )
    if described.status == "Failed":
        return failed(f"endpoint '{endpoint}' failed: {described.failure_reason}")
    if described.status != "InService":
        return Outcome("Executing", properties)
    return Outcome("Succeeded", {**properties, "endpoint_name": endpoint})


# ---- conditions and failures ------------------------------------------------------------
def condition(_context: StepContext, _name: str, arguments: dict[str, Any]) -> Outcome:
    outcome = all(
        evaluate(c, f"arguments.conditions.{i}") for i, c in enumerate(arguments["conditions"])
    )
    return Outcome("Succeeded", {"outcome": outcome})


def evaluate(condition: dict[str, Any], field: str) -> bool:
    """One resolved condition: its operands are values now, not expressions."""
    kind = condition["type"]
    if kind == "Not":
        return not evaluate(condition["expression"], f"{field}.expression")
    if kind in ("And", "Or"):
        results = (
            evaluate(c, f"{field}.conditions.{i}") for i, c in enumerate(condition["conditions"])
        )
        return all(results) if kind == "And" else any(results)
    if kind == "In":
        return condition["value"] in condition["in_values"]
    left, right = condition["left"], condition["right"]
    try:
        return bool(catalog.COMPARISONS[kind](left, right))
    except TypeError:
        raise ValidationError(
            f"cannot compare {type(left).__name__} {left!r} with {type(right).__name__} {right!r}",
            field,
        ) from None


def fail(_context: StepContext, _name: str, arguments: dict[str, Any]) -> Outcome:
    return failed(str(arguments.get("error_message") or "the pipeline reached a Fail step"))


RUNNERS: dict[str, Runner] = {
    "Processing": Runner(
        start_processing, poll_processing, stopping(processing.stop_processing_job)
    ),
    "Training": Runner(start_training, poll_training, stopping(training.stop_training_job)),
    "Tuning": Runner(start_tuning, poll_tuning, stopping(tuning.stop_tuning_job)),
    "Transform": Runner(start_transform, poll_transform, stopping(batch.stop_transform_job)),
    "RegisterModel": Runner(register_model),
    "CreateModel": Runner(create_model),
    "Deploy": Runner(deploy, poll_deploy),
    "Condition": Runner(condition),
    "Fail": Runner(fail),
}


def describe_error(exc: ShipyardError) -> str:
    return f"{type(exc).__name__}: {exc.message}"
