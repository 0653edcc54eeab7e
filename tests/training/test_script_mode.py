"""Script mode: your own ``train.py`` gets its channels, hyperparameters and directories the
SageMaker way, and reports metrics by a regex over its output or with ``log_metric``.

Run through REST (the in-process ``api``) and through the SDK (against ``live_server``).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from training_testing import unique

import shipyard
from shipyard.sdk.waiting import UnexpectedStatus

SCRIPT = textwrap.dedent(
    """
    import argparse
    import json
    import os
    import sys
    from pathlib import Path

    import shipyard.training

    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--optimizer", required=True)
    args = parser.parse_args()

    hps = json.loads(os.environ["SHIPYARD_HPS"])
    train_dir = Path(os.environ["SHIPYARD_CHANNEL_TRAIN"])
    assert train_dir.is_dir(), train_dir
    (table,) = sorted(train_dir.glob("*.csv"))
    rows = len(table.read_text().splitlines()) - 1

    print("argv=" + json.dumps(sys.argv[1:]))
    print("hps=" + json.dumps(hps, sort_keys=True))
    print(f"rows={rows}")
    for epoch in range(args.epochs):
        print(f"epoch {epoch}: loss={0.5 / (epoch + 1)}", flush=True)
        shipyard.training.log_metric("val_acc", 0.7 + 0.1 * epoch, step=epoch)

    model_dir = Path(os.environ["SHIPYARD_MODEL_DIR"])
    (model_dir / "weights.json").write_text(json.dumps({"epochs": args.epochs, "rows": rows}))
    """
)
FAILING_SCRIPT = textwrap.dedent(
    """
    import sys

    print("loss=0.9", flush=True)
    print("something went wrong", file=sys.stderr, flush=True)
    sys.exit(3)
    """
)
HYPERPARAMETERS = {"epochs": 3, "optimizer": "adam"}
LOSS = {"name": "train:loss", "regex": "loss=([0-9.]+)"}
EXPECTED_LOSSES = [0.5, 0.25, 0.5 / 3]
EXPECTED_ACCURACIES = [0.7, 0.8, 0.9]


def write_table(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "points.csv"
    path.write_text("x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(10)))
    return path


def series(points: list[dict[str, Any]], name: str) -> list[tuple[int | None, float]]:
    return [(p["step"], p["value"]) for p in points if p["name"] == name]


def assert_script_outcome(description: dict[str, Any], points: list[dict[str, Any]]) -> None:
    """Both kinds of metric arrive with their steps, and as final metrics."""
    assert description["status"] == "Completed", description["failure_reason"]
    losses = series(points, "train:loss")
    assert [step for step, _ in losses] == [0, 1, 2]
    assert [value for _, value in losses] == pytest.approx(EXPECTED_LOSSES)
    accuracies = series(points, "val_acc")
    assert [step for step, _ in accuracies] == [0, 1, 2]
    assert [value for _, value in accuracies] == pytest.approx(EXPECTED_ACCURACIES)
    final = description["final_metrics"]
    assert final["train:loss"] == pytest.approx(EXPECTED_LOSSES[-1])
    assert final["val_acc"] == pytest.approx(EXPECTED_ACCURACIES[-1])


def assert_hyperparameters_arrived(log_lines: list[str]) -> None:
    """As ``--name value`` arguments and as JSON in SHIPYARD_HPS."""
    argv = json.loads(next(line for line in log_lines if line.startswith("argv=")).split("=", 1)[1])
    assert argv == ["--epochs", "3", "--optimizer", "adam"]
    hps = json.loads(next(line for line in log_lines if line.startswith("hps=")).split("=", 1)[1])
    assert hps == HYPERPARAMETERS
    assert "rows=10" in log_lines


# ---- REST -----------------------------------------------------------------------------
def upload_script(api: Any, text: str, filename: str = "train.py") -> str:
    response = api.post(
        "/api/v1/uploads", files={"file": (filename, text.encode(), "text/x-python")}
    )
    assert response.status_code == 201, response.text
    uri = response.json()["uri"]
    assert uri.startswith("shipyard://uploads/") and uri.endswith(f"/{filename}")
    return uri


def test_script_through_rest_reports_regex_and_logged_metrics(api, tmp_path):
    table = write_table(tmp_path / "data")
    name = unique("script-rest")
    created = api.post(
        "/api/v1/training-jobs",
        json={
            "name": name,
            "entry_point": "train.py",
            "source_uri": upload_script(api, SCRIPT),
            "hyperparameters": HYPERPARAMETERS,
            "channels": {"train": str(table)},
            "metric_definitions": [LOSS],
        },
    )
    assert created.status_code == 201, created.text
    job = api.wait_for_job(name)
    points = api.get(f"/api/v1/training-jobs/{name}/metrics").json()["metrics"]
    assert_script_outcome(job, points)

    only_loss = api.get(f"/api/v1/training-jobs/{name}/metrics", params={"name": "train:loss"})
    assert {p["name"] for p in only_loss.json()["metrics"]} == {"train:loss"}

    logs = api.get(f"/api/v1/training-jobs/{name}/logs").json()
    lines = [line["message"] for line in logs["lines"]]
    assert_hyperparameters_arrived(lines)
    assert not any(line.startswith("##shipyard") for line in lines)  # events are not log lines
    later = api.get(f"/api/v1/training-jobs/{name}/logs", params={"after_seq": logs["next_seq"]})
    assert later.json()["lines"] == []

    store = api.client.app.state.context.store
    weights = json.loads(store.get_bytes(f"training-jobs/{name}/model/weights.json"))
    assert weights == {"epochs": 3, "rows": 10}


def test_failing_script_ends_failed_naming_the_exit_code(api, tmp_path):
    name = unique("script-fails")
    created = api.post(
        "/api/v1/training-jobs",
        json={
            "name": name,
            "entry_point": "train.py",
            "source_uri": upload_script(api, FAILING_SCRIPT),
            "channels": {"train": str(write_table(tmp_path / "data"))},
            "metric_definitions": [LOSS],
        },
    )
    assert created.status_code == 201, created.text
    job = api.wait_for_job(name)
    assert job["status"] == "Failed"
    assert "exited with code 3" in job["failure_reason"]
    assert "train.py" in job["failure_reason"]
    assert "Traceback" not in job["failure_reason"]
    assert job["final_metrics"] == {"train:loss": 0.9}  # what it reported before failing
    lines = [
        line["message"] for line in api.get(f"/api/v1/training-jobs/{name}/logs").json()["lines"]
    ]
    assert "something went wrong" in lines  # stderr is captured too


def test_entry_point_must_name_the_uploaded_file(api):
    response = api.post(
        "/api/v1/training-jobs",
        json={
            "name": unique("script-mismatch"),
            "entry_point": "main.py",
            "source_uri": upload_script(api, SCRIPT),
            "channels": {},
        },
    )
    assert response.status_code == 400, response.text
    assert "entry_point" in response.json()["error"]["message"]


# ---- SDK ------------------------------------------------------------------------------
@pytest.fixture
def session(live_server) -> Any:
    with shipyard.Session(url=live_server.url, token=live_server.token) as session:
        yield session


def test_script_through_the_sdk_with_a_source_dir(session, tmp_path, capsys):
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    (source_dir / "train.py").write_text(SCRIPT)
    (source_dir / "helpers").mkdir()
    (source_dir / "helpers" / "README.txt").write_text("bundled with the script\n")
    table = write_table(tmp_path / "data")

    estimator = shipyard.Estimator(
        entry_point="train.py",
        source_dir=source_dir,
        hyperparameters=HYPERPARAMETERS,
        metric_definitions=[LOSS],
        base_job_name=unique("sdk-script"),
        session=session,
    )
    job = estimator.fit({"train": table})
    assert estimator.latest_training_job is job
    description = estimator.describe()
    assert description["entry_point"] == "train.py"
    assert description["source_uri"].endswith(".tar.gz")
    assert_script_outcome(description, job.metrics())
    assert [p["name"] for p in job.metrics("val_acc")] == ["val_acc"] * 3

    printed = capsys.readouterr().out.splitlines()  # fit() streamed the job's log
    assert_hyperparameters_arrived(printed)


def test_failing_script_through_the_sdk_raises_unexpected_status(session, tmp_path):
    script = tmp_path / "fail.py"
    script.write_text(FAILING_SCRIPT)
    estimator = shipyard.Estimator(
        entry_point=str(script), base_job_name=unique("sdk-fail"), session=session
    )
    with pytest.raises(UnexpectedStatus) as raised:
        estimator.fit({"train": write_table(tmp_path / "data")}, logs=False)
    assert raised.value.description["status"] == "Failed"
    assert "exited with code 3" in raised.value.message
    assert estimator.describe()["status"] == "Failed"
