"""What every route depends on: the request's context, its principal, pagination, errors;
and the authentication door in front of the API."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from shipyard.core.artifacts import BaseArtifactStore
from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.core.errors import (
    AccessDenied,
    NotFound,
    ShipyardError,
    Throttled,
    Unauthenticated,
    ValidationError,
)
from shipyard.security.iam import Principal, authorize
from shipyard.security.service import Authenticator

API_PREFIX = "/api/v1/"
# Readable without a key: the API's description, for people and code generators.
PUBLIC_API_PREFIXES = ("/api/v1/openapi.json", "/api/v1/docs")


@dataclass
class Context:
    """The process-wide objects a route needs, built once by ``create_app``."""

    settings: Settings
    db: Database
    store: BaseArtifactStore
    authenticator: Authenticator
    wake_workers: Callable[[], None] = lambda: None
    run_soon: Callable[[str], None] = lambda _duty: None
    """Run the periodic duty of that name now (shipyard.duties), when this process runs them."""
    extras: dict[str, Any] = field(default_factory=dict)


async def get_context(request: Request) -> Context:
    # the dependencies are coroutines: FastAPI would run plain functions in its thread
    # pool, a hop of tens of microseconds each on every request
    return request.app.state.context


def bearer_token(authorization: str) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header; None for any other scheme."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def get_principal(request: Request) -> Principal:
    """The caller: the one :class:`AuthenticationMiddleware` found for API paths, else the
    bearer key's (authenticated here, off the event loop); 401 without one."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    token = bearer_token(request.headers.get("authorization", ""))
    authenticator = request.app.state.context.authenticator
    principal = await run_in_threadpool(authenticator.authenticate, token)
    request.state.principal = principal
    return principal


ContextDep = Annotated[Context, Depends(get_context)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]


class Authorizer:
    """``authorizer(action, resource)`` checks the caller's policies; 403 when denied."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    def __call__(self, action: str, resource: str) -> Principal:
        authorize(self.principal, action, resource)
        return self.principal


async def get_authorizer(principal: PrincipalDep) -> Authorizer:
    return Authorizer(principal)


AuthorizeDep = Annotated[Authorizer, Depends(get_authorizer)]


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    def next_token(self, returned: int) -> str | None:
        if returned < self.limit:
            return None
        return base64.urlsafe_b64encode(str(self.offset + returned).encode()).decode()


def get_page(
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    next_token: Annotated[str | None, Query(max_length=64)] = None,
) -> Page:
    offset = 0
    if next_token:
        try:
            offset = int(base64.urlsafe_b64decode(next_token.encode()).decode())
        except ValueError:
            raise ValidationError("is not a token this API returned", "next_token") from None
    return Page(limit=limit, offset=max(offset, 0))


PageDep = Annotated[Page, Depends(get_page)]


T = TypeVar("T")


class ListResponse(BaseModel, Generic[T]):
    items: list[T]
    next_token: str | None = None


# ---- the authentication door ----------------------------------------------------------
class AuthenticationMiddleware:
    """Every request under ``/api/v1/`` (but the API's description) shows a good bearer key
    before it is routed or its body read, so a caller without one always gets a 401.

    The principal goes to ``scope["state"]``, where :func:`get_principal` finds it. A key
    the authenticator has cached costs no DB query and no thread; any other is looked up
    in the thread pool, off the event loop.
    """

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and needs_api_key(scope):
            token = bearer_token(Headers(scope=scope).get("authorization", ""))
            principal = self.authenticator.cached(token)
            if principal is None:
                try:
                    principal = await run_in_threadpool(self.authenticator.authenticate, token)
                except Unauthenticated as exc:
                    await error_response(exc)(scope, receive, send)
                    return
            scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def needs_api_key(scope: Scope) -> bool:
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    return path.startswith(API_PREFIX) and not path.startswith(PUBLIC_API_PREFIXES)


# ---- errors -------------------------------------------------------------------------
# The codes of our error tree, for the statuses Starlette raises on its own (an unknown
# path, a wrong method); any other status is named after its HTTP reason phrase.
CODES_BY_STATUS = {
    cls.status_code: cls.code
    for cls in (ShipyardError, ValidationError, Unauthenticated, AccessDenied, NotFound, Throttled)
}


def error_response(exc: ShipyardError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=headers)


async def shipyard_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ShipyardError)
    return error_response(exc)


async def request_validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(validation_body(exc.errors()), status_code=400)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such path, a wrong method) in the shape of ours."""
    assert isinstance(exc, HTTPException)
    if exc.status_code < 200 or exc.status_code in (204, 205, 304):  # no body allowed
        return Response(status_code=exc.status_code, headers=exc.headers)
    body = {
        "error": {"code": error_code(exc.status_code), "message": http_error_message(request, exc)}
    }
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def error_code(status_code: int) -> str:
    if status_code in CODES_BY_STATUS:
        return CODES_BY_STATUS[status_code]
    try:
        return re.sub(r"[^A-Za-z]", "", HTTPStatus(status_code).phrase)
    except ValueError:
        return ShipyardError.code


def http_error_message(request: Request, exc: HTTPException) -> str:
    """Starlette's detail, or a sentence naming the path when it is only the status phrase."""
    path = request.url.path
    if exc.status_code == 404 and exc.detail == HTTPStatus.NOT_FOUND.phrase:
        return f"nothing is at {path}"
    if exc.status_code == 405 and exc.detail == HTTPStatus.METHOD_NOT_ALLOWED.phrase:
        # Not Starlette's Allow header: it names the methods of one route of the path only.
        return f"{request.method} is not allowed on {path}"
    return str(exc.detail)


# Where a value came from (pydantic's first location part), never a field of its own.
SOURCES = ("body", "query", "path", "header", "cookie")
# The whole body, or a nested value, is not an object where one is expected.
OBJECT_TYPE_ERRORS = ("model_type", "model_attributes_type", "dict_type")


def validation_body(errors: Any) -> dict[str, Any]:
    """One readable message naming each bad field (``production_variants.0.model_name``),
    from pydantic's error list; ``body`` names the request body as a whole."""
    messages = [_validation_message(error) for error in list(errors)[:5]]
    return ValidationError("; ".join(messages) or "invalid request").to_body()


def _validation_message(error: dict[str, Any]) -> str:
    location = list(error.get("loc", ()))
    source = location.pop(0) if location and location[0] in SOURCES else None
    kind = error.get("type", "")
    if kind == "json_invalid":
        reason = error.get("ctx", {}).get("error", "")
        at = f" at character {location[0]}" if location and isinstance(location[0], int) else ""
        return f"body: is not valid JSON ({reason}{at})" if reason else "body: is not valid JSON"
    field_name = ".".join(str(part) for part in location) or source or "request"
    if kind in OBJECT_TYPE_ERRORS:
        return f"{field_name}: expected a JSON object"
    return f"{field_name}: {error.get('msg', 'invalid')}"


async def internal_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """A bug, not bad input: log it whole, answer the error contract without details."""
    logging.getLogger("shipyard").error("unhandled error", exc_info=exc)
    body = ShipyardError("internal error; the server log has the details").to_body()
    return JSONResponse(body, status_code=500)
