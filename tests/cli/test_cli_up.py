"""``shipyard up`` readies its process before it serves: what was imported is frozen out
of the collector's sight, and young collections are rare enough that the objects of the
requests in flight die young instead of filling the oldest generation (whose full
collections stall every request)."""

from __future__ import annotations

import gc
from typing import Any

import uvicorn
from typer.testing import CliRunner

from shipyard.cli.main import GC_THRESHOLDS, app


def test_up_tunes_the_collector_before_it_serves(tmp_path, monkeypatch) -> None:
    seen: dict[str, Any] = {}

    def run(server: uvicorn.Server) -> None:
        seen["thresholds"] = gc.get_threshold()
        seen["frozen"] = gc.get_freeze_count()
        seen["bound"] = (server.config.host, server.config.port)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.setenv("SHIPYARD_LOAD_QUICKSTART", "false")
    before = gc.get_threshold()
    try:
        result = CliRunner().invoke(
            app, ["up", "--home", str(tmp_path / "home"), "--port", "18999"]
        )
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
    assert result.exit_code == 0, result.output
    assert "Admin API key" in result.output
    assert seen["thresholds"] == GC_THRESHOLDS
    assert seen["frozen"] > 0
    assert seen["bound"] == ("127.0.0.1", 18999)
