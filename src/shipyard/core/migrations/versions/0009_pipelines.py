"""pipelines: versioned definitions, executions, steps, schedules, triggers

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_pipelines")),
    )
    op.create_table(
        "pipeline_schedules",
        sa.Column("pipeline_name", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("cron", sa.String(length=128), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("missed_slots", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_slot_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_name"],
            ["pipelines.name"],
            name=op.f("fk_pipeline_schedules_pipeline_name_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pipeline_name", "name", name=op.f("pk_pipeline_schedules")),
    )
    op.create_table(
        "pipeline_triggers",
        sa.Column("pipeline_name", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("parameter_name", sa.String(length=64), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_name"],
            ["pipelines.name"],
            name=op.f("fk_pipeline_triggers_pipeline_name_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pipeline_name", "name", name=op.f("pk_pipeline_triggers")),
    )
    op.create_table(
        "pipeline_versions",
        sa.Column("pipeline_name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("definition_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_name"],
            ["pipelines.name"],
            name=op.f("fk_pipeline_versions_pipeline_name_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pipeline_name", "version", name=op.f("pk_pipeline_versions")),
    )
    op.create_table(
        "pipeline_executions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("pipeline_name", sa.String(length=64), nullable=False),
        sa.Column("pipeline_version", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("started_by", sa.String(length=128), nullable=False),
        sa.Column("trigger", sa.String(length=160), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["pipeline_name", "pipeline_version"],
            ["pipeline_versions.pipeline_name", "pipeline_versions.version"],
            name=op.f("fk_pipeline_executions_pipeline_name_pipeline_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_executions")),
    )
    with op.batch_alter_table("pipeline_executions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_executions_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pipeline_executions_pipeline_name"), ["pipeline_name"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_pipeline_executions_status"), ["status"], unique=False)

    op.create_table(
        "pipeline_schedule_slots",
        sa.Column("pipeline_name", sa.String(length=64), nullable=False),
        sa.Column("schedule_name", sa.String(length=64), nullable=False),
        sa.Column("slot_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("execution_id", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_name", "schedule_name"],
            ["pipeline_schedules.pipeline_name", "pipeline_schedules.name"],
            name=op.f("fk_pipeline_schedule_slots_pipeline_name_pipeline_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "pipeline_name", "schedule_name", "slot_at", name=op.f("pk_pipeline_schedule_slots")
        ),
    )
    op.create_table(
        "pipeline_trigger_objects",
        sa.Column("pipeline_name", sa.String(length=64), nullable=False),
        sa.Column("trigger_name", sa.String(length=64), nullable=False),
        sa.Column("object_uri", sa.String(length=768), nullable=False),
        sa.Column("execution_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_name", "trigger_name"],
            ["pipeline_triggers.pipeline_name", "pipeline_triggers.name"],
            name=op.f("fk_pipeline_trigger_objects_pipeline_name_pipeline_triggers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "pipeline_name", "trigger_name", "object_uri", name=op.f("pk_pipeline_trigger_objects")
        ),
    )
    op.create_table(
        "pipeline_step_executions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(length=32), nullable=False),
        sa.Column("step_name", sa.String(length=64), nullable=False),
        sa.Column("step_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("resource_kind", sa.String(length=32), nullable=True),
        sa.Column("resource_name", sa.String(length=160), nullable=True),
        sa.Column("cache_key", sa.String(length=64), nullable=True),
        sa.Column("cached_from_execution", sa.String(length=32), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["pipeline_executions.id"],
            name=op.f("fk_pipeline_step_executions_execution_id_pipeline_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_step_executions")),
        sa.UniqueConstraint(
            "execution_id", "step_name", name=op.f("uq_pipeline_step_executions_execution_id")
        ),
    )
    with op.batch_alter_table("pipeline_step_executions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_step_executions_cache_key"), ["cache_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pipeline_step_executions_execution_id"), ["execution_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("pipeline_step_executions")
    op.drop_table("pipeline_trigger_objects")
    op.drop_table("pipeline_schedule_slots")
    op.drop_table("pipeline_executions")
    op.drop_table("pipeline_versions")
    op.drop_table("pipeline_triggers")
    op.drop_table("pipeline_schedules")
    op.drop_table("pipelines")
