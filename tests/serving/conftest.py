"""Fixtures of the serving tests: the DB backends of ``tests/core/conftest.py``, and the
api's app served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from compute_testing import core_fixtures

WAIT_SECONDS = 60

_core = core_fixtures()
postgres_databases = _core.postgres_databases
migrated_postgres_url = _core.migrated_postgres_url
backend = _core.backend
database = _core.database


@pytest.fixture
def served(api: Any) -> Iterator[str]:
    """The api's app on a free port of 127.0.0.1 (its base URL)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        api.client.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    api.client.app.state.context.extras["model_host"].close_connections()  # on its loop
    server.should_exit = True
    thread.join(10)
