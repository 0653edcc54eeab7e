"""The fraud pipeline of examples/ on a real `shipyard up`, run the way CI runs it: from
the CLI (threshold met: registered and deployed; not met: the Fail step, nothing
registered), again with caching (no new jobs), with one parameter changed, from the SDK,
and from a schedule; then the endpoint's lineage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shipyard.quickstart import fraud_transactions
from shipyard.sdk.client import Session
from shipyard.sdk.pipelines.pipeline import PipelineExecution, load_pipeline_file

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).parents[2] / "examples" / "pipelines" / "fraud_pipeline.py"
ENDED = ("Succeeded", "Failed", "Stopped")


def run_pipeline(server: Any, *parameters: str) -> subprocess.CompletedProcess[str]:
    """`shipyard pipelines run EXAMPLE --parameter … --wait`, the command of the CI example."""
    command = [sys.executable, "-m", "shipyard.cli.main", "pipelines", "run", str(EXAMPLE)]
    for parameter in parameters:
        command += ["--parameter", parameter]
    return subprocess.run(
        [*command, "--wait", "--timeout", "300"],
        env={**server.env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=360,
    )


def last_execution(http: Any) -> dict[str, Any]:
    items = http.get("/api/v1/pipelines/fraud-pipeline/executions").json()["items"]
    return items[0]


def steps_of(execution: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step_name"]: s for s in execution["steps"]}


def logs_filter(server: Any, *args: str) -> list[dict[str, Any]]:
    """`shipyard logs filter … --json`: the events it printed."""
    found = subprocess.run(
        [sys.executable, "-m", "shipyard.cli.main", "logs", "filter", *args, "--json"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert found.returncode == 0, found.stderr
    return [json.loads(line) for line in found.stdout.splitlines()]


def check_logs(server: Any, failed: dict[str, Any]) -> None:
    """The failed execution told its steps in the pipeline's log group; its training job's
    output is the job's stream of /shipyard/training-jobs."""
    told = logs_filter(
        server, "/shipyard/pipelines/fraud-pipeline", "--stream", failed["id"], "--pattern",
        "too-weak",
    )  # fmt: skip
    assert [e["message"].split(":")[0] for e in told] == [
        "step 'too-weak' (Fail) Failed",
        "execution Failed",
    ]
    job = steps_of(failed)["train"]["resource_name"]
    output = logs_filter(server, "/shipyard/training-jobs", "--stream", job)
    assert output, f"no output of {job}"
    assert {e["log_stream_name"] for e in output} == {job}


def count(http: Any, collection: str) -> int:
    return len(http.get(f"/api/v1/{collection}", params={"limit": 1000}).json()["items"])


