"""HTTP routes of asynchronous inference: accept a request, describe it, list them, read
its result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from shipyard.core.names import srn, validate_name
from shipyard.core.web import AuthorizeDep, ContextDep, ListResponse, PageDep
from shipyard.serving.asynchronous import service
from shipyard.serving.asynchronous.schemas import (
    AsyncInferenceOut,
    AsyncInvocationOut,
    AsyncStatus,
)
from shipyard.serving.routes import read_body

router = APIRouter(prefix="/api/v1", tags=["serving"])
COLLECTION = "/endpoints/{name}/async-invocations"
ITEM = COLLECTION + "/{inference_id}"
WORKER = "async_inference_worker"  # its key in the context's extras (shipyard.server)


def endpoint_srn(name: str) -> str:
    return srn("endpoint", name)


@router.post(
    COLLECTION,
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AsyncInvocationOut,
    responses={202: {"headers": {"Location": {"description": "Where its status is"}}}},
)
async def invoke_endpoint_async(
    name: str, http_request: Request, context: ContextDep, authorize: AuthorizeDep
) -> JSONResponse:
    """Queue a request (SageMaker's InvokeEndpointAsync): the body is the request, or
    ``input_location`` (query parameter, or the ``X-Shipyard-Input-Location`` header) names
    a ``shipyard://`` object holding it. Options: ``X-Shipyard-Inference-Id`` (the same id
    twice is one request), ``X-Shipyard-Request-TTL-Seconds`` (60-21600, default 21600: a
    request not started by then ends Expired), ``X-Shipyard-Invocation-Timeout-Seconds``
    (1-3600, default 900). Answers 202 once the request is stored."""
    principal = authorize("serving:InvokeEndpointAsync", endpoint_srn(name))
    validate_name(name)
    headers = http_request.headers
    body = await read_body(http_request, context.settings.max_payload_bytes)
    request = service.read_request(
        content_type=headers.get("content-type"),
        accept=headers.get("accept"),
        body=body,
        input_location=(
            http_request.query_params.get("input_location")
            or headers.get(service.INPUT_LOCATION_HEADER)
        ),
        inference_id=headers.get(service.INFERENCE_ID_HEADER),
        request_ttl_seconds=headers.get(service.TTL_HEADER),
        invocation_timeout_seconds=headers.get(service.TIMEOUT_HEADER),
    )
    accepted = await run_in_threadpool(
        service.accept,
        context.db,
        context.store,
        name,
        request,
        principal.name,
        max_payload_bytes=context.settings.max_payload_bytes,
    )
    worker = context.extras.get(WORKER)
    if worker is not None:
        worker.wake()
    return JSONResponse(
        accepted.model_dump(),
        status_code=status.HTTP_202_ACCEPTED,
        headers={
            "Location": f"/api/v1/endpoints/{name}/async-invocations/{accepted.inference_id}",
            "X-Shipyard-Output-Location": accepted.output_location,
            "X-Shipyard-Failure-Location": accepted.failure_location,
        },
    )


@router.get(COLLECTION, response_model=ListResponse[AsyncInferenceOut])
def list_async_inferences(
    name: str,
    context: ContextDep,
    authorize: AuthorizeDep,
    page: PageDep,
    inference_status: Annotated[AsyncStatus | None, Query(alias="status")] = None,
) -> ListResponse[AsyncInferenceOut]:
    """The endpoint's async requests, newest first; ``?status=Failed`` to narrow it."""
    authorize("serving:ListAsyncInferences", endpoint_srn(name))
    with context.db.session_scope() as session:
        items = service.list_inferences(
            session,
            validate_name(name),
            status=inference_status,
            limit=page.limit,
            offset=page.offset,
        )
    return ListResponse[AsyncInferenceOut](items=items, next_token=page.next_token(len(items)))


@router.get(ITEM, response_model=AsyncInferenceOut)
def describe_async_inference(
    name: str, inference_id: str, context: ContextDep, authorize: AuthorizeDep
) -> AsyncInferenceOut:
    """Its status (Queued, InProgress, Completed, Failed, Expired), times, attempts,
    locations and failure reason."""
    authorize("serving:DescribeAsyncInference", endpoint_srn(name))
    with context.db.session_scope() as session:
        return service.describe_inference(session, name, inference_id)


@router.get(
    ITEM + "/result",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
def get_async_inference_result(
    name: str, inference_id: str, context: ContextDep, authorize: AuthorizeDep
) -> Response:
    """The answer of a Completed request (the object at its output location), or the
    failure document of a Failed or Expired one; 409 before it ends."""
    authorize("serving:GetAsyncInferenceResult", endpoint_srn(name))
    body, content_type = service.read_result(context.db, context.store, name, inference_id)
    return Response(body, media_type=content_type)
