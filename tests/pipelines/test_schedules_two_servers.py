"""Two `shipyard up` against one PostgreSQL, one schedule every two seconds: every slot runs
once, never twice (each server's scheduler tries every slot)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e
PIPELINE = {
    "definition": {"steps": [{"name": "stop", "type": "Fail", "arguments": {"error_message": "x"}}]}
}
SLOTS = 4


def test_two_servers_take_each_slot_once(
    postgres_databases: Callable[[], str],
    start_live_server: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", postgres_databases())
    first = start_live_server(tmp_path / "one", tmp_path)
    second = start_live_server(tmp_path / "two", tmp_path, token=first.token)
    with first.http() as http:
        assert http.put("/api/v1/pipelines/often", json=PIPELINE).status_code == 200
        schedule = {"name": "every-2s", "cron": "* * * * * */2"}
        assert http.post("/api/v1/pipelines/often/schedules", json=schedule).status_code == 201

        def executions() -> list[dict[str, Any]]:
            items = http.get("/api/v1/pipelines/often/executions").json()["items"]
            return items if len(items) >= SLOTS else []

        found = first.wait_for(executions, f"{SLOTS} scheduled executions", timeout=60)
        assert http.delete("/api/v1/pipelines/often/schedules/every-2s").status_code == 204
        slots = Counter(
            e["trigger"] for e in http.get("/api/v1/pipelines/often/executions").json()["items"]
        )
    second.stop()
    first.stop()
    assert len(found) >= SLOTS
    assert all(count == 1 for count in slots.values()), slots
