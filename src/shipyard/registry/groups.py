"""Model package groups: create (or ensure), describe, list, delete.

A group is deleted only when every package in it is Rejected and no model was made from
one; its uploaded model files go with it.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.core.artifacts import BaseArtifactStore
from shipyard.core.clock import as_utc, utcnow
from shipyard.core.errors import AlreadyExists, InvalidState, NotFound
from shipyard.core.names import srn, validate_name
from shipyard.registry.models import ModelPackage, ModelPackageGroup
from shipyard.registry.schemas import ModelPackageGroupIn, ModelPackageGroupOut

GROUP_KIND = "model-package-group"


def create_model_package_group(
    session: Session, request: ModelPackageGroupIn, owner: str
) -> ModelPackageGroupOut:
    name = validate_name(request.name)
    if session.get(ModelPackageGroup, name) is not None:
        raise AlreadyExists(f"model package group '{name}' already exists")
    row = ModelPackageGroup(
        name=name,
        description=request.description,
        tags=dict(request.tags),
        owner=owner,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return group_out(session, row)


def ensure_model_package_group(
    session: Session, name: str, owner: str, description: str = ""
) -> ModelPackageGroupOut:
    """The group called ``name``, created first if there is none (a pipeline's step)."""
    row = session.get(ModelPackageGroup, validate_name(name, "model_package_group_name"))
    if row is not None:
        return group_out(session, row)
    request = ModelPackageGroupIn(name=name, description=description)
    try:
        with session.begin_nested():
            return create_model_package_group(session, request, owner)
    except (AlreadyExists, IntegrityError):  # created by someone else meanwhile
        return group_out(session, get_group(session, name))


def describe_model_package_group(session: Session, name: str) -> ModelPackageGroupOut:
    return group_out(session, get_group(session, name))


def list_model_package_groups(
    session: Session, *, limit: int = 100, offset: int = 0
) -> list[ModelPackageGroupOut]:
    rows = session.scalars(
        select(ModelPackageGroup)
        .order_by(ModelPackageGroup.created_at.desc(), ModelPackageGroup.name)
        .limit(limit)
        .offset(offset)
    ).all()
    return [group_out(session, row) for row in rows]


def delete_model_package_group(session: Session, store: BaseArtifactStore, name: str) -> None:
    """Refused while a package is not Rejected, or a model was made from one."""
    row = get_group(session, name)
    packages = session.scalars(select(ModelPackage).where(ModelPackage.group_name == row.name))
    kept = [p for p in packages if p.approval_status != "Rejected"]
    if kept:
        listed = ", ".join(f"{p.version} ({p.approval_status})" for p in kept[:10])
        raise InvalidState(
            f"model package group '{name}' has packages that are not Rejected: {listed}; "
            "reject them first"
        )
    # serving imports this module; importing it back here, where it is needed, avoids a cycle
    from shipyard.serving import service as serving

    used = serving.models_from_package_group(session, row.name)
    if used:
        raise InvalidState(
            f"model package group '{name}' has packages that models were made from: "
            f"{', '.join(used[:10])}; delete those models first"
        )
    session.delete(row)
    session.flush()
    store.delete_prefix(f"model-packages/{row.name}")


def get_group(session: Session, name: str) -> ModelPackageGroup:
    row = session.get(ModelPackageGroup, validate_name(name))
    if row is None:
        raise NotFound(f"model package group '{name}' not found")
    return row


def group_out(session: Session, row: ModelPackageGroup) -> ModelPackageGroupOut:
    in_group = ModelPackage.group_name == row.name
    count, latest = session.execute(
        select(func.count(ModelPackage.id), func.max(ModelPackage.version)).where(in_group)
    ).one()
    approved = session.scalar(
        select(func.max(ModelPackage.version)).where(
            in_group, ModelPackage.approval_status == "Approved"
        )
    )
    return ModelPackageGroupOut(
        name=row.name,
        srn=srn(GROUP_KIND, row.name),
        description=row.description,
        tags=row.tags,
        package_count=count,
        latest_version=latest,
        latest_approved_version=approved,
        owner=row.owner,
        created_at=as_utc(row.created_at) or row.created_at,
    )
