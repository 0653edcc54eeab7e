"""endpoint rollouts

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 17:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "endpoint_rollouts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("endpoint_name", sa.String(64), nullable=False),
        sa.Column("from_endpoint_config_name", sa.String(64), nullable=False),
        sa.Column("to_endpoint_config_name", sa.String(64), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("from_previous_endpoint_config_name", sa.String(64), nullable=True),
        sa.Column("deployment_config", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("traffic_percent", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("next_step_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_rollouts")),
    )
    op.create_index(
        op.f("ix_endpoint_rollouts_endpoint_name"), "endpoint_rollouts", ["endpoint_name"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_endpoint_rollouts_endpoint_name"), table_name="endpoint_rollouts")
    op.drop_table("endpoint_rollouts")
