"""batch transform jobs

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transform_jobs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("model_name", sa.String(length=64), nullable=False),
        sa.Column("model_data_uri", sa.String(length=512), nullable=False),
        sa.Column("transform_input", sa.JSON(), nullable=False),
        sa.Column("transform_output", sa.JSON(), nullable=False),
        sa.Column("max_concurrent_transforms", sa.Integer(), nullable=False),
        sa.Column("max_payload_mb", sa.Integer(), nullable=False),
        sa.Column("batch_strategy", sa.String(length=16), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("stopping_condition", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("output_uri", sa.String(length=512), nullable=False),
        sa.Column("reconciled", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_transform_jobs_job_id_jobs")
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_transform_jobs")),
        sa.UniqueConstraint("job_id", name=op.f("uq_transform_jobs_job_id")),
    )
    with op.batch_alter_table("transform_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transform_jobs_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_transform_jobs_model_name"), ["model_name"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_transform_jobs_reconciled"), ["reconciled"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("transform_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transform_jobs_reconciled"))
        batch_op.drop_index(batch_op.f("ix_transform_jobs_model_name"))
        batch_op.drop_index(batch_op.f("ix_transform_jobs_created_at"))
    op.drop_table("transform_jobs")
