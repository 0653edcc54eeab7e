"""``shipyard logs …`` through the real entry point against a live server: a group of
one's own is written, filtered by pattern and tailed (``--follow`` prints an event stored
while it runs); retention is set and cleared; bad input is a one-line error, exit 1."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import uuid

from cli_testing import ENTRY_POINT, assert_one_line_error, shipyard_cli

FOLLOW_TIMEOUT = 60.0


def test_the_logs_commands(live_server) -> None:
    env = live_server.env
    group = f"/cli/{uuid.uuid4().hex[:8]}"
    created = json.loads(
        shipyard_cli(
            "logs", "create-group", group, "--retention-days", "7", "--json", env=env
        ).stdout
    )
    assert created["retention_in_days"] == 7
    shipyard_cli("logs", "put", group, "train", "epoch 1 loss 0.9", "epoch 2 loss 0.4", env=env)
    shipyard_cli("logs", "put", group, "serve", env=env, stdin="ERROR cold start\nready\n")

    found = shipyard_cli("logs", "filter", group, "--pattern", "?ERROR ?loss", env=env).stdout
    lines = found.splitlines()
    assert [line.split(" ", 2)[1:] for line in lines] == [
        ["train", "epoch 1 loss 0.9"],
        ["train", "epoch 2 loss 0.4"],
        ["serve", "ERROR cold start"],
    ]
    regex = shipyard_cli(
        "logs", "filter", group, "--pattern", "%loss 0\\.[0-4]%", "--json", env=env
    ).stdout
    assert [json.loads(line)["message"] for line in regex.splitlines()] == ["epoch 2 loss 0.4"]
    recent = shipyard_cli("logs", "tail", group, "--stream", "serve", "--since", "1h", env=env)
    assert recent.stdout.splitlines()[-1].endswith("serve ready")
    assert shipyard_cli("logs", "filter", group, "--until", "1h", env=env).stdout == ""

    streams = json.loads(shipyard_cli("logs", "streams", group, "--json", env=env).stdout)
    assert [(s["name"], s["event_count"]) for s in streams] == [("serve", 2), ("train", 2)]
    assert group in shipyard_cli("logs", "groups", "--prefix", "/cli/", env=env).stdout
    forever = shipyard_cli("logs", "set-retention", group, "never", "--json", env=env)
    assert json.loads(forever.stdout)["retention_in_days"] is None
    kept = shipyard_cli("logs", "set-retention", group, "30", "--json", env=env)
    assert json.loads(kept.stdout)["retention_in_days"] == 30

    _follow_prints_a_new_event(env, group)

    shipyard_cli("logs", "delete-group", group, env=env)
    missing = shipyard_cli("logs", "describe-group", group, env=env, expect=1)
    assert_one_line_error(missing, "NotFound", group)


def _follow_prints_a_new_event(env: dict[str, str], group: str) -> None:
    command = [*ENTRY_POINT, "logs", "tail", group, "--follow", "--pattern", "deployed", "--json"]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as follower:
        try:
            shipyard_cli("logs", "put", group, "serve", "not this one", "deployed v2", env=env)
            line = _first_line(follower)
            assert json.loads(line)["message"] == "deployed v2"
        finally:
            follower.terminate()


def _first_line(process: subprocess.Popen[str]) -> str:
    """The process's first line of output; fails if none comes within FOLLOW_TIMEOUT."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True)
    reader.start()
    try:
        line = lines.get(timeout=FOLLOW_TIMEOUT)
    except queue.Empty:
        raise AssertionError("no line from `logs tail --follow`") from None
    assert line, f"`logs tail --follow` ended: {process.stderr.read()}"  # type: ignore[union-attr]
    return line


def test_bad_input_is_a_one_line_error(live_server) -> None:
    env = live_server.env
    group = "/shipyard/training-jobs"
    cases = [
        (("logs", "tail", group, "--since", "yesterday"), "ValidationError", "--since"),
        (("logs", "filter", group, "--pattern", '"open'), "ValidationError", "pattern"),
        (("logs", "set-retention", "/cli/x", "2"), "ValidationError", "retention_in_days"),
        (("logs", "set-retention", "/cli/x", "often"), "ValidationError", "days"),
        (("logs", "create-group", "bad name"), "ValidationError", "name"),
        (("logs", "filter", "/cli/nope"), "NotFound", "/cli/nope"),
    ]
    for args, code, needle in cases:
        assert_one_line_error(shipyard_cli(*args, env=env, expect=1), code, needle)