def test_the_fraud_pipeline_from_ci_sdk_and_schedule(
    start_live_server: Any, tmp_path: Path
) -> None:
    frame = fraud_transactions(rows=6000, seed=3)
    frame.insert(0, "id", range(len(frame)))
    raw = tmp_path / "transactions.csv"
    frame.to_csv(raw, index=False)
    server = start_live_server(tmp_path / "home", tmp_path)
    with Session(server.url, server.token) as session:
        data = session.upload(raw, dataset_name="transactions")
    http = server.http()

    # 1. threshold met: registered and deployed
    first = run_pipeline(server, f"InputData={data}", "Threshold=0.5")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Succeeded" in first.stdout and "deploy" in first.stdout
    execution = last_execution(http)
    steps = steps_of(execution)
    assert [steps[s]["status"] for s in ("prepare", "train", "evaluate", "register", "deploy")] == [
        "Succeeded"
    ] * 5
    assert steps["too-weak"]["status"] == "Skipped"
    package = steps["register"]["properties"]["model_package_name"]
    endpoint = http.get("/api/v1/endpoints/fraud-scorer").json()
    assert endpoint["status"] == "InService"
    answer = http.post(
        "/api/v1/endpoints/fraud-scorer/invocations",
        json={
            "instances": frame.drop(columns=["id", "is_fraud"]).head(3).to_dict(orient="records")
        },
    )
    assert answer.status_code == 200, answer.text

    # 2. threshold not met: the Fail step with its reason, nothing registered
    packages = http.get("/api/v1/model-package-groups/fraud-models/packages").json()["items"]
    strict = run_pipeline(server, f"InputData={data}", "Threshold=0.999")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "Fail step 'too-weak' failed: test AUC" in strict.stdout
    assert "is below the threshold 0.999" in strict.stdout
    failed = last_execution(http)
    assert failed["status"] == "Failed"
    assert steps_of(failed)["register"]["status"] == "Skipped"
    assert (
        http.get("/api/v1/model-package-groups/fraud-models/packages").json()["items"] == packages
    )
    check_logs(server, failed)

    # 3. the same run again: processing and training reused, no new job (what that saves
    # in time is measured by benchmarks/pipeline_caching.py)
    jobs = {kind: count(http, kind) for kind in ("training-jobs", "processing-jobs")}
    again = run_pipeline(server, f"InputData={data}", "Threshold=0.5")
    assert again.returncode == 0, again.stdout + again.stderr
    reused = steps_of(last_execution(http))
    assert all(reused[s]["cache_hit"] for s in ("prepare", "train", "evaluate")), reused
    assert {kind: count(http, kind) for kind in jobs} == jobs

    # 4. one parameter changed: only the steps that depend on it run again
    changed = run_pipeline(server, f"InputData={data}", "Threshold=0.5", "Rounds=30")
    assert changed.returncode == 0, changed.stdout + changed.stderr
    rerun = steps_of(last_execution(http))
    assert rerun["prepare"]["cache_hit"]
    assert not rerun["train"]["cache_hit"] and not rerun["evaluate"]["cache_hit"]
    assert count(http, "training-jobs") == jobs["training-jobs"] + 1

    # 5. from the SDK
    with Session(server.url, server.token) as session:
        pipeline = load_pipeline_file(str(EXAMPLE), session)
        sdk_run = pipeline.start({"InputData": data, "Threshold": 0.5})
        assert sdk_run.wait(timeout=300)["status"] == "Succeeded"

    # 6. from a schedule (every 2 seconds: a 6-field cron, seconds last)
    schedule = {
        "name": "often",
        "cron": "* * * * * */2",
        "parameters": {"InputData": data, "Threshold": 0.5},
    }
    made = http.post("/api/v1/pipelines/fraud-pipeline/schedules", json=schedule)
    assert made.status_code == 201, made.text
    scheduled = server.wait_for(
        lambda: next(
            (
                e
                for e in http.get("/api/v1/pipelines/fraud-pipeline/executions").json()["items"]
                if e["trigger"].startswith("schedule:often")
            ),
            None,
        ),
        "a scheduled execution",
    )
    assert http.delete("/api/v1/pipelines/fraud-pipeline/schedules/often").status_code == 204
    with Session(server.url, server.token) as session:
        done = PipelineExecution("fraud-pipeline", scheduled["id"], session).wait(timeout=300)
    assert done["status"] == "Succeeded"

    # 7. the endpoint's lineage: the dataset's hash, the jobs and the package
    lineage = subprocess.run(
        [sys.executable, "-m", "shipyard.cli.main", "lineage", "fraud-scorer", "--json"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert lineage.returncode == 0, lineage.stderr
    graph = json.loads(lineage.stdout)
    kinds = {(e["kind"], e["name"]) for e in graph["entities"]}
    hashes = {e["properties"].get("sha256") for e in graph["entities"] if e["kind"] == "dataset"}
    assert any(kind == "model-package" for kind, _ in kinds)
    assert any(kind == "processing-job" for kind, _ in kinds)
    assert any(kind == "training-job" for kind, _ in kinds)
    with Session(server.url, server.token) as session:
        uploaded = session.get("/api/v1/datasets/transactions")["sha256"]
    assert uploaded in hashes
    assert os.path.basename(package)  # a name like fraud-models/1
    http.close()
