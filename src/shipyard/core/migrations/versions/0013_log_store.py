"""the log store: log groups, streams and events; job log lines move into it

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 05:00:00
"""

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

COPY_BATCH = 5000


def upgrade() -> None:
    op.create_table(
        "log_groups",
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("retention_in_days", sa.Integer(), nullable=True),
        sa.Column("managed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_log_groups")),
    )
    op.create_table(
        "log_streams",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_name", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ingested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_seq", sa.Integer(), nullable=False),
        sa.Column("stored_bytes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_name"],
            ["log_groups.name"],
            name=op.f("fk_log_streams_group_name_log_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_streams")),
        sa.UniqueConstraint("group_name", "name", name=op.f("uq_log_streams_group_name")),
    )
    op.create_index(op.f("ix_log_streams_group_name"), "log_streams", ["group_name"], unique=False)
    op.create_table(
        "log_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["stream_id"],
            ["log_streams.id"],
            name=op.f("fk_log_events_stream_id_log_streams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_events")),
    )
    op.create_index("ix_log_events_stream_seq", "log_events", ["stream_id", "seq"], unique=False)
    op.create_index(
        "ix_log_events_stream_timestamp", "log_events", ["stream_id", "timestamp"], unique=False
    )
    _move_job_log_lines(op.get_bind())
    with op.batch_alter_table("job_log_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_log_lines_job_id"))
    op.drop_table("job_log_lines")


def _move_job_log_lines(connection: Any) -> None:
    """Each job's lines become the stream named after it in its kind's group."""
    now = datetime.now(UTC)
    kinds = [k for (k,) in connection.execute(sa.text("SELECT DISTINCT kind FROM jobs"))]
    for kind in kinds:
        connection.execute(
            sa.text(
                "INSERT INTO log_groups (name, retention_in_days, managed, created_at) "
                "VALUES (:name, NULL, :managed, :now)"
            ),
            {"name": f"/shipyard/{kind}-jobs", "managed": True, "now": now},
        )
    jobs = connection.execute(
        sa.text(
            "SELECT j.id, j.kind, j.name, j.created_at, COUNT(l.id), MIN(l.timestamp), "
            "MAX(l.timestamp) FROM jobs j JOIN job_log_lines l ON l.job_id = j.id "
            "GROUP BY j.id, j.kind, j.name, j.created_at"
        )
    ).all()
    for job_id, kind, name, created_at, count, first, last in jobs:
        stream_id = connection.execute(
            sa.text(
                "INSERT INTO log_streams (group_name, name, created_at, first_event_at, "
                "last_event_at, last_ingested_at, next_seq, stored_bytes) VALUES (:group, "
                ":name, :created, :first, :last, :last, :count, 0) RETURNING id"
            ),
            {
                "group": f"/shipyard/{kind}-jobs",
                "name": name,
                "created": created_at,
                "first": first,
                "last": last,
                "count": count,
            },
        ).scalar_one()
        _copy_lines(connection, job_id, stream_id)


def _copy_lines(connection: Any, job_id: str, stream_id: int) -> None:
    """Renumbered 0, 1, … in the order they were stored (an old requeued job repeated seqs)."""
    lines = connection.execute(
        sa.text("SELECT timestamp, message FROM job_log_lines WHERE job_id = :job ORDER BY id"),
        {"job": job_id},
    ).all()
    stored = 0
    for start in range(0, len(lines), COPY_BATCH):
        rows = [
            {"stream": stream_id, "seq": start + i, "ts": ts, "message": message}
            for i, (ts, message) in enumerate(lines[start : start + COPY_BATCH])
        ]
        stored += sum(len(r["message"].encode()) for r in rows)
        connection.execute(
            sa.text(
                "INSERT INTO log_events (stream_id, seq, timestamp, ingested_at, message) "
                "VALUES (:stream, :seq, :ts, :ts, :message)"
            ),
            rows,
        )
    connection.execute(
        sa.text("UPDATE log_streams SET stored_bytes = :bytes WHERE id = :id"),
        {"bytes": stored, "id": stream_id},
    )


def downgrade() -> None:
    op.create_table(
        "job_log_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_log_lines_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_log_lines")),
    )
    op.create_index(op.f("ix_job_log_lines_job_id"), "job_log_lines", ["job_id"], unique=False)
    op.execute(
        "INSERT INTO job_log_lines (job_id, seq, timestamp, message) "
        "SELECT j.id, e.seq, e.timestamp, e.message FROM log_events e "
        "JOIN log_streams s ON s.id = e.stream_id "
        "JOIN jobs j ON s.group_name = '/shipyard/' || j.kind || '-jobs' AND s.name = j.name"
    )
    op.drop_index("ix_log_events_stream_timestamp", table_name="log_events")
    op.drop_index("ix_log_events_stream_seq", table_name="log_events")
    op.drop_table("log_events")
    op.drop_index(op.f("ix_log_streams_group_name"), table_name="log_streams")
    op.drop_table("log_streams")
    op.drop_table("log_groups")
