"""The invocation fast path: ``POST /api/v1/endpoints/<name>/invocations`` answered in front
of FastAPI's router, as its route answers it, without the router's per-request work."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard.core.errors import PayloadTooLarge, ShipyardError
from shipyard.core.names import srn
from shipyard.core.web import Context, error_response, get_principal
from shipyard.security.iam import Principal, authorize
from shipyard.serving.host import TARGET_VARIANT_HEADER, ModelHost
from shipyard.serving.invocation import Invocation

INVOCATIONS_PREFIX = "/api/v1/endpoints/"
INVOCATIONS_SUFFIX = "/invocations"
INVOKE_ACTION = "serving:InvokeEndpoint"
# the request headers the route reads, as servers hand them over (lower case)
CONTENT_TYPE = b"content-type"
ACCEPT = b"accept"
CONTENT_LENGTH = b"content-length"
TARGET_VARIANT = TARGET_VARIANT_HEADER.lower().encode("latin-1")
DEFAULT_TYPE = "application/json"


class InvocationFastPath:
    """ASGI middleware that serves invocations itself and passes every other request on.

    FastAPI finds a route by trying its ~70 routes in turn, then solves the route's
    dependencies: most of an invocation's time in this process, for a path whose shape is
    known. This layer sits inside :class:`~shipyard.core.web.AuthenticationMiddleware`
    (which has found the caller, or answered 401) and does what
    :func:`shipyard.serving.routes.invoke_endpoint` does, in its order: authorize
    ``serving:InvokeEndpoint`` on the endpoint, read the body under the payload limit (413
    before a byte goes on), :meth:`ModelHost.invoke`, the answer with its variant. A
    :class:`ShipyardError` is answered as the app's handler answers it; any other exception
    goes up to the app's 500 handler. FastAPI's route stays: the OpenAPI schema describes
    it, and it serves what this layer does not recognise.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = invoked_endpoint(scope)
        if name is None:
            await self.app(scope, receive, send)
            return
        # the route's own lookup (get_context): the app's context, read per request
        context: Context = scope["app"].state.context
        try:
            answer = await invoke(context, scope, receive, name)
        except ShipyardError as exc:
            await error_response(exc)(scope, receive, send)
            return
        await send_answer(send, answer)


def invoked_endpoint(scope: Scope) -> str | None:
    """The endpoint a ``POST .../endpoints/<name>/invocations`` names, as the route's
    ``{name}`` (one path segment, not empty) would; None for any other request."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path = route_path(scope)
    if not path.startswith(INVOCATIONS_PREFIX) or not path.endswith(INVOCATIONS_SUFFIX):
        return None
    name = path[len(INVOCATIONS_PREFIX) : -len(INVOCATIONS_SUFFIX)]
    if not name or "/" in name:
        return None
    return name


def route_path(scope: Scope) -> str:
    """The path the router matches: without the root path the app is mounted at (the
    rule of Starlette's ``get_route_path``)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    return path[len(root_path) :] if path[len(root_path)] == "/" else path


async def invoke(context: Context, scope: Scope, receive: Receive, name: str) -> Invocation:
    content_type, accept, declared, target_variant = request_headers(scope)
    principal = await caller(scope)
    authorize(principal, INVOKE_ACTION, srn("endpoint", name))
    body = await receive_body(receive, declared, context.settings.max_payload_bytes)
    host: ModelHost = context.extras["model_host"]
    return await host.invoke(
        name, body, content_type or DEFAULT_TYPE, accept or DEFAULT_TYPE, target_variant
    )


def request_headers(scope: Scope) -> tuple[str | None, str | None, str | None, str | None]:
    """Content-Type, Accept, Content-Length and the target variant, in one pass over the
    headers; the first of a repeated header counts (as in Starlette's ``Headers.get``)."""
    content_type = accept = declared = target_variant = None
    for key, value in scope["headers"]:
        if key == CONTENT_TYPE:
            if content_type is None:
                content_type = value.decode("latin-1")
        elif key == ACCEPT:
            if accept is None:
                accept = value.decode("latin-1")
        elif key == CONTENT_LENGTH:
            if declared is None:
                declared = value.decode("latin-1")
        elif key == TARGET_VARIANT and target_variant is None:
            target_variant = value.decode("latin-1")
    return content_type, accept, declared, target_variant


async def caller(scope: Scope) -> Principal:
    """The principal the authentication middleware found, else :func:`get_principal`'s."""
    principal: Principal | None = scope.get("state", {}).get("principal")
    return principal if principal is not None else await get_principal(Request(scope))


async def receive_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The request's body, refused (413) as soon as it is known to be over ``limit`` bytes:
    by its Content-Length before a byte is read, else while it streams in (FastAPI's
    route reads its body with this too)."""
    declared = declared or ""
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body: {int(declared)} bytes, over the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        kind = message["type"]
        if kind == "http.request":
            chunk: bytes = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"body: over the limit of {limit} bytes")
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        elif kind == "http.disconnect":
            raise ClientDisconnect()  # as Starlette's Request.stream does
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_answer(send: Send, answer: Invocation) -> None:
    """The 200 the route's ``Response(body, media_type=..., headers=...)`` sends, with the
    same headers in the same order (a ``text/`` type gets Starlette's ``charset=utf-8``)."""
    content_type = answer.content_type
    if content_type.startswith("text/") and "charset=" not in content_type.lower():
        content_type += "; charset=utf-8"
    headers = [
        (b"x-shipyard-variant", answer.variant.encode("latin-1")),
        (b"content-length", str(len(answer.body)).encode("latin-1")),
        (b"content-type", content_type.encode("latin-1")),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
