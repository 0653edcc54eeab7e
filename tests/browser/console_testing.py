"""Helpers of the tests that read console pages over plain HTTP (an in-process server):
the forms' CSRF tokens and signing in."""

from __future__ import annotations

import re
from typing import Any

import httpx

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    match = CSRF.search(page.text)
    assert match, page.text
    return match.group(1)


def log_in(client: Any, key: str, next_url: str = "/console/") -> httpx.Response:
    """Post the login form with ``key``; the response (a 303 when it was accepted)."""
    form = client.get("/console/login")
    assert form.status_code == 200
    return client.post(
        "/console/login",
        data={"api_key": key, "csrf_token": csrf_of(form), "next": next_url},
        follow_redirects=False,
    )
