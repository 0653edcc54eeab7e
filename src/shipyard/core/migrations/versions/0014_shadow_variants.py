"""shadow variants of endpoint configs, and what they answered next to production

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 05:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("endpoint_configs") as batch:
        batch.add_column(
            sa.Column("shadow_production_variants", sa.JSON(), nullable=False, server_default="[]")
        )
    op.create_table(
        "shadow_comparisons",
        sa.Column("endpoint_name", sa.String(length=64), nullable=False),
        sa.Column("shadow_variant", sa.String(length=64), nullable=False),
        sa.Column("production_variant", sa.String(length=64), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("shadow_errors", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("agreed_rows", sa.Integer(), nullable=False),
        sa.Column("numeric_rows", sa.Integer(), nullable=False),
        sa.Column("absolute_difference", sa.Float(), nullable=False),
        sa.Column("production_latency", sa.JSON(), nullable=False),
        sa.Column("shadow_latency", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint(
            "endpoint_name",
            "shadow_variant",
            "production_variant",
            "minute",
            name=op.f("pk_shadow_comparisons"),
        ),
    )


def downgrade() -> None:
    op.drop_table("shadow_comparisons")
    with op.batch_alter_table("endpoint_configs") as batch:
        batch.drop_column("shadow_production_variants")
