"""`shipyard pipelines …` through the real entry point against a live server."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

from cli_testing import shipyard_cli

PIPELINE_FILE = """
from shipyard import FailStep, ParameterString, Pipeline

reason = ParameterString("Reason", default_value="stopped on purpose")
pipeline = Pipeline("{name}", parameters=[reason], steps=[FailStep("stop", error_message=reason)])
"""


def cli(server: Any, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    """``shipyard pipelines <args>`` against ``server``."""
    return shipyard_cli("pipelines", *args, env={**server.env, "COLUMNS": "200"}, expect=expect)


def test_the_pipeline_commands(live_server: Any, tmp_path: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    source = tmp_path / "pipeline.py"
    source.write_text(PIPELINE_FILE.format(name=name))

    upserted = json.loads(cli(live_server, "upsert", str(source), "--json").stdout)
    assert upserted["latest_version"] == 1
    assert name in cli(live_server, "list").stdout
    assert "latest_version" in cli(live_server, "describe", name).stdout

    failed = cli(live_server, "run", str(source), "--parameter", "Reason=no good", expect=1)
    assert "Fail step 'stop' failed: no good" in failed.stdout
    execution = json.loads(cli(live_server, "executions", name, "--json").stdout)[0]
    assert execution["status"] == "Failed"
    shown = cli(live_server, "execution", name, execution["id"]).stdout
    assert "stop" in shown and "no good" in shown
    retried = cli(live_server, "retry", name, execution["id"], "--wait", expect=1)
    assert "Failed" in retried.stdout
    started = cli(live_server, "start", name, "--json", "--wait", expect=1)
    assert json.loads(started.stdout)["status"] == "Failed"

    cli(live_server, "schedules", "create", name, "--name", "nightly", "--cron", "0 2 * * *")
    assert "0 2 * * *" in cli(live_server, "schedules", "list", name).stdout
    cli(live_server, "schedules", "delete", name, "nightly")
    assert json.loads(cli(live_server, "schedules", "list", name, "--json").stdout) == []
    landing = live_server.home.parent / f"landing-{name}"
    landing.mkdir()
    cli(
        live_server,
        "triggers",
        "create",
        name,
        "--name",
        "landing",
        "--source",
        str(landing),
        "--parameter-name",
        "Reason",
    )
    assert "landing" in cli(live_server, "triggers", "list", name).stdout
    cli(live_server, "triggers", "delete", name, "landing")


def test_bad_input_is_one_line_and_exit_1(live_server: Any, tmp_path: Path) -> None:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    source = tmp_path / "pipeline.py"
    source.write_text(PIPELINE_FILE.format(name=name))
    cli(live_server, "upsert", str(source))
    broken = tmp_path / "broken.py"
    broken.write_text("from shipyard import Pipeline\n\nx = 1 / 0\n")
    for args, needle in (
        (("run", str(broken)), f"{broken}:3: ZeroDivisionError"),
        (("start", name, "--parameter", "Nope=1"), "parameters.Nope"),
        (("start", name, "--parameter", "no-equals"), "expected KEY=VALUE"),
        (("schedules", "create", name, "--name", "x", "--cron", "every day"), "cron:"),
        (("run", str(tmp_path / "missing.py")), "missing.py"),
        (("execution", name, "nope"), "not found"),
    ):
        completed = cli(live_server, *args, expect=1)
        assert needle in completed.stderr and completed.stderr.count("\n") == 1, completed.stderr
