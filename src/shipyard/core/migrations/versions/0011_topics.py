"""topics, subscriptions and deliveries

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 02:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "topics",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_topics")),
    )
    op.create_table(
        "topic_subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("topic_name", sa.String(length=64), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["topic_name"],
            ["topics.name"],
            name=op.f("fk_topic_subscriptions_topic_name_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_subscriptions")),
        sa.UniqueConstraint(
            "topic_name", "protocol", "endpoint", name=op.f("uq_topic_subscriptions_topic_name")
        ),
    )
    with op.batch_alter_table("topic_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_topic_subscriptions_topic_name"), ["topic_name"], unique=False
        )
    op.create_table(
        "topic_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("topic_name", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("publisher", sa.String(length=128), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["topic_name"],
            ["topics.name"],
            name=op.f("fk_topic_messages_topic_name_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_messages")),
    )
    with op.batch_alter_table("topic_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_topic_messages_topic_name"), ["topic_name"], unique=False
        )
    op.create_table(
        "topic_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("topic_name", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["topic_messages.id"],
            name=op.f("fk_topic_deliveries_message_id_topic_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_name"],
            ["topics.name"],
            name=op.f("fk_topic_deliveries_topic_name_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_deliveries")),
    )
    with op.batch_alter_table("topic_deliveries", schema=None) as batch_op:
        for column in ("message_id", "topic_name", "subscription_id", "status", "next_attempt_at"):
            batch_op.create_index(
                batch_op.f(f"ix_topic_deliveries_{column}"), [column], unique=False
            )
    op.create_table(
        "queue_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("queue_name", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visible_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("receipt_handle", sa.String(length=64), nullable=True),
        sa.Column("receive_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_messages")),
        sa.UniqueConstraint("receipt_handle", name=op.f("uq_queue_messages_receipt_handle")),
    )
    with op.batch_alter_table("queue_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_queue_messages_queue_name"), ["queue_name"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_queue_messages_visible_at"), ["visible_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("queue_messages")
    op.drop_table("topic_deliveries")
    op.drop_table("topic_messages")
    op.drop_table("topic_subscriptions")
    op.drop_table("topics")
