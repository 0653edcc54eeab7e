"""processing jobs: scripts and SQL over datasets, outputs registered as datasets

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "processing_jobs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("sql", sa.JSON(), nullable=True),
        sa.Column("entry_point", sa.String(length=256), nullable=True),
        sa.Column("source_uri", sa.String(length=1024), nullable=True),
        sa.Column("arguments", sa.JSON(), nullable=False),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("stopping_condition", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("output_uri", sa.String(length=512), nullable=False),
        sa.Column("reconciled", sa.Boolean(), nullable=False),
        sa.Column("registered_outputs", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_processing_jobs_job_id_jobs")
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_processing_jobs")),
        sa.UniqueConstraint("job_id", name=op.f("uq_processing_jobs_job_id")),
    )
    with op.batch_alter_table("processing_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_processing_jobs_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_processing_jobs_reconciled"), ["reconciled"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("processing_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_processing_jobs_reconciled"))
        batch_op.drop_index(batch_op.f("ix_processing_jobs_created_at"))
    op.drop_table("processing_jobs")
