"""scaling policies and activities

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 09:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scaling_policies",
        sa.Column("endpoint_name", sa.String(64), nullable=False),
        sa.Column("variant_name", sa.String(64), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("target_value", sa.Float(), nullable=False),
        sa.Column("min_capacity", sa.Integer(), nullable=False),
        sa.Column("max_capacity", sa.Integer(), nullable=False),
        sa.Column("scale_out_cooldown_seconds", sa.Integer(), nullable=False),
        sa.Column("scale_in_cooldown_seconds", sa.Integer(), nullable=False),
        sa.Column("evaluation_seconds", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("endpoint_name", "variant_name", name=op.f("pk_scaling_policies")),
    )
    op.create_table(
        "scaling_activities",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("endpoint_name", sa.String(64), nullable=False),
        sa.Column("variant_name", sa.String(64), nullable=False),
        sa.Column("from_capacity", sa.Integer(), nullable=False),
        sa.Column("to_capacity", sa.Integer(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scaling_activities")),
    )
    op.create_index(
        op.f("ix_scaling_activities_endpoint_name"), "scaling_activities", ["endpoint_name"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_scaling_activities_endpoint_name"), table_name="scaling_activities")
    op.drop_table("scaling_activities")
    op.drop_table("scaling_policies")
