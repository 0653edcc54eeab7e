"""The topics tests' DB backends (those of ``tests/core/conftest.py``), settings that let
deliveries reach receivers on 127.0.0.1, and an SMTP server to send email to."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from compute_testing import core_fixtures

from shipyard.core.config import Settings
from shipyard.monitoring.topics import delivery

_core = core_fixtures()
postgres_databases = _core.postgres_databases
migrated_postgres_url = _core.migrated_postgres_url
backend = _core.backend
database = _core.database


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """No scheduler: the tests call ``deliver_due`` themselves, so each attempt is theirs."""
    return Settings(
        home=tmp_path / "home",
        data_roots=[tmp_path],
        load_quickstart=False,
        run_worker=False,
        run_scheduler=False,
        webhook_allow_private_addresses=True,
    )


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries are due at once."""
    monkeypatch.setattr(delivery, "retry_delay", lambda attempts: 0.0)


@dataclass
class SmtpServer:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Any] = field(default_factory=list)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An aiosmtpd server on 127.0.0.1 (a port the OS picks) that keeps what it receives."""
    from aiosmtpd.controller import Controller

    received = SmtpServer("127.0.0.1", 0)
    lock = threading.Lock()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            parsed = message_from_bytes(envelope.content, policy=policy.default)
            with lock:
                received.envelopes.append(envelope)
                received.messages.append(parsed)  # type: ignore[arg-type]
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        received.port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=received.port)
    controller.start()
    yield received
    controller.stop()
