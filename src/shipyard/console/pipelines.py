"""Console pages of pipelines: the list, one pipeline (its DAG, schedules, triggers and
execution history) and one execution (its DAG in live status colours, its steps)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from shipyard.console.graphs import GraphNode, render_dag
from shipyard.console.rendering import ConsoleRoute, render
from shipyard.console.session import FormViewerDep, ViewerDep
from shipyard.core.names import srn
from shipyard.pipelines import engine, schedules, service
from shipyard.pipelines.schemas import ExecutionOut, PipelineOut, StepExecutionOut
from shipyard.security.iam import authorize, is_allowed

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 50
RESOURCE_PAGES = {
    "training-job": "/console/training-jobs/{}",
    "tuning-job": "/console/tuning-jobs/{}",
    "model": "/console/models/{}",
    "endpoint": "/console/endpoints/{}",
}


@router.get("/pipelines", name="console-pipelines")
def pipelines(
    request: Request, viewer: ViewerDep, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> Response:
    authorize(viewer.principal, "pipelines:ListPipelines", srn("pipeline", "*"))
    with request.app.state.context.db.session_scope() as session:
        items = service.list_pipelines(session, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        latest = {
            p.name: next(
                iter(service.list_executions(session, pipeline_name=p.name, limit=1, offset=0)),
                None,
            )
            for p in items
        }
    return render(
        request,
        "pipelines.html",
        section="pipelines",
        pipelines=items,
        latest=latest,
        page=page,
        has_next=len(items) == PAGE_SIZE,
    )


@router.get("/pipelines/{name}", name="console-pipeline")
def pipeline(
    request: Request,
    name: str,
    viewer: ViewerDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    authorize(viewer.principal, "pipelines:DescribePipeline", srn("pipeline", name))
    may_list = is_allowed(
        viewer.principal, "pipelines:ListPipelineExecutions", srn("pipeline", name)
    )
    with request.app.state.context.db.session_scope() as session:
        item = service.describe_pipeline(session, name)
        history = (
            service.list_executions(
                session, pipeline_name=name, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
            )
            if may_list
            else []
        )
        cron = schedules.list_schedules(session, name)
        triggers = schedules.list_triggers(session, name)
    statuses = {s.step_name: s.status for s in history[0].steps} if history else {}
    return render(
        request,
        "pipeline.html",
        section="pipelines",
        pipeline=item,
        dag=_dag(item, statuses, {}),
        parameters=[(p.name, f"{p.type} = {p.default_value}") for p in item.definition.parameters],
        executions=history,
        may_list=may_list,
        schedules=cron,
        triggers=triggers,
        page=page,
        has_next=len(history) == PAGE_SIZE,
    )


@router.get("/pipeline-executions/{execution_id}", name="console-pipeline-execution")
def execution(request: Request, execution_id: str, viewer: ViewerDep) -> Response:
    item, pipeline_item = _describe(request, viewer, execution_id)
    steps = {s.step_name: s for s in item.steps}
    return render(
        request,
        "pipeline_execution.html",
        section="pipelines",
        execution=item,
        pipeline=pipeline_item,
        dag=_dag(pipeline_item, {n: _shown_status(s) for n, s in steps.items()}, steps),
        links={s.step_name: _resource_href(s) for s in item.steps},
        live=item.status in ("Executing", "Stopping"),
        may_stop=is_allowed(
            viewer.principal, "pipelines:StopPipelineExecution", srn("pipeline", item.pipeline_name)
        ),
        may_retry=is_allowed(
            viewer.principal,
            "pipelines:RetryPipelineExecution",
            srn("pipeline", item.pipeline_name),
        ),
    )


@router.get("/pipeline-executions/{execution_id}/status", name="console-pipeline-execution-status")
def execution_status(request: Request, execution_id: str, viewer: ViewerDep) -> Response:
    """What the execution page polls to recolour its DAG without a reload."""
    item, _ = _describe(request, viewer, execution_id)
    return JSONResponse(
        {
            "status": item.status,
            "failure_reason": item.failure_reason,
            "steps": {
                s.step_name: {"status": _shown_status(s), "attempts": s.attempts}
                for s in item.steps
            },
        }
    )


@router.post("/pipeline-executions/{execution_id}/stop", name="console-pipeline-execution-stop")
def stop(request: Request, execution_id: str, viewer: FormViewerDep) -> Response:
    item, _ = _describe(request, viewer, execution_id)
    authorize(
        viewer.principal, "pipelines:StopPipelineExecution", srn("pipeline", item.pipeline_name)
    )
    with request.app.state.context.db.session_scope() as session:
        service.stop_execution(session, execution_id, item.pipeline_name)
    request.app.state.context.run_soon(engine.DUTY_NAME)
    return RedirectResponse(f"/console/pipeline-executions/{execution_id}", status_code=303)


@router.post("/pipeline-executions/{execution_id}/retry", name="console-pipeline-execution-retry")
def retry(request: Request, execution_id: str, viewer: FormViewerDep) -> Response:
    item, _ = _describe(request, viewer, execution_id)
    authorize(
        viewer.principal, "pipelines:RetryPipelineExecution", srn("pipeline", item.pipeline_name)
    )
    with request.app.state.context.db.session_scope() as session:
        service.retry_execution(session, execution_id, item.pipeline_name)
    request.app.state.context.run_soon(engine.DUTY_NAME)
    return RedirectResponse(f"/console/pipeline-executions/{execution_id}", status_code=303)


def _describe(request: Request, viewer: Any, execution_id: str) -> tuple[ExecutionOut, PipelineOut]:
    with request.app.state.context.db.session_scope() as session:
        item = service.describe_execution(session, execution_id)
        authorize(
            viewer.principal,
            "pipelines:DescribePipelineExecution",
            srn("pipeline", item.pipeline_name),
        )
        definition = service.describe_version(session, item.pipeline_name, item.pipeline_version)
        pipeline_item = service.describe_pipeline(session, item.pipeline_name)
    # the DAG of the version that ran, not of the latest one
    return item, pipeline_item.model_copy(update={"definition": definition.definition})


def _dag(
    pipeline_item: PipelineOut, statuses: dict[str, str], steps: dict[str, StepExecutionOut]
) -> Any:
    nodes = []
    for step in pipeline_item.definition.steps:
        status = statuses.get(step.name)
        run = steps.get(step.name)
        nodes.append(
            GraphNode(
                id=step.name,
                label=step.name,
                sublabel=f"{step.type} · {status}" if status else step.type,
                href=_resource_href(run) if run else None,
                css_class=f"status-{status}" if status else "",
            )
        )
    edges = [
        (upstream, name) for name, ups in pipeline_item.dependencies.items() for upstream in ups
    ]
    return render_dag(nodes, edges, label=f"Steps of {pipeline_item.name}")


def _shown_status(step: StepExecutionOut) -> str:
    return "Cached" if step.cache_hit else step.status


def _resource_href(step: StepExecutionOut) -> str | None:
    if step.resource_kind is None or step.resource_name is None:
        return None
    if step.resource_kind == "model-package":
        group, _, version = step.resource_name.partition("/")
        return f"/console/model-package-groups/{group}/packages/{version}"
    page = RESOURCE_PAGES.get(step.resource_kind)
    return page.format(step.resource_name) if page else None
