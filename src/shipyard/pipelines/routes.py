"""HTTP routes of this room (to be written)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["pipelines"])
