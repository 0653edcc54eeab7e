"""What the monitoring tests share: the DB backends of ``tests/core/conftest.py``,
settings without a scheduler or worker (the tests run the duties themselves), and an SMTP
server on 127.0.0.1 to send email to."""

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

_core = core_fixtures()
postgres_databases = _core.postgres_databases
migrated_postgres_url = _core.migrated_postgres_url
backend = _core.backend
database = _core.database
empty_database = _core.empty_database


@dataclass
class SmtpServer:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An aiosmtpd server on 127.0.0.1 (a port the OS picked) that keeps what it receives.

    It answers a message's DATA only after keeping it, so a sender that returned has
    delivered: nothing needs to wait."""
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        received = SmtpServer("127.0.0.1", probe.getsockname()[1])
    lock = threading.Lock()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            parsed = message_from_bytes(envelope.content, policy=policy.default)
            with lock:
                received.messages.append(parsed)  # type: ignore[arg-type]
                received.recipients.append(list(envelope.rcpt_tos))
            return "250 OK"

    controller = Controller(Handler(), hostname=received.host, port=received.port)
    controller.start()
    yield received
    controller.stop()


@pytest.fixture
def quiet_settings(tmp_path: Path) -> Settings:
    """No scheduler and no worker; webhooks may reach receivers on 127.0.0.1."""
    return Settings(
        home=tmp_path / "home",
        data_roots=[tmp_path],
        load_quickstart=False,
        run_worker=False,
        run_scheduler=False,
        webhook_allow_private_addresses=True,
    )
