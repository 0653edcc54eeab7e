"""Model package groups and their numbered packages: register, describe, list, approve.

A package's version is the group's highest plus one, taken under the unique constraint
``(group_name, version)``: two registrations racing for the same number retry with the
next one. An uploaded model is stored under ``model-packages/<group>/<version>/model``, a
model directory the serving stack loads like a trained one; a job's model stays where the
job wrote it. Either way the package records the SHA-256 of that directory.

The group functions live in :mod:`shipyard.registry.groups` and are part of this
module's API too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.core.artifacts import BaseArtifactStore, key_from_uri, uri_for
from shipyard.core.clock import as_utc, utcnow
from shipyard.core.digests import prefix_sha256
from shipyard.core.errors import (
    AccessDenied,
    InvalidState,
    NotFound,
    ValidationError,
)
from shipyard.core.names import srn, validate_name
from shipyard.lineage import service as lineage
from shipyard.registry import cards, groups, sources
from shipyard.registry.groups import (
    GROUP_KIND,
    create_model_package_group,
    delete_model_package_group,
    describe_model_package_group,
    ensure_model_package_group,
    list_model_package_groups,
)
from shipyard.registry.models import ModelPackage, ModelPackageApproval, ModelPackageGroup
from shipyard.registry.reports import read_evaluation_report
from shipyard.registry.schemas import (
    APPROVAL_STATUSES,
    ApprovalOut,
    InferenceSpec,
    ModelCardIn,
    ModelCardOut,
    ModelPackageIn,
    ModelPackageOut,
)

__all__ = [
    "GROUP_KIND",
    "PACKAGE_KIND",
    "create_model_package",
    "create_model_package_group",
    "delete_model_package_group",
    "describe_model_package",
    "describe_model_package_group",
    "ensure_model_package_group",
    "find_model_package",
    "get_model_card",
    "list_model_package_groups",
    "list_model_packages",
    "package_name",
    "package_out",
    "packages_out",
    "parse_package_name",
    "put_model_card",
    "update_approval",
]
PACKAGE_KIND = "model-package"
VERSION_ATTEMPTS = 20


def package_name(group: str, version: int) -> str:
    """``<group>/<version>``: the package's name in srns, models and lineage."""
    return f"{group}/{version}"


def parse_package_name(name: str, field: str = "model_package_name") -> tuple[str, int]:
    """``("fraud", 3)`` from ``"fraud/3"``; a ValidationError naming ``field`` otherwise."""
    group, slash, version = str(name).partition("/")
    if not slash or not version.isdigit() or int(version) < 1:
        raise ValidationError(f"{name!r} is not <group>/<version>, e.g. 'fraud/3'", field)
    return validate_name(group, field), int(version)


