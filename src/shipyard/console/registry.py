"""Console pages of the model registry: the groups, a group's versions side by side, and
one package with its model card, approval history and the forms to approve or reject it."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from shipyard.console.rendering import ConsoleRoute, render
from shipyard.console.session import FormViewerDep, ViewerDep
from shipyard.core.names import srn
from shipyard.registry import service
from shipyard.registry.schemas import ApprovalStatus, ModelPackageOut
from shipyard.security.iam import authorize, is_allowed
from shipyard.serving import service as serving

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 50
MAX_METRIC_COLUMNS = 12
APPROVAL_TONES = {"Approved": "ok", "Rejected": "bad", "PendingManualApproval": "wait"}


def package_srn(group: str, version: int | str) -> str:
    return srn(service.PACKAGE_KIND, f"{group}/{version}")


@router.get("/model-package-groups", name="console-model-package-groups")
def groups(
    request: Request, viewer: ViewerDep, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> Response:
    authorize(viewer.principal, "registry:ListModelPackageGroups", srn(service.GROUP_KIND, "*"))
    with request.app.state.context.db.session_scope() as session:
        items = service.list_model_package_groups(
            session, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
    return render(
        request,
        "registry_groups.html",
        section="registry",
        groups=items,
        page=page,
        has_next=len(items) == PAGE_SIZE,
    )


@router.get("/model-package-groups/{group}", name="console-model-package-group")
def group_page(
    request: Request,
    group: str,
    viewer: ViewerDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    authorize(
        viewer.principal, "registry:DescribeModelPackageGroup", srn(service.GROUP_KIND, group)
    )
    authorize(viewer.principal, "registry:ListModelPackages", package_srn(group, "*"))
    with request.app.state.context.db.session_scope() as session:
        described = service.describe_model_package_group(session, group)
        packages = service.list_model_packages(
            session, group, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
    return render(
        request,
        "registry_group.html",
        section="registry",
        group=described,
        packages=packages,
        metric_names=metric_columns(packages),
        tones=APPROVAL_TONES,
        page=page,
        has_next=len(packages) == PAGE_SIZE,
    )


def metric_columns(packages: list[ModelPackageOut]) -> list[str]:
    """The metrics to compare versions by: validation ones first, at most a dozen."""
    names = sorted({name for package in packages for name in package.model_metrics})
    names.sort(key=lambda name: (not name.startswith("validation:"), name))
    return names[:MAX_METRIC_COLUMNS]


@router.get("/model-package-groups/{group}/packages/{version}", name="console-model-package")
def package_page(request: Request, group: str, version: int, viewer: ViewerDep) -> Response:
    resource = package_srn(group, version)
    authorize(viewer.principal, "registry:DescribeModelPackage", resource)
    with request.app.state.context.db.session_scope() as session:
        package = service.describe_model_package(session, group, version)
        models = None
        if is_allowed(viewer.principal, "serving:ListModels", srn("model", "*")):
            models = serving.models_from_package(session, package.model_package_name)
    report = (
        json.dumps(package.evaluation_report, indent=2)
        if package.evaluation_report is not None
        else None
    )
    return render(
        request,
        "registry_package.html",
        section="registry",
        package=package,
        spec=package.inference_spec,
        report=report,
        models=models,
        tones=APPROVAL_TONES,
        may_update=is_allowed(viewer.principal, "registry:UpdateModelPackage", resource),
    )


@router.post(
    "/model-package-groups/{group}/packages/{version}/approval",
    name="console-model-package-approval",
)
def update_approval(
    request: Request,
    group: str,
    version: int,
    viewer: FormViewerDep,
    approval_status: Annotated[ApprovalStatus, Form()],
    reason: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    """Approve, reject or send back to pending, then show the package (403 page without
    ``registry:UpdateModelPackage``)."""
    authorize(viewer.principal, "registry:UpdateModelPackage", package_srn(group, version))
    with request.app.state.context.db.session_scope() as session:
        service.update_approval(
            session, group, version, approval_status, reason, viewer.principal.name
        )
    return RedirectResponse(f"/console/model-package-groups/{group}/packages/{version}", 303)
