"""metrics store: series, raw datapoints, roll-ups and the roll-up watermark

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 02:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_series",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("metric_name", sa.String(length=255), nullable=False),
        sa.Column("dimensions_key", sa.String(length=64), nullable=False),
        sa.Column("dimensions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_series")),
        sa.UniqueConstraint(
            "namespace", "metric_name", "dimensions_key", name=op.f("uq_metric_series_namespace")
        ),
    )
    op.create_table(
        "metric_rollup_watermarks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("received_before", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_metric_rollup_watermarks")),
    )
    op.create_table(
        "metric_datapoints",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("storage_resolution", sa.Integer(), nullable=False),
        sa.Column("sample_count", sa.Float(), nullable=False),
        sa.Column("sum", sa.Float(), nullable=False),
        sa.Column("minimum", sa.Float(), nullable=False),
        sa.Column("maximum", sa.Float(), nullable=False),
        sa.Column("distribution", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["metric_series.id"],
            name=op.f("fk_metric_datapoints_series_id_metric_series"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_datapoints")),
    )
    op.create_index(
        "ix_metric_datapoints_series_id_timestamp",
        "metric_datapoints",
        ["series_id", "timestamp"],
        unique=False,
    )
    op.create_index(
        "ix_metric_datapoints_received_at", "metric_datapoints", ["received_at"], unique=False
    )
    op.create_table(
        "metric_rollups",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("sample_count", sa.Float(), nullable=False),
        sa.Column("sum", sa.Float(), nullable=False),
        sa.Column("minimum", sa.Float(), nullable=False),
        sa.Column("maximum", sa.Float(), nullable=False),
        sa.Column("histogram", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["metric_series.id"],
            name=op.f("fk_metric_rollups_series_id_metric_series"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "series_id", "resolution", "timestamp", "unit", name=op.f("pk_metric_rollups")
        ),
    )


def downgrade() -> None:
    op.drop_table("metric_rollups")
    op.drop_index("ix_metric_datapoints_received_at", table_name="metric_datapoints")
    op.drop_index("ix_metric_datapoints_series_id_timestamp", table_name="metric_datapoints")
    op.drop_table("metric_datapoints")
    op.drop_table("metric_rollup_watermarks")
    op.drop_table("metric_series")
