"""tuning jobs and their trials

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tuning_jobs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("completion_reason", sa.Text(), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("warm_start", sa.JSON(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_tuning_jobs")),
    )
    with op.batch_alter_table("tuning_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tuning_jobs_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_tuning_jobs_status"), ["status"], unique=False)

    op.create_table(
        "tuning_trials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tuning_job", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("configuration", sa.Integer(), nullable=False),
        sa.Column("rung", sa.Integer(), nullable=True),
        sa.Column("training_job_name", sa.String(length=64), nullable=False),
        sa.Column("hyperparameters", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("training_job_status", sa.String(length=16), nullable=False),
        sa.Column("objective_value", sa.Float(), nullable=True),
        sa.Column("intermediate", sa.JSON(), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tuning_job"],
            ["tuning_jobs.name"],
            name=op.f("fk_tuning_trials_tuning_job_tuning_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tuning_trials")),
        sa.UniqueConstraint("training_job_name", name=op.f("uq_tuning_trials_training_job_name")),
        sa.UniqueConstraint("tuning_job", "number", name=op.f("uq_tuning_trials_tuning_job")),
    )
    with op.batch_alter_table("tuning_trials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tuning_trials_tuning_job"), ["tuning_job"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tuning_trials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tuning_trials_tuning_job"))
    op.drop_table("tuning_trials")
    with op.batch_alter_table("tuning_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tuning_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_tuning_jobs_created_at"))
    op.drop_table("tuning_jobs")
