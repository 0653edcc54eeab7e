"""The metadata DB contract, on SQLite and PostgreSQL: migrations and ``session_scope``."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from shipyard.compute.models import JobMetric, Worker
from shipyard.core.clock import utcnow
from shipyard.core.db import Base, Database, alembic_config
from shipyard.core.errors import AlreadyExists, InvalidState


def _worker(worker_id: str = "w-1") -> Worker:
    now = utcnow()
    return Worker(id=worker_id, hostname="host", pid=1, started_at=now, heartbeat_at=now)


def _revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_migrations_apply_from_empty_and_are_idempotent(empty_database: Database) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert _revision(empty_database) is None

    empty_database.migrate()
    tables = set(inspect(empty_database.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert _revision(empty_database) == head

    empty_database.migrate()
    assert _revision(empty_database) == head
    with empty_database.session_scope() as session:
        session.add(_worker())


def test_migrations_match_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_session_scope_commits(database: Database) -> None:
    with database.session_scope() as session:
        session.add(_worker())
    with database.session_scope() as session:
        assert session.scalars(select(Worker.id)).all() == ["w-1"]


def test_session_scope_rolls_back_on_error(database: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"), database.session_scope() as session:
        session.add(_worker())
        session.flush()
        raise RuntimeError("boom")
    with database.session_scope() as session:
        assert session.scalars(select(Worker.id)).all() == []


def test_session_scope_maps_a_duplicate_key_to_already_exists(database: Database) -> None:
    with database.session_scope() as session:
        session.add(_worker())
    with pytest.raises(AlreadyExists) as raised, database.session_scope() as session:
        session.add(_worker())
    assert raised.value.status_code == 409
    assert raised.value.code == "AlreadyExists"
    with database.session_scope() as session:  # the failed transaction left nothing behind
        assert session.scalars(select(Worker.id)).all() == ["w-1"]


def test_session_scope_maps_another_broken_constraint_to_invalid_state(database: Database) -> None:
    with pytest.raises(InvalidState) as raised, database.session_scope() as session:
        session.add(JobMetric(job_id="no-such-job", name="m", value=1.0, timestamp=utcnow()))
    assert raised.value.status_code == 409
