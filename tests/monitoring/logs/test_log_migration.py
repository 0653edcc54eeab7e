"""Migration 0013 moves the job log lines of a database made before it into the log
store: each job's lines become its stream, numbered 0, 1, … in the order they were stored
(a requeued job's repeated seqs included), and the old table is gone."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect, text

from shipyard.compute import service as compute
from shipyard.core.db import alembic_config
from shipyard.monitoring.logs import service

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _migrate(database, revision: str) -> None:
    with database.engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_job_log_lines_move_into_the_log_store(empty_database) -> None:
    _migrate(empty_database, "0012")
    with empty_database.engine.begin() as connection:
        for job_id, kind, name in (("j1", "training", "fraud-1"), ("j2", "processing", "prep")):
            connection.execute(
                text(
                    "INSERT INTO jobs (id, kind, name, status, secondary_status, spec, owner, "
                    "max_runtime_seconds, max_attempts, attempts, stop_requested, final_metrics, "
                    "status_history, created_at) VALUES (:id, :kind, :name, 'Completed', "
                    "'Completed', '{}', 'admin', 60, 2, 2, false, '{}', '[]', :at)"
                ),
                {"id": job_id, "kind": kind, "name": name, "at": AT},
            )
        lines = [("j1", 0, "attempt 1"), ("j1", 0, "attempt 2"), ("j1", 1, "done"), ("j2", 0, "x")]
        for job_id, seq, message in lines:
            connection.execute(
                text(
                    "INSERT INTO job_log_lines (job_id, seq, timestamp, message) "
                    "VALUES (:job, :seq, :at, :message)"
                ),
                {"job": job_id, "seq": seq, "at": AT, "message": message},
            )
    _migrate(empty_database, "head")

    assert "job_log_lines" not in inspect(empty_database.engine).get_table_names()
    with empty_database.session_scope() as session:
        lines_of_j1 = compute.read_logs(session, "j1")
        streams = service.list_log_streams(session, "/shipyard/training-jobs")
        processing = service.filter_log_events(session, "/shipyard/processing-jobs")
    assert [(line.seq, line.message) for line in lines_of_j1] == [
        (0, "attempt 1"),
        (1, "attempt 2"),
        (2, "done"),
    ]
    assert [(s.name, s.event_count, s.stored_bytes) for s in streams] == [("fraud-1", 3, 22)]
    assert [(e.log_stream_name, e.message) for e in processing.events] == [("prep", "x")]
