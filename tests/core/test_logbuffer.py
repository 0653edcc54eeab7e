"""``LogBuffer``: lines added on a hot path reach the log store on flush, each stream's in
order; a failed write keeps them for the next flush; past ``max_pending`` lines are
counted as dropped, never blocking the caller."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.core import logstore
from shipyard.core.db import Database
from shipyard.core.logbuffer import LogBuffer


@pytest.fixture
def db(tmp_path) -> Any:
    database = Database(f"sqlite:///{tmp_path / 'shipyard.db'}")
    database.migrate()
    yield database
    database.dispose()


def _messages(db: Database, group: str, stream: str) -> list[str]:
    with db.session_scope() as session:
        return [e.message for e in logstore.read_stream(session, group, stream)]


def test_lines_reach_the_store_on_flush_in_order(db) -> None:
    buffer = LogBuffer(db)
    for i in range(3):
        buffer.add("/shipyard/endpoints/e", "AllTraffic", f"failure {i}")
    buffer.add("/shipyard/endpoints/e", "deployments", "loaded")
    assert buffer.pending() == 4
    assert _messages(db, "/shipyard/endpoints/e", "AllTraffic") == []
    assert buffer.flush() == 4
    assert _messages(db, "/shipyard/endpoints/e", "AllTraffic") == [
        "failure 0",
        "failure 1",
        "failure 2",
    ]
    assert _messages(db, "/shipyard/endpoints/e", "deployments") == ["loaded"]
    assert buffer.flush() == 0


def test_a_failed_write_keeps_the_lines_for_the_next_flush(db, monkeypatch) -> None:
    buffer = LogBuffer(db)
    buffer.add("/g", "s", "kept")
    real_append = logstore.append

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("database is away")

    monkeypatch.setattr(logstore, "append", broken)
    assert buffer.flush() == 0
    buffer.add("/g", "s", "later")
    monkeypatch.setattr(logstore, "append", real_append)
    assert buffer.flush() == 2
    assert _messages(db, "/g", "s") == ["kept", "later"]


def test_past_max_pending_lines_are_dropped_and_counted(db) -> None:
    buffer = LogBuffer(db, max_pending=2)
    for i in range(5):
        buffer.add("/g", "s", f"line {i}")
    assert (buffer.pending(), buffer.dropped) == (2, 3)


def test_stop_writes_what_is_left(db) -> None:
    buffer = LogBuffer(db, flush_seconds=3600)
    buffer.start()
    buffer.add("/g", "s", "last words")
    buffer.stop()
    assert _messages(db, "/g", "s") == ["last words"]
