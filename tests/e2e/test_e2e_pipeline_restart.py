"""Killing `shipyard up` in the middle of an execution: after a restart, a step whose job
died with the server is retried by its policy (and the execution goes on to succeed), or,
without a policy, fails with the worker's reason. No step is left Executing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e
ENDED = ("Succeeded", "Failed", "Stopped")
# sleeps through its first attempt (the one the kill ends), finishes at once after that
SCRIPT = b"""import pathlib, sys, time
marker = pathlib.Path(sys.argv[sys.argv.index("--marker") + 1])
if not marker.exists():
    marker.write_text("first attempt")
    time.sleep(600)
"""


def definition(source_uri: str, data: str, marker: Path, retry: bool) -> dict[str, Any]:
    train: dict[str, Any] = {
        "name": "train",
        "type": "Training",
        "arguments": {
            "entry_point": "train.py",
            "source_uri": source_uri,
            "hyperparameters": {"marker": str(marker)},
            "channels": {"train": data},
        },
    }
    if retry:
        train["retry_policy"] = {
            "max_attempts": 2,
            "interval_seconds": 0,
            "failure_reasons": ["WorkerLost"],
        }
    model = {
        "name": "after",
        "type": "Condition",
        "arguments": {"conditions": [{"type": "Equals", "left": 1, "right": 1}]},
        "depends_on": ["train"],
    }
    return {"definition": {"steps": [train, model]}}


def test_an_execution_survives_a_kill_of_the_server(start_live_server: Any, tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("x,y\n1,2\n3,4\n")
    home = tmp_path / "home"
    first = start_live_server(home, tmp_path)
    http = first.http()
    source = http.post("/api/v1/uploads", files={"file": ("train.py", SCRIPT)}).json()["uri"]
    executions = {}
    for name, retry in (("resumes", True), ("fails", False)):
        body = definition(source, str(data), tmp_path / f"{name}.marker", retry)
        assert http.put(f"/api/v1/pipelines/{name}", json=body).status_code == 200
        executions[name] = http.post(f"/api/v1/pipelines/{name}/executions", json={}).json()["id"]
    for name in executions:  # both scripts are sleeping in their first attempt
        first.wait_for(lambda name=name: (tmp_path / f"{name}.marker").exists(), f"{name} to start")
    http.close()
    first.process.kill()
    first.process.wait(30)
    first.stop()

    second = start_live_server(home, tmp_path, token=first.token)
    resumed = second.wait_for_status(
        f"/api/v1/pipelines/resumes/executions/{executions['resumes']}", ENDED
    )
    failed = second.wait_for_status(
        f"/api/v1/pipelines/fails/executions/{executions['fails']}", ENDED
    )
    second.stop()

    assert resumed["status"] == "Succeeded", resumed
    train = next(s for s in resumed["steps"] if s["step_name"] == "train")
    assert train["attempts"] == 2 and train["resource_name"].endswith("-2")
    assert failed["status"] == "Failed"
    assert "WorkerLost" in failed["failure_reason"], failed["failure_reason"]
    for execution in (resumed, failed):
        assert all(s["status"] != "Executing" for s in execution["steps"])
