"""The metadata DB: one SQLAlchemy engine, one ``session_scope()``, Alembic migrations.

SQLite (WAL mode) by default, PostgreSQL when ``SHIPYARD_DATABASE_URL`` says so; no other
module branches on the dialect except where a backend-specific statement is the point.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from shipyard.core.errors import AlreadyExists, InvalidState, ShipyardError

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE for a duplicate key
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front, so two writers wait for each other
        # (busy_timeout) instead of failing when a read transaction upgrades to a write.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine and its sessions. Create one per process and pass it down."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """A transaction: commits on success, rolls back on error, maps integrity errors."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise _integrity_error(exc) from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def migrate(self) -> None:
        """Apply every Alembic migration not yet applied (idempotent)."""
        from alembic import command

        with self.engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _integrity_error(exc: IntegrityError) -> ShipyardError:
    """A duplicate key is AlreadyExists (409); any other broken constraint is InvalidState."""
    detail = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate == UNIQUE_VIOLATION or detail.startswith("UNIQUE constraint failed"):
        return AlreadyExists(f"a resource with that name already exists ({detail})")
    return InvalidState(f"the change breaks a constraint of the database ({detail})")
