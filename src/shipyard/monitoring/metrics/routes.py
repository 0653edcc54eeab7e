"""HTTP routes of this part of the monitoring room (to be written)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["monitoring"])
