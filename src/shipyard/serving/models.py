"""Tables of the serving room."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.core.db import Base


class Model(Base):
    """A servable model. ``model_sha256`` is the hash of its model directory when it was
    created (the host refuses to load other bytes); ``trust_pickle``, copied from the model
    package it came from, is the only thing that lets a loader deserialize a pickle."""

    __tablename__ = "models"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    training_job_name: Mapped[str | None] = mapped_column(String(64))
    model_data_uri: Mapped[str] = mapped_column(String(512))
    algorithm: Mapped[str] = mapped_column(String(64))
    problem_type: Mapped[str] = mapped_column(String(64))
    feature_names: Mapped[list[str]] = mapped_column(JSON)
    classes: Mapped[list[Any] | None] = mapped_column(JSON)
    model_package_name: Mapped[str | None] = mapped_column(String(128), index=True)
    model_sha256: Mapped[str | None] = mapped_column(String(64))
    trust_pickle: Mapped[bool] = mapped_column(Boolean, server_default=false())
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EndpointConfig(Base):
    __tablename__ = "endpoint_configs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    production_variants: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    shadow_production_variants: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    data_capture_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    async_inference_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Endpoint(Base):
    __tablename__ = "endpoints"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint_config_name: Mapped[str] = mapped_column(String(64))
    previous_endpoint_config_name: Mapped[str | None] = mapped_column(String(64))
    """The config it served before its last update: what a rollback goes back to."""
    status: Mapped[str] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ShadowComparison(Base):
    """What a shadow variant answered next to a production variant, a minute's worth."""

    __tablename__ = "shadow_comparisons"

    endpoint_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    shadow_variant: Mapped[str] = mapped_column(String(64), primary_key=True)
    production_variant: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    shadow_errors: Mapped[int] = mapped_column(Integer, default=0)
    """Requests the shadow failed on (the production answer stood)."""
    rows: Mapped[int] = mapped_column(Integer, default=0)
    """Predictions compared (a request may hold several rows)."""
    agreed_rows: Mapped[int] = mapped_column(Integer, default=0)
    numeric_rows: Mapped[int] = mapped_column(Integer, default=0)
    absolute_difference: Mapped[float] = mapped_column(Float, default=0.0)
    """The sum over numeric rows of |production - shadow|."""
    production_latency: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    shadow_latency: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    """Histograms of microseconds: bucket ``b`` counts latencies in [1.2**b, 1.2**(b+1))."""
