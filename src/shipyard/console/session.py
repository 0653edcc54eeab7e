"""The console's session: a signed cookie naming an API key id, and the CSRF tokens of forms.

The cookie holds ``v1.<key id>.<expires>.<nonce>.<signature>``, signed with HMAC-SHA256
under a per-installation secret (``$SHIPYARD_HOME/console-secret``, 32 random bytes, mode
0600) — never the API key itself. Each request checks the signature, the expiry and that
the key still exists and is not revoked. A form's CSRF token is an HMAC of the session
value; the login form, which comes before any session, uses a nonce cookie instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Form, Request, Response

from shipyard.core.errors import AccessDenied, Unauthenticated
from shipyard.core.keyfiles import installation_secret
from shipyard.security.iam import Principal
from shipyard.security.service import principal_of_key

SESSION_COOKIE = "shipyard_console"
LOGIN_COOKIE = "shipyard_console_login"
COOKIE_PATH = "/console"
SESSION_SECONDS = 12 * 3600
LOGIN_NONCE_SECONDS = 3600
SECRET_FILE = "console-secret"
_KEY_ID = re.compile(r"[0-9a-zA-Z]{1,32}")


class LoginRequired(Exception):
    """No valid session: the console answers with a redirect to the login page."""

    def __init__(self, clear_cookie: bool) -> None:
        super().__init__("login required")
        self.clear_cookie = clear_cookie


@dataclass(frozen=True)
class Viewer:
    """Who is looking at a console page, and the CSRF token their forms must carry."""

    principal: Principal
    csrf_token: str


# ---- the secret -----------------------------------------------------------------------
@lru_cache(maxsize=32)
def console_secret(home: Path) -> bytes:
    """The signing secret of this installation: created on first use, reused after."""
    return installation_secret(home, SECRET_FILE)


def secret_of(request: Request) -> bytes:
    return console_secret(request.app.state.context.settings.home)


def _sign(secret: bytes, purpose: str, value: str) -> str:
    digest = hmac.new(secret, f"{purpose}.{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# ---- the session cookie ---------------------------------------------------------------
def session_value(secret: bytes, key_id: str, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + SESSION_SECONDS)
    claims = f"v1.{key_id}.{expires}.{secrets.token_urlsafe(12).replace('.', '')}"
    return f"{claims}.{_sign(secret, 'session', claims)}"


def key_id_of_session(secret: bytes, value: str, now: float | None = None) -> str | None:
    """The key id a session value names, if its signature is good and it has not expired."""
    claims, _, signature = value.rpartition(".")
    parts = claims.split(".")
    if len(parts) != 4 or parts[0] != "v1" or not _KEY_ID.fullmatch(parts[1]):
        return None
    if not hmac.compare_digest(signature, _sign(secret, "session", claims)):
        return None
    if not parts[2].isdigit() or int(parts[2]) <= (now if now is not None else time.time()):
        return None
    return parts[1]


def csrf_token_for(secret: bytes, session: str) -> str:
    return _sign(secret, "csrf", session)


def set_session_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_SECONDS,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def get_viewer(request: Request) -> Viewer:
    """The signed-in principal; LoginRequired (a redirect to the login page) otherwise."""
    cached = getattr(request.state, "console_viewer", None)
    if cached is not None:
        return cached
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        raise LoginRequired(clear_cookie=False)
    secret = secret_of(request)
    key_id = key_id_of_session(secret, value)
    if key_id is None:
        raise LoginRequired(clear_cookie=True)
    try:
        with request.app.state.context.db.session_scope() as db_session:
            principal = principal_of_key(db_session, key_id)
    except Unauthenticated:
        raise LoginRequired(clear_cookie=True) from None
    viewer = Viewer(principal=principal, csrf_token=csrf_token_for(secret, value))
    request.state.console_viewer = viewer
    return viewer


def get_form_viewer(
    request: Request, csrf_token: Annotated[str, Form(max_length=128)] = ""
) -> Viewer:
    """The viewer of a POSTed form, whose CSRF token must match their session."""
    viewer = get_viewer(request)
    if not hmac.compare_digest(csrf_token.encode(), viewer.csrf_token.encode()):
        raise AccessDenied(
            "this form's security token is missing or out of date; reload the page and try again"
        )
    return viewer


ViewerDep = Annotated[Viewer, Depends(get_viewer)]
FormViewerDep = Annotated[Viewer, Depends(get_form_viewer)]


# ---- the login form, before any session ----------------------------------------------
def login_nonce(request: Request) -> str:
    """The nonce of this browser's login form: the one in its cookie, or a fresh one."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    return nonce if re.fullmatch(r"[A-Za-z0-9_-]{16,64}", nonce) else secrets.token_urlsafe(24)


def login_csrf_token(secret: bytes, nonce: str) -> str:
    return _sign(secret, "login", nonce)


def set_login_cookie(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_NONCE_SECONDS,
        path=f"{COOKIE_PATH}/login",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def check_login_csrf(request: Request, token: str) -> None:
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    expected = login_csrf_token(secret_of(request), nonce)
    if not nonce or not hmac.compare_digest(token.encode(), expected.encode()):
        raise AccessDenied(
            "the login form expired or cookies are blocked; reload the page and try again"
        )
