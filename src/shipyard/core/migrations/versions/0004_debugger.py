"""debugger: each debugged job's configuration, and the deliveries of its Notify actions

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "debugger_job_configurations",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("hook_config", sa.JSON(), nullable=False),
        sa.Column("rule_configurations", sa.JSON(), nullable=False),
        sa.Column("relayed_event_id", sa.Integer(), nullable=False),
        sa.Column("relay_finished", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_debugger_job_configurations_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_debugger_job_configurations")),
    )
    with op.batch_alter_table("debugger_job_configurations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_debugger_job_configurations_relay_finished"),
            ["relay_finished"],
            unique=False,
        )

    op.create_table(
        "debugger_notifications",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("training_job_name", sa.String(length=64), nullable=False),
        sa.Column("rule_configuration_name", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("action_index", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("status_details", sa.Text(), nullable=False),
        sa.Column("webhook_url", sa.String(length=2048), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_debugger_notifications_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_debugger_notifications")),
        sa.UniqueConstraint(
            "job_id",
            "rule_configuration_name",
            "action_index",
            name=op.f("uq_debugger_notifications_job_id"),
        ),
    )
    with op.batch_alter_table("debugger_notifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_debugger_notifications_status"), ["status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_debugger_notifications_training_job_name"),
            ["training_job_name"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("debugger_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_debugger_notifications_training_job_name"))
        batch_op.drop_index(batch_op.f("ix_debugger_notifications_status"))
    op.drop_table("debugger_notifications")
    with op.batch_alter_table("debugger_job_configurations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_debugger_job_configurations_relay_finished"))
    op.drop_table("debugger_job_configurations")
