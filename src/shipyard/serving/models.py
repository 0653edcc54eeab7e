"""Tables of the serving room."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.core.db import Base


class Model(Base):
    __tablename__ = "models"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    training_job_name: Mapped[str | None] = mapped_column(String(64))
    model_data_uri: Mapped[str] = mapped_column(String(512))
    algorithm: Mapped[str] = mapped_column(String(64))
    problem_type: Mapped[str] = mapped_column(String(64))
    feature_names: Mapped[list[str]] = mapped_column(JSON)
    classes: Mapped[list[Any] | None] = mapped_column(JSON)
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EndpointConfig(Base):
    __tablename__ = "endpoint_configs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    production_variants: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Endpoint(Base):
    __tablename__ = "endpoints"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint_config_name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
