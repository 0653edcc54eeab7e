"""asynchronous inference: endpoint configs' async_inference_config and the request queue

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("endpoint_configs") as batch:
        batch.add_column(sa.Column("async_inference_config", sa.JSON(), nullable=True))
    op.create_table(
        "async_inferences",
        sa.Column("inference_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint_name", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("input_location", sa.String(length=1024), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=256), nullable=False),
        sa.Column("accept", sa.String(length=256), nullable=False),
        sa.Column("output_location", sa.String(length=1024), nullable=False),
        sa.Column("failure_location", sa.String(length=1024), nullable=False),
        sa.Column("notification", sa.JSON(), nullable=True),
        sa.Column("output_content_type", sa.String(length=256), nullable=True),
        sa.Column("variant_name", sa.String(length=64), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("request_ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("invocation_timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker_id", sa.String(length=64), nullable=True),
        sa.Column("worker_host", sa.String(length=255), nullable=True),
        sa.Column("worker_pid", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("inference_id", name=op.f("pk_async_inferences")),
    )
    with op.batch_alter_table("async_inferences") as batch:
        batch.create_index(
            batch.f("ix_async_inferences_endpoint_name"), ["endpoint_name"], unique=False
        )
        batch.create_index(batch.f("ix_async_inferences_status"), ["status"], unique=False)
        batch.create_index(batch.f("ix_async_inferences_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("async_inferences")
    with op.batch_alter_table("endpoint_configs") as batch:
        batch.drop_column("async_inference_config")
