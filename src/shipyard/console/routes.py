"""The console's router (its pages, one module per group) and its static files."""

from __future__ import annotations

import os
from pathlib import Path

import plotly
from fastapi import APIRouter, FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from shipyard.console import (
    alarms,
    auth,
    dashboard,
    lineage,
    logs,
    metrics,
    pipelines,
    registry,
    serving,
    topics,
    training,
    transform,
    tuning,
)
from shipyard.console.rendering import ConsoleRoute

STATIC_DIR = Path(__file__).parent / "static"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
# Static URLs carry a version (``?v=…``), so browsers may keep them for a year.
STATIC_CACHE_CONTROL = "public, max-age=31536000, immutable"

PREFIX = "/console"
router = APIRouter(prefix=PREFIX, include_in_schema=False, route_class=ConsoleRoute)
for _pages in (
    auth,
    dashboard,
    training,
    tuning,
    registry,
    serving,
    transform,
    pipelines,
    lineage,
    topics,
    metrics,
    alarms,
    logs,
):
    router.include_router(_pages.router)


class ConsoleStaticFiles(StaticFiles):
    """Our own CSS and JS, plus ``plotly.min.js`` from the installed plotly wheel."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if path == PLOTLY_JS.name:
            try:
                return str(PLOTLY_JS), PLOTLY_JS.stat()
            except FileNotFoundError:
                return "", None
        return super().lookup_path(path)

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = STATIC_CACHE_CONTROL
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount_static(app: FastAPI) -> None:
    app.mount(f"{PREFIX}/static", ConsoleStaticFiles(directory=STATIC_DIR), name="console-static")


def owns(path: str) -> bool:
    """Whether a path is the console's, so that its errors are pages rather than JSON."""
    return path == PREFIX or path.startswith(f"{PREFIX}/")
