"""Console pages of this room (to be written)."""

from __future__ import annotations

from fastapi import APIRouter

from shipyard.console.rendering import ConsoleRoute

router = APIRouter(route_class=ConsoleRoute)
