"""Console pages to sign in with an API key and to sign out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from shipyard.console.rendering import ConsoleRoute, render
from shipyard.console.session import (
    COOKIE_PATH,
    LOGIN_COOKIE,
    FormViewerDep,
    LoginRequired,
    check_login_csrf,
    clear_session_cookie,
    get_viewer,
    login_csrf_token,
    login_nonce,
    secret_of,
    session_value,
    set_login_cookie,
    set_session_cookie,
)
from shipyard.core.errors import Unauthenticated

router = APIRouter(route_class=ConsoleRoute)
HOME = "/console/"


def safe_next(target: str) -> str:
    """Where to go after signing in: a console path only, never another site."""
    if target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


def _login_page(request: Request, next_url: str, error: str | None, status_code: int) -> Response:
    nonce = login_nonce(request)
    response = render(
        request,
        "login.html",
        status_code,
        csrf_token=login_csrf_token(secret_of(request), nonce),
        next_url=safe_next(next_url),
        error=error,
    )
    set_login_cookie(response, request, nonce)
    return response


@router.get("/login", name="console-login")
def login_form(
    request: Request, next_url: Annotated[str, Query(alias="next", max_length=2048)] = HOME
) -> Response:
    try:
        get_viewer(request)
    except LoginRequired as exc:
        response = _login_page(request, next_url, None, 200)
        if exc.clear_cookie:  # a stale session (expired, or its key revoked)
            clear_session_cookie(response, request)
        return response
    return RedirectResponse(safe_next(next_url), status_code=303)


@router.post("/login")
def login(
    request: Request,
    api_key: Annotated[str, Form(max_length=512)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=2048)] = HOME,
) -> Response:
    check_login_csrf(request, csrf_token)
    context = request.app.state.context
    try:
        principal = context.authenticator.authenticate(api_key.strip() or None)
    except Unauthenticated:
        return _login_page(request, next_url, "That API key is not valid.", 401)
    assert principal.key_id is not None
    response = RedirectResponse(safe_next(next_url), status_code=303)
    set_session_cookie(response, request, session_value(secret_of(request), principal.key_id))
    response.delete_cookie(LOGIN_COOKIE, path=f"{COOKIE_PATH}/login")
    return response


@router.post("/logout")
def logout(request: Request, _viewer: FormViewerDep) -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    clear_session_cookie(response, request)
    return response
