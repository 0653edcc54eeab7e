"""What one invocation of an endpoint gives back, wherever it was answered."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Invocation:
    """The answer of ``variant``: the rendered body and its content type."""

    variant: str
    body: bytes
    content_type: str
    model_latency_us: float | None = None
