"""alarms, their history and their actions

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 02:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("namespace", sa.String(length=255), nullable=True),
        sa.Column("metric_name", sa.String(length=255), nullable=True),
        sa.Column("dimensions", sa.JSON(), nullable=False),
        sa.Column("statistic", sa.String(length=16), nullable=True),
        sa.Column("extended_statistic", sa.String(length=16), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("period", sa.Integer(), nullable=True),
        sa.Column("evaluation_periods", sa.Integer(), nullable=True),
        sa.Column("datapoints_to_alarm", sa.Integer(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("comparison_operator", sa.String(length=64), nullable=True),
        sa.Column("treat_missing_data", sa.String(length=16), nullable=True),
        sa.Column("alarm_rule", sa.Text(), nullable=True),
        sa.Column("actions_enabled", sa.Boolean(), nullable=False),
        sa.Column("alarm_actions", sa.JSON(), nullable=False),
        sa.Column("ok_actions", sa.JSON(), nullable=False),
        sa.Column("insufficient_data_actions", sa.JSON(), nullable=False),
        sa.Column("state_value", sa.String(length=32), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=False),
        sa.Column("state_reason_data", sa.JSON(), nullable=True),
        sa.Column("state_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actions_state", sa.String(length=32), nullable=True),
        sa.Column("actions_transition_id", sa.Integer(), nullable=True),
        sa.Column("next_evaluation_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alarms")),
    )
    op.create_index(
        op.f("ix_alarms_next_evaluation_at"), "alarms", ["next_evaluation_at"], unique=False
    )
    op.create_table(
        "alarm_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alarm_name", sa.String(length=64), nullable=False),
        sa.Column("item_type", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_history")),
    )
    op.create_index(
        op.f("ix_alarm_history_alarm_name"), "alarm_history", ["alarm_name"], unique=False
    )
    op.create_index(
        op.f("ix_alarm_history_timestamp"), "alarm_history", ["timestamp"], unique=False
    )
    # what an endpoint's rollback (an alarm's action) goes back to
    with op.batch_alter_table("endpoints") as batch:
        batch.add_column(
            sa.Column("previous_endpoint_config_name", sa.String(length=64), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("endpoints") as batch:
        batch.drop_column("previous_endpoint_config_name")
    op.drop_index(op.f("ix_alarm_history_timestamp"), table_name="alarm_history")
    op.drop_index(op.f("ix_alarm_history_alarm_name"), table_name="alarm_history")
    op.drop_table("alarm_history")
    op.drop_index(op.f("ix_alarms_next_evaluation_at"), table_name="alarms")
    op.drop_table("alarms")