# ---- packages -----------------------------------------------------------------------------
def create_model_package(
    session: Session,
    store: BaseArtifactStore,
    request: ModelPackageIn,
    owner: str,
    *,
    may_trust_pickle: bool = False,
) -> ModelPackageOut:
    """Register version N+1 of ``request.model_package_group_name``.

    ``may_trust_pickle``: whether the caller holds ``registry:TrustPickle`` (checked here,
    since only a request with ``trust_pickle`` needs it).
    """
    field = "model_package_group_name"
    if not request.model_package_group_name:
        raise ValidationError("name the model package group", field)
    try:
        group = groups.get_group(session, request.model_package_group_name)
    except NotFound as exc:
        raise ValidationError(exc.message, field) from None
    if request.trust_pickle and not may_trust_pickle:
        raise AccessDenied(
            f"{owner} is not allowed to registry:TrustPickle on "
            f"{srn(PACKAGE_KIND, f'{group.name}/*')}"
        )
    report, report_uri = read_evaluation_report(store, request.evaluation_report)
    with tempfile.TemporaryDirectory(prefix="shipyard-register-") as scratch:
        source = sources.resolve(session, store, request, Path(scratch))
        if request.trust_pickle and source.model_format != "pickle":
            raise ValidationError(
                f"applies to pickles only; this model is {source.model_format}", "trust_pickle"
            )
        now = utcnow()
        row = _insert_next_version(
            session,
            group.name,
            lambda version: ModelPackage(
                group_name=group.name,
                version=version,
                approval_status=request.approval_status,
                model_data_uri=source.model_data_uri or "",
                model_sha256="",
                model_format=source.model_format,
                trust_pickle=request.trust_pickle,
                inference_spec=source.inference_spec.model_dump(mode="json"),
                model_metrics=source.model_metrics,
                evaluation_report=report,
                evaluation_report_uri=report_uri,
                training_job_name=source.training_job.name if source.training_job else None,
                tuning_job_name=source.tuning_job_name,
                description=request.description,
                customer_metadata=dict(request.customer_metadata),
                model_card=None,
                created_by=owner,
                created_at=now,
                last_modified_at=now,
            ),
        )
        if source.staged_dir is not None:
            prefix = f"model-packages/{group.name}/{row.version}/model"
            store.delete_prefix(prefix)  # the files of a registration that did not commit
            store.put_directory(prefix, source.staged_dir)
            row.model_data_uri = uri_for(prefix)
    row.model_sha256 = prefix_sha256(store, key_from_uri(row.model_data_uri))
    session.add(
        ModelPackageApproval(
            package_id=row.id,
            approval_status=row.approval_status,
            previous_status=None,
            reason="registered",
            changed_by=owner,
            changed_at=now,
        )
    )
    session.flush()
    _record_lineage(session, row, source.lineage_source)
    return package_out(session, row)


def _insert_next_version(
    session: Session, group: str, build: Callable[[int], ModelPackage]
) -> ModelPackage:
    """Insert the row ``build(version)`` makes with the group's next version number, in a
    savepoint; a number another transaction took first is retried with the next one."""
    for _ in range(VERSION_ATTEMPTS):
        latest = session.scalar(
            select(func.max(ModelPackage.version)).where(ModelPackage.group_name == group)
        )
        row = build(next_version(latest))
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            continue  # another registration took this number first
        return row
    raise InvalidState(f"too many registrations at once in group '{group}'; try again")


def next_version(latest: int | None) -> int:
    return (latest or 0) + 1


def _record_lineage(session: Session, row: ModelPackage, source: lineage.Entity | None) -> None:
    node = lineage.Entity(
        PACKAGE_KIND,
        package_name(row.group_name, row.version),
        {"model_data_uri": row.model_data_uri, "model_sha256": row.model_sha256},
    )
    if source is None:
        source = lineage.Entity(
            "model-artifact",
            f"sha256-{row.model_sha256}",
            {"sha256": row.model_sha256, "uri": row.model_data_uri},
        )
    lineage.record(session, source, node, "Registered")


def describe_model_package(session: Session, group: str, version: int) -> ModelPackageOut:
    return package_out(session, _get_package(session, group, version))


def find_model_package(session: Session, name: str) -> ModelPackageOut:
    """The package ``<group>/<version>``: ValidationError naming ``model_package_name``
    for another shape of name, NotFound for a package that does not exist."""
    group, version = parse_package_name(name)
    return describe_model_package(session, group, version)


