"""HTTP routes of the model registry: package groups, packages, approvals, model cards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from shipyard.core.errors import ValidationError
from shipyard.core.names import srn
from shipyard.core.web import AuthorizeDep, ContextDep, ListResponse, PageDep
from shipyard.registry import service
from shipyard.registry.schemas import (
    ApprovalStatus,
    ApprovalUpdate,
    ModelCardIn,
    ModelCardOut,
    ModelPackageGroupIn,
    ModelPackageGroupOut,
    ModelPackageIn,
    ModelPackageOut,
)
from shipyard.security.iam import is_allowed

router = APIRouter(prefix="/api/v1", tags=["registry"])
GROUPS = "/model-package-groups"
PACKAGE = GROUPS + "/{group}/packages/{version}"


def group_srn(name: str) -> str:
    return srn(service.GROUP_KIND, name)


def package_srn(group: str, version: int | str) -> str:
    return srn(service.PACKAGE_KIND, f"{group}/{version}")


def version_number(text: str) -> int:
    """The version of the URL, read after authorization (so a caller without rights
    learns nothing from it); a ValidationError naming ``version`` for anything else."""
    if not text.isdigit() or len(text) > 9:
        raise ValidationError(f"{text[:20]!r} is not a version number", "version")
    return int(text)


# ---- groups -------------------------------------------------------------------------------
@router.post(GROUPS, status_code=status.HTTP_201_CREATED, response_model=ModelPackageGroupOut)
def create_model_package_group(
    request: ModelPackageGroupIn, context: ContextDep, authorize: AuthorizeDep
) -> ModelPackageGroupOut:
    principal = authorize("registry:CreateModelPackageGroup", group_srn(request.name))
    with context.db.session_scope() as session:
        return service.create_model_package_group(session, request, principal.name)


@router.get(GROUPS, response_model=ListResponse[ModelPackageGroupOut])
def list_model_package_groups(
    context: ContextDep, authorize: AuthorizeDep, page: PageDep
) -> ListResponse[ModelPackageGroupOut]:
    authorize("registry:ListModelPackageGroups", group_srn("*"))
    with context.db.session_scope() as session:
        items = service.list_model_package_groups(session, limit=page.limit, offset=page.offset)
    return ListResponse[ModelPackageGroupOut](items=items, next_token=page.next_token(len(items)))


@router.get(GROUPS + "/{group}", response_model=ModelPackageGroupOut)
def describe_model_package_group(
    group: str, context: ContextDep, authorize: AuthorizeDep
) -> ModelPackageGroupOut:
    authorize("registry:DescribeModelPackageGroup", group_srn(group))
    with context.db.session_scope() as session:
        return service.describe_model_package_group(session, group)


@router.delete(GROUPS + "/{group}", status_code=status.HTTP_204_NO_CONTENT)
def delete_model_package_group(group: str, context: ContextDep, authorize: AuthorizeDep) -> None:
    authorize("registry:DeleteModelPackageGroup", group_srn(group))
    with context.db.session_scope() as session:
        service.delete_model_package_group(session, context.store, group)


# ---- packages -----------------------------------------------------------------------------
@router.post(
    GROUPS + "/{group}/packages",
    status_code=status.HTTP_201_CREATED,
    response_model=ModelPackageOut,
)
def create_model_package(
    group: str, request: ModelPackageIn, context: ContextDep, authorize: AuthorizeDep
) -> ModelPackageOut:
    """Register the next version of the group's model."""
    if request.model_package_group_name not in (None, group):
        raise ValidationError(
            f"is '{request.model_package_group_name}', but the URL names group '{group}'",
            "model_package_group_name",
        )
    resource = package_srn(group, "*")
    principal = authorize("registry:CreateModelPackage", resource)
    may_trust = is_allowed(principal, "registry:TrustPickle", resource)
    request = request.model_copy(update={"model_package_group_name": group})
    with context.db.session_scope() as session:
        return service.create_model_package(
            session, context.store, request, principal.name, may_trust_pickle=may_trust
        )


@router.get(GROUPS + "/{group}/packages", response_model=ListResponse[ModelPackageOut])
def list_model_packages(
    group: str,
    context: ContextDep,
    authorize: AuthorizeDep,
    page: PageDep,
    approval_status: Annotated[ApprovalStatus | None, Query()] = None,
) -> ListResponse[ModelPackageOut]:
    """Newest first; ``?approval_status=Approved`` for the approved ones only."""
    authorize("registry:ListModelPackages", package_srn(group, "*"))
    with context.db.session_scope() as session:
        items = service.list_model_packages(
            session,
            group,
            approval_status=approval_status,
            limit=page.limit,
            offset=page.offset,
        )
    return ListResponse[ModelPackageOut](items=items, next_token=page.next_token(len(items)))


@router.get(PACKAGE, response_model=ModelPackageOut)
def describe_model_package(
    group: str, version: str, context: ContextDep, authorize: AuthorizeDep
) -> ModelPackageOut:
    authorize("registry:DescribeModelPackage", package_srn(group, version))
    with context.db.session_scope() as session:
        return service.describe_model_package(session, group, version_number(version))


@router.patch(PACKAGE, response_model=ModelPackageOut)
def update_model_package(
    group: str,
    version: str,
    request: ApprovalUpdate,
    context: ContextDep,
    authorize: AuthorizeDep,
) -> ModelPackageOut:
    """Approve, reject or send back to pending approval, with a reason."""
    principal = authorize("registry:UpdateModelPackage", package_srn(group, version))
    with context.db.session_scope() as session:
        return service.update_approval(
            session,
            group,
            version_number(version),
            request.approval_status,
            request.reason,
            principal.name,
        )


@router.put(PACKAGE + "/model-card", response_model=ModelCardOut)
def put_model_card(
    group: str,
    version: str,
    request: ModelCardIn,
    context: ContextDep,
    authorize: AuthorizeDep,
) -> ModelCardOut:
    principal = authorize("registry:PutModelCard", package_srn(group, version))
    with context.db.session_scope() as session:
        return service.put_model_card(
            session, group, version_number(version), request, principal.name
        )


@router.get(PACKAGE + "/model-card", response_model=ModelCardOut)
def get_model_card(
    group: str, version: str, context: ContextDep, authorize: AuthorizeDep
) -> ModelCardOut:
    authorize("registry:GetModelCard", package_srn(group, version))
    with context.db.session_scope() as session:
        return service.get_model_card(session, group, version_number(version))
