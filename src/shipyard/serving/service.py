"""Models, endpoint configs and endpoints: create, describe, list, delete.

A model comes from a training job, stored model artifacts or a registered model package;
it records the SHA-256 of its model directory, which every load checks, and — from its
package only — whether a pickle may be deserialized. An endpoint is ``Creating`` until
the host has loaded every variant's model, then ``InService`` (or ``Failed`` with a
reason); an update is a rollout (``Updating`` until it ends, see
:mod:`shipyard.serving.rollouts`); on a restart the host loads every
endpoint that was in service, so endpoints survive ``shipyard up`` restarts. Serving a
package that is not Approved needs ``registry:DeployUnapproved`` (:func:`unapproved_packages`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.core.artifacts import BaseArtifactStore, key_from_uri
from shipyard.core.clock import as_utc, utcnow
from shipyard.core.digests import prefix_sha256
from shipyard.core.errors import AlreadyExists, InvalidState, NotFound, ValidationError
from shipyard.core.names import srn, validate_name
from shipyard.lineage import service as lineage
from shipyard.registry import service as registry
from shipyard.registry.schemas import ModelPackageOut
from shipyard.serving.asynchronous.config import async_config_of, stored_async_config
from shipyard.serving.loading import ModelSource
from shipyard.serving.models import Endpoint, EndpointConfig, Model
from shipyard.serving.rollouts import service as rollouts
from shipyard.serving.rollouts.schemas import DeploymentConfig
from shipyard.serving.schemas import (
    DataCaptureConfig,
    EndpointConfigIn,
    EndpointConfigOut,
    EndpointIn,
    EndpointOut,
    ModelIn,
    ModelOut,
    ProductionVariant,
    ShadowVariant,
)
from shipyard.training import service as training

MANIFEST = "shipyard-model.json"
LIVE_STATUSES = ("Creating", "InService", "Updating")
TO_DEPLOY_STATUSES = ("Creating", "Updating")
STOPPED = "OutOfService"  # stopped (an alarm's action): not served until updated again


# ---- models ---------------------------------------------------------------------------
def create_model(
    session: Session, store: BaseArtifactStore, request: ModelIn, owner: str
) -> ModelOut:
    name = validate_name(request.name)
    if session.get(Model, name) is not None:
        raise AlreadyExists(f"model '{name}' already exists")
    package = _package_of(session, request.model_package_name)
    if package is not None:
        model_data_uri, training_job_name = package.model_data_uri, package.training_job_name
    else:
        training_job_name = request.training_job_name
        model_data_uri = request.model_data_uri or _artifacts_of_job(session, training_job_name)
    manifest = _read_manifest(store, model_data_uri)
    sha256 = prefix_sha256(store, key_from_uri(model_data_uri))
    if package is not None and sha256 != package.model_sha256:
        raise InvalidState(
            f"ModelIntegrityError: the files of model package '{package.model_package_name}' "
            f"hash to {sha256}, not the {package.model_sha256} recorded at its registration"
        )
    row = Model(
        name=name,
        training_job_name=training_job_name,
        model_data_uri=model_data_uri,
        algorithm=str(manifest.get("algorithm")),
        problem_type=str(manifest.get("problem_type")),
        feature_names=list(manifest.get("feature_names", [])),
        classes=manifest.get("classes"),
        model_package_name=package.model_package_name if package else None,
        model_sha256=sha256,
        trust_pickle=package.trust_pickle if package else False,
        owner=owner,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    origin = _model_origin(row)
    relation: lineage.Relation = "Produced" if origin.kind == "training-job" else "ContributedTo"
    lineage.record(session, origin, lineage.Entity("model", row.name), relation)
    return model_out(row)


def _package_of(session: Session, model_package_name: str | None) -> ModelPackageOut | None:
    if model_package_name is None:
        return None
    try:
        return registry.find_model_package(session, model_package_name)
    except NotFound as exc:
        raise ValidationError(exc.message, "model_package_name") from None


def _model_origin(row: Model) -> lineage.Entity:
    """What a model was made from: its package, else its training job, else its files."""
    if row.model_package_name:
        return lineage.Entity("model-package", row.model_package_name)
    if row.training_job_name:
        return lineage.Entity("training-job", row.training_job_name)
    return lineage.Entity(
        "model-artifact",
        f"sha256-{row.model_sha256}",
        {"sha256": row.model_sha256, "uri": row.model_data_uri},
    )


def get_model(session: Session, name: str) -> Model:
    row = session.get(Model, validate_name(name))
    if row is None:
        raise NotFound(f"model '{name}' not found")
    return row


def list_models(session: Session, *, limit: int, offset: int) -> list[ModelOut]:
    rows = session.scalars(
        select(Model).order_by(Model.created_at.desc()).limit(limit).offset(offset)
    )
    return [model_out(r) for r in rows]


def delete_model(session: Session, name: str) -> None:
    """Refused while an endpoint config serves it: the endpoint could not come back."""
    model = get_model(session, name)
    for config in session.scalars(select(EndpointConfig)):
        if any(v["model_name"] == model.name for v in config.production_variants):
            raise InvalidState(f"model '{name}' is used by endpoint config '{config.name}'")
    session.delete(model)


def models_from_package_group(session: Session, group: str) -> list[str]:
    """The models made from a package of ``group`` (which may then not be deleted)."""
    query = select(Model.name).where(Model.model_package_name.startswith(f"{group}/"))
    return list(session.scalars(query.order_by(Model.name)))


def models_from_package(session: Session, model_package_name: str) -> list[str]:
    """The models made from the package ``<group>/<version>``."""
    query = select(Model.name).where(Model.model_package_name == model_package_name)
    return list(session.scalars(query.order_by(Model.name)))


def model_out(row: Model) -> ModelOut:
    return ModelOut(
        name=row.name,
        srn=srn("model", row.name),
        training_job_name=row.training_job_name,
        model_data_uri=row.model_data_uri,
        algorithm=row.algorithm,
        problem_type=row.problem_type,
        feature_names=row.feature_names,
        classes=row.classes,
        model_package_name=row.model_package_name,
        model_sha256=row.model_sha256,
        trust_pickle=row.trust_pickle,
        owner=row.owner,
        created_at=as_utc(row.created_at) or row.created_at,
    )


def _artifacts_of_job(session: Session, job_name: str | None) -> str:
    assert job_name is not None
    try:
        job = training.describe_training_job(session, job_name)
    except NotFound:
        raise ValidationError(f"training job '{job_name}' not found", "training_job_name") from None
    if job.status != "Completed":
        raise ValidationError(
            f"training job '{job_name}' is {job.status}; only a Completed job has a model",
            "training_job_name",
        )
    return job.model_artifacts


def _read_manifest(store: BaseArtifactStore, model_data_uri: str) -> dict[str, Any]:
    try:
        key = key_from_uri(model_data_uri)
    except ValidationError as exc:  # re-raised naming the request's field
        reason = exc.message.removeprefix(f"{exc.field}: ") if exc.field else exc.message
        raise ValidationError(reason, "model_data_uri") from None
    try:
        return json.loads(store.get_bytes(f"{key}/{MANIFEST}"))
    except (NotFound, ValueError):
        raise ValidationError(
            f"no {MANIFEST} under {model_data_uri}: only models trained by a built-in "
            "algorithm can be served for now",
            "model_data_uri",
        ) from None


# ---- endpoint configs -----------------------------------------------------------------
def create_endpoint_config(
    session: Session, request: EndpointConfigIn, owner: str
) -> EndpointConfigOut:
    name = validate_name(request.name)
    if session.get(EndpointConfig, name) is not None:
        raise AlreadyExists(f"endpoint config '{name}' already exists")
    seen = set()
    for index, variant in enumerate(request.production_variants):
        field = f"production_variants.{index}"
        validate_name(variant.variant_name, f"{field}.variant_name")
        if variant.variant_name in seen:
            raise ValidationError(f"duplicate variant '{variant.variant_name}'", field)
        seen.add(variant.variant_name)
        if session.get(Model, validate_name(variant.model_name, f"{field}.model_name")) is None:
            raise ValidationError(f"model '{variant.model_name}' not found", f"{field}.model_name")
    if not any(v.initial_weight > 0 for v in request.production_variants):
        raise ValidationError(
            "every initial_weight is 0: at least one variant must take traffic",
            "production_variants",
        )
    for index, shadow in enumerate(request.shadow_production_variants):
        field = f"shadow_production_variants.{index}"
        validate_name(shadow.variant_name, f"{field}.variant_name")
        if shadow.variant_name in seen:
            raise ValidationError(
                f"'{shadow.variant_name}' is the name of another variant of this config",
                f"{field}.variant_name",
            )
        if session.get(Model, validate_name(shadow.model_name, f"{field}.model_name")) is None:
            raise ValidationError(f"model '{shadow.model_name}' not found", f"{field}.model_name")
    row = EndpointConfig(
        name=name,
        production_variants=[v.model_dump() for v in request.production_variants],
        shadow_production_variants=[v.model_dump() for v in request.shadow_production_variants],
        data_capture_config=(
            request.data_capture_config.model_dump() if request.data_capture_config else None
        ),
        async_inference_config=stored_async_config(session, request.async_inference_config),
        owner=owner,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return endpoint_config_out(row)


def get_endpoint_config(session: Session, name: str) -> EndpointConfig:
    row = session.get(EndpointConfig, validate_name(name))
    if row is None:
        raise NotFound(f"endpoint config '{name}' not found")
    return row


def list_endpoint_configs(session: Session, *, limit: int, offset: int) -> list[EndpointConfigOut]:
    query = select(EndpointConfig).order_by(EndpointConfig.created_at.desc())
    return [endpoint_config_out(r) for r in session.scalars(query.limit(limit).offset(offset))]


def delete_endpoint_config(session: Session, name: str) -> None:
    """Refused while an endpoint uses it."""
    config = get_endpoint_config(session, name)
    user = session.scalar(select(Endpoint.name).where(Endpoint.endpoint_config_name == config.name))
    if user is not None:
        raise InvalidState(f"endpoint config '{name}' is used by endpoint '{user}'")
    session.delete(config)


def endpoint_config_out(row: EndpointConfig) -> EndpointConfigOut:
    return EndpointConfigOut(
        name=row.name,
        srn=srn("endpoint-config", row.name),
        production_variants=[ProductionVariant(**v) for v in row.production_variants],
        shadow_production_variants=shadows_of(row),
        data_capture_config=capture_of(row),
        async_inference_config=async_config_of(row),
        owner=row.owner,
        created_at=as_utc(row.created_at) or row.created_at,
    )


# ---- endpoints ------------------------------------------------------------------------
def create_endpoint(session: Session, request: EndpointIn, owner: str) -> EndpointOut:
    name = validate_name(request.name)
    if session.get(Endpoint, name) is not None:
        raise AlreadyExists(f"endpoint '{name}' already exists")
    try:
        config = get_endpoint_config(session, request.endpoint_config_name)
    except NotFound as exc:
        raise ValidationError(exc.message, "endpoint_config_name") from None
    now = utcnow()
    row = Endpoint(
        name=name,
        endpoint_config_name=config.name,
        status="Creating",
        failure_reason=None,
        owner=owner,
        created_at=now,
        last_modified_at=now,
    )
    session.add(row)
    session.flush()
    _record_deployment(session, row.name, config)
    return endpoint_out(row, config)


def update_endpoint(
    session: Session,
    name: str,
    endpoint_config_name: str,
    deployment_config: DeploymentConfig | None = None,
    owner: str | None = None,
) -> EndpointOut:
    """Move an endpoint to another config by a blue/green rollout (``deployment_config``;
    all at once when none): ``Updating`` until the host has shifted the traffic to it, and
    back to what it was when the rollout fails or rolls back (see :mod:`.rollouts`)."""
    row = get_endpoint(session, name)
    if row.status == "Deleting":
        raise InvalidState(f"endpoint '{name}' is being deleted")
    try:
        config = get_endpoint_config(session, endpoint_config_name)
    except NotFound as exc:
        raise ValidationError(exc.message, "endpoint_config_name") from None
    rollout = rollouts.start_rollout(session, row, config, deployment_config, owner or row.owner)
    if row.endpoint_config_name != config.name:
        row.previous_endpoint_config_name = row.endpoint_config_name
    row.endpoint_config_name, row.status = config.name, "Updating"
    row.failure_reason, row.last_modified_at = None, utcnow()
    session.flush()
    _record_deployment(session, row.name, config)
    updated = endpoint_out(row, config)
    updated.rollout = rollouts.rollout_out(rollout)
    return updated


def promote_shadow(
    session: Session, name: str, variant_name: str, endpoint_config_name: str, owner: str
) -> EndpointOut:
    """Make a shadow variant the endpoint's only production variant: a new endpoint
    config (``endpoint_config_name``) with it, and an update of the endpoint to it."""
    row = get_endpoint(session, name)
    config = get_endpoint_config(session, row.endpoint_config_name)
    shadows = {s.variant_name: s for s in shadows_of(config)}
    shadow = shadows.get(variant_name)
    if shadow is None:
        known = ", ".join(sorted(shadows)) or "none"
        raise ValidationError(
            f"endpoint '{name}' has no shadow variant '{variant_name}' (its shadows: {known})",
            "variant_name",
        )
    promoted = ProductionVariant(
        variant_name=shadow.variant_name,
        model_name=shadow.model_name,
        initial_instance_count=shadow.initial_instance_count,
    )
    create_endpoint_config(
        session,
        EndpointConfigIn(
            name=endpoint_config_name,
            production_variants=[promoted],
            data_capture_config=capture_of(config),
            async_inference_config=async_config_of(config),
        ),
        owner,
    )
    return update_endpoint(session, name, endpoint_config_name, owner=owner)


def stop_endpoint(session: Session, name: str) -> EndpointOut:
    """Take the endpoint out of service (``OutOfService``): hosts stop serving it and
    invocations get a 409 naming the status, until an update moves it to a config again."""
    row = get_endpoint(session, name)
    if row.status == "Deleting":
        raise InvalidState(f"endpoint '{name}' is being deleted")
    rollouts.stop(session, name, "the endpoint was stopped")
    row.status, row.failure_reason, row.last_modified_at = STOPPED, None, utcnow()
    session.flush()
    return endpoint_out(row, session.get(EndpointConfig, row.endpoint_config_name))


def rollback_endpoint(session: Session, name: str) -> EndpointOut:
    """Roll back the update going on (its traffic back to the old fleet), else move the
    endpoint back to the config it served before its last update (an update itself)."""
    row = get_endpoint(session, name)
    going_on = rollouts.active_rollout(session, name)
    if going_on is not None:
        rollouts.roll_back(session, going_on, "rolled back by request", utcnow())
        return endpoint_out(row, session.get(EndpointConfig, row.endpoint_config_name))
    previous = row.previous_endpoint_config_name
    if previous is None:
        raise InvalidState(f"endpoint '{name}' has no earlier endpoint config to roll back to")
    if session.get(EndpointConfig, previous) is None:
        raise InvalidState(
            f"endpoint '{name}' cannot roll back: its earlier endpoint config '{previous}' "
            "was deleted"
        )
    return update_endpoint(session, name, previous)


def stopped_endpoints(session: Session, names: list[str]) -> list[str]:
    """Those of ``names`` that no host should serve any more: stopped, or gone."""
    if not names:
        return []
    query = select(Endpoint.name).where(Endpoint.name.in_(names), Endpoint.status != STOPPED)
    serving = set(session.scalars(query))
    return [name for name in names if name not in serving]


def endpoints_using_config(session: Session, endpoint_config_name: str) -> list[EndpointOut]:
    query = select(Endpoint).where(Endpoint.endpoint_config_name == endpoint_config_name)
    config = session.get(EndpointConfig, endpoint_config_name)
    return [endpoint_out(row, config) for row in session.scalars(query.order_by(Endpoint.name))]


def unapproved_packages(session: Session, endpoint_config_name: str) -> list[ModelPackageOut]:
    """The model packages the config's variants (shadows too) serve that are not Approved: deploying
    them needs ``registry:DeployUnapproved`` on each (the callers check it)."""
    try:
        config = get_endpoint_config(session, endpoint_config_name)
    except NotFound as exc:
        raise ValidationError(exc.message, "endpoint_config_name") from None
    found: dict[str, ModelPackageOut] = {}
    for variant in [*config.production_variants, *(config.shadow_production_variants or [])]:
        model = session.get(Model, variant["model_name"])
        if model is None or not model.model_package_name or model.model_package_name in found:
            continue
        package = registry.find_model_package(session, model.model_package_name)
        if package.approval_status != "Approved":
            found[model.model_package_name] = package
    return list(found.values())


def _record_deployment(session: Session, endpoint: str, config: EndpointConfig) -> None:
    for variant in config.production_variants:
        lineage.record(
            session,
            lineage.Entity("model", variant["model_name"]),
            lineage.Entity("endpoint", endpoint),
            "DeployedAs",
        )


def get_endpoint(session: Session, name: str) -> Endpoint:
    row = session.get(Endpoint, validate_name(name))
    if row is None:
        raise NotFound(f"endpoint '{name}' not found")
    return row


def describe_endpoint(session: Session, name: str) -> EndpointOut:
    row = get_endpoint(session, name)
    described = endpoint_out(row, session.get(EndpointConfig, row.endpoint_config_name))
    described.rollout = rollouts.latest_rollout(session, name)
    return described


def list_endpoints(session: Session, *, limit: int, offset: int) -> list[EndpointOut]:
    query = select(Endpoint).order_by(Endpoint.created_at.desc()).limit(limit).offset(offset)
    rows = session.scalars(query).all()
    return [endpoint_out(r, session.get(EndpointConfig, r.endpoint_config_name)) for r in rows]


def mark_deleting(session: Session, name: str) -> None:
    """First step of a delete. An endpoint already Deleting (a delete that the server did not
    live to finish) is deleted again rather than refused, or it could never go away."""
    row = get_endpoint(session, name)
    rollouts.stop(session, name, "the endpoint is being deleted")
    row.status, row.last_modified_at = "Deleting", utcnow()


def delete_endpoint_row(session: Session, name: str) -> None:
    row = session.get(Endpoint, name)
    if row is not None:
        session.delete(row)
    rollouts.delete_rollouts(session, name)


def set_endpoint_status(
    session: Session, name: str, status: str, reason: str | None = None
) -> None:
    row = session.get(Endpoint, name)
    if row is not None and row.status not in ("Deleting", STOPPED):
        row.status, row.failure_reason, row.last_modified_at = status, reason, utcnow()


def is_live(session: Session, name: str) -> bool:
    """Whether endpoint ``name`` exists and is neither being deleted nor stopped."""
    row = session.get(Endpoint, name)
    return row is not None and row.status not in ("Deleting", STOPPED)


def live_endpoint_names(session: Session) -> list[str]:
    return list(session.scalars(select(Endpoint.name).where(Endpoint.status.in_(LIVE_STATUSES))))


def endpoints_to_deploy(session: Session) -> list[tuple[str, str]]:
    """``(endpoint, endpoint config)`` of every endpoint waiting for a host to load it."""
    query = select(Endpoint.name, Endpoint.endpoint_config_name).where(
        Endpoint.status.in_(TO_DEPLOY_STATUSES)
    )
    return [(name, config) for name, config in session.execute(query.order_by(Endpoint.name))]


def model_source(session: Session, model_name: str) -> ModelSource:
    """For every process that loads a model (endpoints, batch transform): load
    ``source.model_data_uri`` only if it hashes to ``model_sha256`` (when recorded), with
    ``load_model(path, trust_pickle=source.trust_pickle)``."""
    model = get_model(session, model_name)
    return ModelSource(model.name, model.model_data_uri, model.model_sha256, model.trust_pickle)


@dataclass(frozen=True)
class Deployment:
    endpoint_config_name: str
    variants: list[tuple[ProductionVariant, ModelSource]]
    shadows: list[tuple[ShadowVariant, ModelSource]]
    data_capture: DataCaptureConfig | None


def deployment_of(session: Session, name: str) -> Deployment:
    """The endpoint's config, and each of its variants (and shadows) with the model to load."""
    row = get_endpoint(session, name)
    config = get_endpoint_config(session, row.endpoint_config_name)
    variants = [ProductionVariant(**v) for v in config.production_variants]
    return Deployment(
        config.name,
        [(v, model_source(session, v.model_name)) for v in variants],
        [(s, model_source(session, s.model_name)) for s in shadows_of(config)],
        capture_of(config),
    )


def shadows_of(config: EndpointConfig) -> list[ShadowVariant]:
    return [ShadowVariant(**v) for v in config.shadow_production_variants or []]


def capture_of(config: EndpointConfig) -> DataCaptureConfig | None:
    if not config.data_capture_config:
        return None
    return DataCaptureConfig(**config.data_capture_config)


def endpoint_out(row: Endpoint, config: EndpointConfig | None) -> EndpointOut:
    variants = [ProductionVariant(**v) for v in config.production_variants] if config else []
    return EndpointOut(
        name=row.name,
        srn=srn("endpoint", row.name),
        endpoint_config_name=row.endpoint_config_name,
        previous_endpoint_config_name=row.previous_endpoint_config_name,
        status=row.status,
        failure_reason=row.failure_reason,
        production_variants=variants,
        shadow_production_variants=shadows_of(config) if config else [],
        owner=row.owner,
        created_at=as_utc(row.created_at) or row.created_at,
        last_modified_at=as_utc(row.last_modified_at) or row.last_modified_at,
    )