def list_model_packages(
    session: Session,
    group: str,
    *,
    approval_status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[ModelPackageOut]:
    """The group's packages, newest first; only those of ``approval_status`` if given."""
    row = groups.get_group(session, group)
    query = select(ModelPackage).where(ModelPackage.group_name == row.name)
    if approval_status is not None:
        query = query.where(ModelPackage.approval_status == _status(approval_status))
    rows = session.scalars(
        query.order_by(ModelPackage.version.desc()).limit(limit).offset(offset)
    ).all()
    return packages_out(session, rows)


def update_approval(
    session: Session, group: str, version: int, status: str, reason: str | None, by: str
) -> ModelPackageOut:
    """Move a package to ``status`` (any of the three from any other), recording who, when
    and why; Rejected needs a reason. The status it already has changes nothing."""
    status = _status(status)
    reason = (reason or "").strip() or None
    if status == "Rejected" and reason is None:
        raise ValidationError("say why the package is Rejected", "reason")
    row = _get_package(session, group, version, lock=True)
    if row.approval_status == status:
        return package_out(session, row)
    now = utcnow()
    session.add(
        ModelPackageApproval(
            package_id=row.id,
            approval_status=status,
            previous_status=row.approval_status,
            reason=reason,
            changed_by=by,
            changed_at=now,
        )
    )
    row.approval_status, row.last_modified_at = status, now
    session.flush()
    return package_out(session, row)


def put_model_card(
    session: Session, group: str, version: int, card: ModelCardIn, by: str
) -> ModelCardOut:
    """Replace the package's model card; what the card leaves out comes from the package."""
    row = _get_package(session, group, version, lock=True)
    out = cards.complete(session, card, row.training_job_name, row.model_metrics, by)
    row.model_card = out.model_dump(mode="json")
    row.last_modified_at = out.updated_at
    session.flush()
    return out


def get_model_card(session: Session, group: str, version: int) -> ModelCardOut:
    row = _get_package(session, group, version)
    if row.model_card is None:
        raise NotFound(
            f"model package '{package_name(row.group_name, row.version)}' has no model card"
        )
    return ModelCardOut.model_validate(row.model_card)


def _status(value: str) -> str:
    if value not in APPROVAL_STATUSES:
        raise ValidationError(
            f"{value!r} is not one of {', '.join(APPROVAL_STATUSES)}", "approval_status"
        )
    return value


def _get_package(session: Session, group: str, version: int, *, lock: bool = False) -> ModelPackage:
    group = validate_name(group, "model_package_group_name")
    query = select(ModelPackage).where(
        ModelPackage.group_name == group, ModelPackage.version == version
    )
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        if session.get(ModelPackageGroup, group) is None:
            raise NotFound(f"model package group '{group}' not found")
        raise NotFound(f"model package '{package_name(group, version)}' not found")
    return row


def package_out(session: Session, row: ModelPackage) -> ModelPackageOut:
    return packages_out(session, [row])[0]


def packages_out(session: Session, rows: Sequence[ModelPackage]) -> list[ModelPackageOut]:
    history: dict[int, list[ApprovalOut]] = {row.id: [] for row in rows}
    if rows:
        changes = session.scalars(
            select(ModelPackageApproval)
            .where(ModelPackageApproval.package_id.in_(list(history)))
            .order_by(ModelPackageApproval.id)
        )
        for change in changes:
            history[change.package_id].append(
                ApprovalOut(
                    approval_status=change.approval_status,
                    previous_status=change.previous_status,
                    reason=change.reason,
                    changed_by=change.changed_by,
                    changed_at=as_utc(change.changed_at) or change.changed_at,
                )
            )
    return [_out(row, history[row.id]) for row in rows]


def _out(row: ModelPackage, history: list[ApprovalOut]) -> ModelPackageOut:
    name = package_name(row.group_name, row.version)
    return ModelPackageOut(
        model_package_group_name=row.group_name,
        version=row.version,
        model_package_name=name,
        srn=srn(PACKAGE_KIND, name),
        approval_status=row.approval_status,
        model_data_uri=row.model_data_uri,
        model_sha256=row.model_sha256,
        model_format=row.model_format,
        trust_pickle=row.trust_pickle,
        inference_spec=InferenceSpec.model_validate(row.inference_spec),
        model_metrics=row.model_metrics,
        evaluation_report=row.evaluation_report,
        evaluation_report_uri=row.evaluation_report_uri,
        training_job_name=row.training_job_name,
        tuning_job_name=row.tuning_job_name,
        description=row.description,
        customer_metadata=row.customer_metadata,
        model_card=None if row.model_card is None else ModelCardOut.model_validate(row.model_card),
        approval_history=history,
        created_by=row.created_by,
        created_at=as_utc(row.created_at) or row.created_at,
        last_modified_at=as_utc(row.last_modified_at) or row.last_modified_at,
    )
