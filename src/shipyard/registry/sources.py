"""What a registration registers: a training job's model, a stored model directory, or an
uploaded model file turned into a model directory (the file and its manifest).

Each source ends as a :class:`Source`: where the model directory is (or the local one to
store once the package has its version), its format, inference spec and metrics, and the
lineage node it came from.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from shipyard.core.artifacts import BaseArtifactStore, key_from_uri
from shipyard.core.digests import file_sha256
from shipyard.core.errors import NotFound, ValidationError
from shipyard.core.names import validate_name
from shipyard.lineage import service as lineage
from shipyard.registry import formats
from shipyard.registry.schemas import (
    UPLOAD_FORMATS,
    FeatureSpec,
    InferenceSpec,
    InputSchema,
    ModelPackageIn,
    OutputSchema,
)
from shipyard.training import service as training
from shipyard.training.algorithms.model_io import MANIFEST_FILE, ModelManifest
from shipyard.training.schemas import TrainingJobOut
from shipyard.tuning import service as tuning

UPLOADED_PROBLEM_TYPES = ("binary_classification", "multiclass_classification", "regression")
JSON_ONLY_PROBLEM_TYPES = ("forecasting",)
FORMAT_FAMILIES = {"xgboost-ubj": "xgboost", "xgboost-json": "xgboost", "lightgbm-text": "lightgbm"}
MANIFEST_ALGORITHMS = {"skops": "scikit-learn", "onnx": "onnx", "pickle": "pickle"}


@dataclass
class Source:
    """A model to register. Exactly one of ``model_data_uri`` (a stored model directory)
    and ``staged_dir`` (a local one the registry stores under the package's key)."""

    model_format: str
    inference_spec: InferenceSpec
    model_metrics: dict[str, float]
    lineage_source: lineage.Entity | None
    """The node the package is Registered from; None: the model directory's own content."""
    model_data_uri: str | None = None
    staged_dir: Path | None = None
    training_job: TrainingJobOut | None = None
    tuning_job_name: str | None = None


def resolve(
    session: Session, store: BaseArtifactStore, request: ModelPackageIn, scratch: Path
) -> Source:
    """The source ``request`` names; a ValidationError naming the field otherwise."""
    if request.model_data_uri and (request.training_job_name or request.tuning_job_name):
        raise ValidationError(
            "give model_data_uri or a training (or tuning) job, not both", "model_data_uri"
        )
    if request.model_data_uri:
        return _from_uri(store, request, scratch)
    if request.training_job_name or request.tuning_job_name:
        return _from_job(session, store, request)
    raise ValidationError(
        "give training_job_name (or tuning_job_name), or the model_data_uri of an upload",
        "training_job_name",
    )


# ---- training and tuning jobs ----------------------------------------------------------
def _from_job(session: Session, store: BaseArtifactStore, request: ModelPackageIn) -> Source:
    if request.model_format is not None:
        raise ValidationError("applies to uploaded models only", "model_format")
    job_name = _job_name(session, request)
    try:
        job = training.describe_training_job(session, job_name)
    except NotFound:
        raise ValidationError(f"training job '{job_name}' not found", "training_job_name") from None
    if job.status != "Completed":
        raise ValidationError(
            f"training job '{job_name}' is {job.status}; only a Completed job has a model",
            "training_job_name",
        )
    manifest = _stored_manifest(store, job.model_artifacts, "training_job_name")
    return Source(
        model_format=manifest.format,
        inference_spec=spec_from_manifest(manifest, request.inference_spec),
        model_metrics={**job.final_metrics, **request.model_metrics},
        lineage_source=lineage.Entity("training-job", job.name),
        model_data_uri=job.model_artifacts,
        training_job=job,
        tuning_job_name=request.tuning_job_name,
    )


def _job_name(session: Session, request: ModelPackageIn) -> str:
    """The training job to register: the one named, or the best of the tuning job named
    (a named training job must then be one of its trials)."""
    if request.tuning_job_name is None:
        return validate_name(request.training_job_name, "training_job_name")
    tuning_name = validate_name(request.tuning_job_name, "tuning_job_name")
    try:
        described = tuning.describe_tuning_job(session, tuning_name)
    except NotFound:
        raise ValidationError(f"tuning job '{tuning_name}' not found", "tuning_job_name") from None
    if request.training_job_name is None:
        if described.best_training_job is None:
            raise ValidationError(
                f"tuning job '{tuning_name}' has no best training job yet", "tuning_job_name"
            )
        return described.best_training_job.training_job_name
    job_name = validate_name(request.training_job_name, "training_job_name")
    trials = {trial.training_job_name for trial in tuning.list_trials(session, tuning_name)}
    if job_name not in trials:
        raise ValidationError(
            f"training job '{job_name}' is not a trial of tuning job '{tuning_name}'",
            "training_job_name",
        )
    return job_name


def _stored_manifest(store: BaseArtifactStore, model_data_uri: str, field: str) -> ModelManifest:
    key = key_from_uri(model_data_uri)
    try:
        return ModelManifest.model_validate_json(store.get_bytes(f"{key}/{MANIFEST_FILE}"))
    except NotFound:
        raise ValidationError(f"no {MANIFEST_FILE} under {model_data_uri}", field) from None
    except ValueError as exc:
        raise ValidationError(
            f"the {MANIFEST_FILE} under {model_data_uri} is not valid ({exc.__class__.__name__})",
            field,
        ) from None


def spec_from_manifest(manifest: ModelManifest, given: InferenceSpec | None) -> InferenceSpec:
    """The inference spec of a model the platform describes itself: its manifest decides
    the algorithm, columns and output; ``given`` may add content types and column types,
    and must agree with the rest."""
    given = given or InferenceSpec()
    types = {}
    if given.input_schema is not None:
        names = [feature.name for feature in given.input_schema.features]
        if names != list(manifest.feature_names):
            raise ValidationError(
                f"names {len(names)} features; the model takes {len(manifest.feature_names)}: "
                f"{', '.join(manifest.feature_names[:10])}"
                + (", ..." if len(manifest.feature_names) > 10 else ""),
                "inference_spec.input_schema",
            )
        types = {feature.name: feature.type for feature in given.input_schema.features}
    if (
        given.output_schema is not None
        and given.output_schema.problem_type != manifest.problem_type
    ):
        raise ValidationError(
            f"says {given.output_schema.problem_type}; the model is {manifest.problem_type}",
            "inference_spec.output_schema.problem_type",
        )
    responses = given.supported_response_types
    if manifest.problem_type in JSON_ONLY_PROBLEM_TYPES:
        responses = [kind for kind in responses if kind != "text/csv"] or ["application/json"]
    return InferenceSpec(
        algorithm=given.algorithm or manifest.algorithm,
        framework=manifest.library,
        framework_version=manifest.library_version,
        supported_content_types=given.supported_content_types,
        supported_response_types=responses,
        input_schema=InputSchema(
            features=[FeatureSpec(name=n, type=types.get(n)) for n in manifest.feature_names]
        ),
        output_schema=OutputSchema(
            problem_type=manifest.problem_type, classes=manifest.classes, target=manifest.target
        ),
    )


# ---- stored directories and uploaded files ----------------------------------------------
def _from_uri(store: BaseArtifactStore, request: ModelPackageIn, scratch: Path) -> Source:
    uri = request.model_data_uri
    assert uri is not None
    key = key_from_uri(uri, "model_data_uri")
    if store.exists(key):
        return _from_upload(store, request, key, scratch)
    if store.exists(f"{key}/{MANIFEST_FILE}"):
        manifest = _stored_manifest(store, uri, "model_data_uri")
        family = FORMAT_FAMILIES.get(manifest.format, manifest.format)
        if request.model_format is not None and request.model_format != family:
            raise ValidationError(
                f"the model directory holds a {family} model, not {request.model_format}",
                "model_format",
            )
        return Source(
            model_format=manifest.format,
            inference_spec=spec_from_manifest(manifest, request.inference_spec),
            model_metrics=dict(request.model_metrics),
            lineage_source=None,
            model_data_uri=uri,
        )
    raise ValidationError(
        f"no uploaded file or model directory at {uri}; upload the file with POST /api/v1/uploads",
        "model_data_uri",
    )


def _from_upload(
    store: BaseArtifactStore, request: ModelPackageIn, key: str, scratch: Path
) -> Source:
    if request.model_format is None:
        raise ValidationError(
            f"give the format of the uploaded file: one of {', '.join(UPLOAD_FORMATS)}",
            "model_format",
        )
    spec = _upload_spec(request)
    assert spec.input_schema is not None and spec.output_schema is not None
    upload = scratch / "upload"
    store.get_file(key, upload)
    checked = formats.check_model_file(
        upload, request.model_format, key.rsplit("/", 1)[-1], "model_data_uri"
    )
    model_dir = scratch / "model"
    model_dir.mkdir()
    shutil.move(upload, model_dir / checked.file_name)
    library = formats.LIBRARIES[request.model_format]
    manifest = ModelManifest(
        algorithm=FORMAT_FAMILIES.get(checked.format) or MANIFEST_ALGORITHMS[checked.format],
        problem_type=spec.output_schema.problem_type,
        target=spec.output_schema.target,
        feature_names=[feature.name for feature in spec.input_schema.features],
        classes=spec.output_schema.classes,
        model_file=checked.file_name,
        format=checked.format,  # type: ignore[arg-type]  # one of ModelFormat, by construction
        library=spec.framework or library,
        library_version=spec.framework_version or _installed_version(library),
        hyperparameters={},
    )
    manifest.write(model_dir)
    formats.check_loads(model_dir, manifest)
    sha256 = file_sha256(model_dir / checked.file_name)
    uri = f"shipyard://{key}"
    spec = spec.model_copy(
        update={"framework": manifest.library, "framework_version": manifest.library_version}
    )
    return Source(
        model_format=checked.format,
        inference_spec=spec,
        model_metrics=dict(request.model_metrics),
        lineage_source=lineage.Entity(
            "model-artifact", f"sha256-{sha256}", {"sha256": sha256, "uri": uri}
        ),
        staged_dir=model_dir,
    )


def _upload_spec(request: ModelPackageIn) -> InferenceSpec:
    """The inference spec an upload must come with: its features and output."""
    spec = request.inference_spec
    if spec is None or spec.input_schema is None:
        raise ValidationError(
            'an uploaded model needs its features: {"input_schema": {"features": ["a", "b", ...]}}',
            "inference_spec.input_schema",
        )
    if spec.output_schema is None:
        raise ValidationError(
            "an uploaded model needs its output: "
            '{"output_schema": {"problem_type": ..., "classes": [...]}}',
            "inference_spec.output_schema",
        )
    names = [feature.name for feature in spec.input_schema.features]
    if len(set(names)) != len(names):
        raise ValidationError("feature names must be unique", "inference_spec.input_schema")
    if any(feature.type == "string" for feature in spec.input_schema.features):
        raise ValidationError(
            "an uploaded model takes numeric features only", "inference_spec.input_schema"
        )
    output = spec.output_schema
    field = "inference_spec.output_schema"
    if output.problem_type not in UPLOADED_PROBLEM_TYPES:
        raise ValidationError(
            f"an uploaded model is one of {', '.join(UPLOADED_PROBLEM_TYPES)}",
            f"{field}.problem_type",
        )
    if output.problem_type == "regression":
        if output.classes is not None:
            raise ValidationError("a regression model has no classes", f"{field}.classes")
        return spec
    wanted = 2 if output.problem_type == "binary_classification" else None
    classes = output.classes or []
    distinct = len({json.dumps(label) for label in classes}) == len(classes)
    if len(classes) < 2 or (wanted and len(classes) != wanted) or not distinct:
        raise ValidationError(
            f"a {output.problem_type.replace('_', ' ')} model needs its "
            f"{'2' if wanted else '2 or more'} distinct class labels, in the order of its "
            "probability columns",
            f"{field}.classes",
        )
    return spec


def _installed_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
