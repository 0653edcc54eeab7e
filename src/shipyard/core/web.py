"""What every route depends on: the request's context, its principal, pagination, errors."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from shipyard.core.artifacts import BaseArtifactStore
from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.core.errors import ShipyardError, ValidationError
from shipyard.security.iam import Principal, authorize
from shipyard.security.service import Authenticator


@dataclass
class Context:
    """The process-wide objects a route needs, built once by ``create_app``."""

    settings: Settings
    db: Database
    store: BaseArtifactStore
    authenticator: Authenticator
    wake_workers: Callable[[], None] = lambda: None
    extras: dict[str, Any] = field(default_factory=dict)


def get_context(request: Request) -> Context:
    return request.app.state.context


def get_principal(request: Request) -> Principal:
    """Authenticate the bearer key (or the console's session); 401 without one."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    context = get_context(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    principal = context.authenticator.authenticate(token if scheme.lower() == "bearer" else None)
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


def get_authorizer(principal: PrincipalDep) -> Authorizer:
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


async def shipyard_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ShipyardError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=headers)


async def request_validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(validation_body(exc.errors()), status_code=400)


def validation_body(errors: Any) -> dict[str, Any]:
    """One readable message naming each bad field, from pydantic's error list."""
    messages = []
    for error in list(errors)[:5]:
        location = [
            str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")
        ]
        field_name = ".".join(location) or "request"
        messages.append(f"{field_name}: {error.get('msg', 'invalid')}")
    return ValidationError("; ".join(messages) or "invalid request").to_body()
