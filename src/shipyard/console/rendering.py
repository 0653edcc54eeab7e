"""Rendering console pages: the Jinja environment, its filters, and the route class that
turns service errors into error pages and a missing session into a redirect to login."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import plotly
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from shipyard import __version__
from shipyard.console.session import LoginRequired, clear_session_cookie
from shipyard.core.errors import ShipyardError
from shipyard.core.web import validation_body

log = logging.getLogger(__name__)
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATUS_TONES = {
    "Completed": "ok",
    "InService": "ok",
    "Pending": "wait",
    "InProgress": "busy",
    "Creating": "busy",
    "Updating": "busy",
    "Stopping": "wait",
    "Deleting": "wait",
    "Failed": "bad",
    "Stopped": "idle",
    "Succeeded": "ok",  # a pipeline's and its steps' statuses
    "Cached": "ok",
    "Executing": "busy",
    "NotStarted": "wait",
    "Skipped": "idle",
    "NoIssuesFound": "ok",  # a debugger rule's statuses
    "IssuesFound": "bad",
    "Error": "bad",
}
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def format_time(value: datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(start: datetime | None, end: datetime | None = None) -> str:
    """``1h 02m``, ``3m 07s`` or ``12.3s``; running jobs count up to now."""
    if start is None:
        return "—"
    end = end or datetime.now(UTC)
    seconds = max((_aware(end) - _aware(start)).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, second = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {second:02d}s"
    hours, minute = divmod(minutes, 60)
    return f"{hours}h {minute:02d}m"


def format_value(value: Any) -> str:
    """A table cell: floats to 6 significant digits, lists joined, nothing as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(item) for item in value) or "—"
    return str(value)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        time=format_time,
        cell=format_value,
        tone=lambda status: STATUS_TONES.get(status, "idle"),
    )
    env.globals.update(
        duration=format_duration, version=__version__, plotly_version=plotly.__version__
    )
    return env


templates = Jinja2Templates(env=_environment())


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    """A page, with the signed-in viewer (if any) for the header and its forms."""
    context = {"viewer": getattr(request.state, "console_viewer", None), "section": "", **values}
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def error_page(request: Request, status_code: int, message: str) -> Response:
    return render(request, "error.html", status_code, error_status=status_code, message=message)


def http_error_page(request: Request, exc: Exception) -> Response:
    """The page for an error Starlette raises under ``/console`` (no such page, a wrong
    method, a missing static file) or FastAPI raises on an unreadable form."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = "There is no such page."
    elif exc.status_code == 405:
        message = f"This page does not accept {request.method} requests."
    else:
        message = str(exc.detail)
    response = error_page(request, exc.status_code, message)
    response.headers.update(exc.headers or {})
    return with_security_headers(response)


def with_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def login_redirect(request: Request, clear_cookie: bool) -> Response:
    # After signing in the browser GETs ``next``, so a form's POST URL cannot be it.
    target = request.url.path if request.method == "GET" else "/console/"
    if request.method == "GET" and request.url.query:
        target += f"?{request.url.query}"
    response = RedirectResponse(f"/console/login?next={quote(target, safe='')}", status_code=303)
    if clear_cookie:
        clear_session_cookie(response, request)
    return response


class ConsoleRoute(APIRoute):
    """Every console route: a page for each error (never JSON or a stack trace), a redirect
    when there is no session, and the console's security headers on every answer."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired as exc:
                response = login_redirect(request, exc.clear_cookie)
            except ShipyardError as exc:
                response = error_page(request, exc.status_code, exc.message)
            except RequestValidationError as exc:
                message = validation_body(exc.errors())["error"]["message"]
                response = error_page(request, 400, message)
            except HTTPException as exc:
                response = http_error_page(request, exc)
            except Exception:
                log.exception("console page %s failed", request.url.path)
                response = error_page(request, 500, "Something went wrong on the server.")
            return with_security_headers(response)

        return handle
