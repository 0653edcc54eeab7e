"""Tables of the model registry: package groups, their numbered packages, approval history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.core.db import Base


class ModelPackageGroup(Base):
    __tablename__ = "model_package_groups"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text)
    tags: Mapped[dict[str, str]] = mapped_column(JSON)
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ModelPackage(Base):
    """Version ``version`` of a group's model: its artifact (and that artifact's hash), how
    to call it, how good it is, and whether it may be deployed (``approval_status``).

    ``trust_pickle`` is the only place a pickle's trust comes from: serving copies it into
    the model, and loaders take it from there, never from a file.
    """

    __tablename__ = "model_packages"
    __table_args__ = (UniqueConstraint("group_name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_name: Mapped[str] = mapped_column(
        ForeignKey("model_package_groups.name", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    approval_status: Mapped[str] = mapped_column(String(32), index=True)
    model_data_uri: Mapped[str] = mapped_column(String(512))
    model_sha256: Mapped[str] = mapped_column(String(64))
    model_format: Mapped[str] = mapped_column(String(32))
    trust_pickle: Mapped[bool] = mapped_column(Boolean)
    inference_spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_metrics: Mapped[dict[str, float]] = mapped_column(JSON)
    evaluation_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    evaluation_report_uri: Mapped[str | None] = mapped_column(String(1024))
    training_job_name: Mapped[str | None] = mapped_column(String(64), index=True)
    tuning_job_name: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    customer_metadata: Mapped[dict[str, str]] = mapped_column(JSON)
    model_card: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_modified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ModelPackageApproval(Base):
    """One change of a package's approval status (the first: its status at registration)."""

    __tablename__ = "model_package_approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    package_id: Mapped[int] = mapped_column(
        ForeignKey("model_packages.id", ondelete="CASCADE"), index=True
    )
    approval_status: Mapped[str] = mapped_column(String(32))
    previous_status: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(128))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
