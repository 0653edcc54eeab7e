"""The training room through REST: built-in algorithms end to end, and bad input → a 4xx.

Data are scikit-learn's bundled data sets written to CSV in a temporary directory (70/30
split, fixed seed); nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import train_test_split
from training_testing import Server, assert_error, running_server, unique

FAST_XGBOOST = {"num_round": 30, "max_depth": 3}


def write_split(loader: Callable[..., Any], directory: Path) -> tuple[Path, Path]:
    """A bundled data set as train.csv / validation.csv (70/30, fixed seed) in ``directory``."""
    frame: pd.DataFrame = loader(as_frame=True).frame
    train, validation = train_test_split(frame, test_size=0.3, random_state=0)
    directory.mkdir(parents=True, exist_ok=True)
    train_path, validation_path = directory / "train.csv", directory / "validation.csv"
    train.to_csv(train_path, index=False)
    validation.to_csv(validation_path, index=False)
    return train_path, validation_path


def upload_dataset(api: Any, path: Path) -> str:
    response = api.post(
        "/api/v1/datasets",
        data={"name": unique(path.stem)},
        files={"file": (path.name, path.read_bytes(), "text/csv")},
    )
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["format"] == "csv"
    assert dataset["uri"].startswith("shipyard://datasets/")
    return dataset["uri"]


# ---- built-in algorithms, end to end ---------------------------------------------------
def test_xgboost_on_uploaded_breast_cancer_completes_with_high_auc(api, tmp_path):
    train_path, validation_path = write_split(load_breast_cancer, tmp_path / "data")
    channels = {
        "train": upload_dataset(api, train_path),
        "validation": upload_dataset(api, validation_path),
    }
    name = unique("xgb-bc")

    created = api.post(
        "/api/v1/training-jobs",
        json={
            "name": name,
            "algorithm": "xgboost",
            "target": "target",
            "hyperparameters": FAST_XGBOOST,
            "channels": channels,
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "Pending"
    assert created.json()["hyperparameters"]["max_depth"] == 3  # typed, defaults filled in

    job = api.wait_for_job(name)
    assert job["status"] == "Completed", job["failure_reason"]
    assert job["failure_reason"] is None
    assert job["final_metrics"]["validation:auc"] >= 0.95
    assert {"train:auc", "validation:logloss", "validation:accuracy"} <= set(job["final_metrics"])
    assert job["channels"]["train"]["uri"] == channels["train"]
    assert "target" in job["channels"]["train"]["columns"]
    assert job["model_artifacts"] == f"shipyard://training-jobs/{name}/model"
    assert [t["status"] for t in job["status_history"]][0] == "Pending"
    assert job["status_history"][-1]["status"] == "Completed"

    metrics = api.get(f"/api/v1/training-jobs/{name}/metrics", params={"name": "validation:auc"})
    points = metrics.json()["metrics"]
    steps = [p["step"] for p in points if p["step"] is not None]
    assert steps == list(range(FAST_XGBOOST["num_round"]))  # one point per boosting round
    assert points[-1]["step"] is None  # ...then the final value

    logs = api.get(f"/api/v1/training-jobs/{name}/logs").json()
    assert logs["complete"] is True
    assert any("xgboost" in line["message"] for line in logs["lines"])

    listed = api.get("/api/v1/training-jobs", params={"status": "Completed"}).json()["items"]
    assert name in [item["name"] for item in listed]
    assert name not in [
        i["name"] for i in api.get("/api/v1/training-jobs?status=Failed").json()["items"]
    ]

    again = api.post(
        "/api/v1/training-jobs",
        json={"name": name, "algorithm": "xgboost", "target": "target", "channels": channels},
    )
    assert_error(again, 409, name)
    assert_error(api.post(f"/api/v1/training-jobs/{name}/stop"), 409, "Completed")


def test_linear_learner_regression_on_diabetes_reports_rmse_and_r2(api, tmp_path):
    train_path, validation_path = write_split(load_diabetes, tmp_path / "data")
    name = unique("ll-diabetes")
    created = api.post(
        "/api/v1/training-jobs",
        json={
            "name": name,
            "algorithm": "linear-learner",
            "target": "target",
            "hyperparameters": {"predictor_type": "regressor"},
            # local paths inside the allowed data roots, one in the object form
            "channels": {
                "train": str(train_path),
                "validation": {"uri": str(validation_path), "format": "csv"},
            },
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["channels"]["train"]["uri"] == train_path.as_uri()

    job = api.wait_for_job(name)
    assert job["status"] == "Completed", job["failure_reason"]
    metrics = job["final_metrics"]
    assert {"train:rmse", "validation:rmse", "validation:r2"} <= set(metrics)
    assert 0.2 < metrics["validation:r2"] <= 1.0
    assert 0 < metrics["validation:rmse"] < 100  # the target's standard deviation is ~77


def test_stop_a_pending_job_and_paginate(idle_api):
    """Without a worker jobs stay Pending: stop one, then list them page by page."""
    csv = idle_api.root / "other.csv"
    prefix = unique("page")
    names = [f"{prefix}-{i}" for i in range(3)]
    for name in names:
        body = {
            "name": name,
            "algorithm": "kmeans",
            "hyperparameters": {"k": 2},
            "channels": {"train": str(csv)},
        }
        response = idle_api.post("/api/v1/training-jobs", json=body)
        assert response.status_code == 201, response.text

    stopped = idle_api.post(f"/api/v1/training-jobs/{names[0]}/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "Stopped"
    assert idle_api.get(f"/api/v1/training-jobs/{names[0]}").json()["status"] == "Stopped"

    seen: list[str] = []
    token = None
    while True:
        params = {"limit": 2, **({"next_token": token} if token else {})}
        page = idle_api.get("/api/v1/training-jobs", params=params).json()
        assert len(page["items"]) <= 2
        seen += [item["name"] for item in page["items"]]
        token = page["next_token"]
        if not token:
            break
    assert set(names) <= set(seen)
    assert len(seen) == len(set(seen))


# ---- bad input: a 4xx naming the field, never a 500 or a traceback ----------------------
@pytest.fixture(scope="module")
def idle_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An in-process server without a worker: created jobs stay Pending."""
    root = tmp_path_factory.mktemp("idle")
    write_split(load_breast_cancer, root / "bc")
    (root / "notes.txt").write_text("Dear diary,\nthis file is not a table at all.\n")
    (root / "other.csv").write_text("x,y\n1,0\n2,1\n3,0\n4,1\n")
    with running_server(root) as server:
        yield server


def job_body(root: Path, **overrides: Any) -> dict[str, Any]:
    """A valid xgboost request on the breast-cancer split; ``overrides`` break one thing."""
    body: dict[str, Any] = {
        "name": unique("bad"),
        "algorithm": "xgboost",
        "target": "target",
        "hyperparameters": {"num_round": 5},
        "channels": {"train": str(root / "bc" / "train.csv")},
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


BAD_JOBS: dict[str, tuple[Callable[[Path], dict[str, Any]], tuple[str, ...]]] = {
    "unknown algorithm": (lambda r: job_body(r, algorithm="gradient-magic"), ("algorithm",)),
    "missing target": (lambda r: job_body(r, target=None), ("target",)),
    "target not in the file": (lambda r: job_body(r, target="diagnosis"), ("target", "diagnosis")),
    "target not in validation": (
        lambda r: job_body(
            r,
            channels={"train": str(r / "bc" / "train.csv"), "validation": str(r / "other.csv")},
        ),
        ("target", "validation"),
    ),
    "text file as validation channel": (
        lambda r: job_body(
            r,
            channels={"train": str(r / "bc" / "train.csv"), "validation": str(r / "notes.txt")},
        ),
        ("channels.validation",),
    ),
    "negative max_depth": (
        lambda r: job_body(r, hyperparameters={"max_depth": -1}),
        ("hyperparameters.max_depth",),
    ),
    "unknown hyperparameter": (
        lambda r: job_body(r, hyperparameters={"learning_speed": 3}),
        ("hyperparameters.learning_speed",),
    ),
    "hyperparameters not an object": (
        lambda r: job_body(r, hyperparameters=[1, 2]),
        ("hyperparameters",),
    ),
    "text file as a channel": (
        lambda r: job_body(r, channels={"train": str(r / "notes.txt")}),
        ("channels.train", "CSV"),
    ),
    "name with ../": (lambda r: job_body(r, name="../../etc/cron.d"), ("name",)),
    "200-character name": (lambda r: job_body(r, name="a" * 200), ("name",)),
    "name with a slash": (lambda r: job_body(r, name="a/b"), ("name",)),
    "channel outside the data roots": (
        lambda r: job_body(r, channels={"train": "/etc/passwd"}),
        ("channels.train", "outside the allowed data roots"),
    ),
    "channel escaping a root with ..": (
        lambda r: job_body(r, channels={"train": f"{r}/../../etc/passwd"}),
        ("channels.train", "outside the allowed data roots"),
    ),
    "relative channel path": (
        lambda r: job_body(r, channels={"train": "train.csv"}),
        ("channels.train", "absolute"),
    ),
    "missing channel file": (
        lambda r: job_body(r, channels={"train": str(r / "nope.csv")}),
        ("channels.train", "does not exist"),
    ),
    "missing artifact": (
        lambda r: job_body(r, channels={"train": "shipyard://datasets/nope/x.csv"}),
        ("channels.train", "does not exist"),
    ),
    "artifact URI with ..": (
        lambda r: job_body(r, channels={"train": "shipyard://../../etc/passwd"}),
        ("channels.train",),
    ),
    "foreign URI scheme": (
        lambda r: job_body(r, channels={"train": "http://example.com/train.csv"}),
        ("channels.train",),
    ),
    "no train channel": (
        lambda r: job_body(r, channels={"validation": str(r / "bc" / "validation.csv")}),
        ("channels",),
    ),
    "bad channel name": (
        lambda r: job_body(r, channels={"train": str(r / "bc" / "train.csv"), "a-b": "x"}),
        ("channels.a-b",),
    ),
    "channel not a string": (lambda r: job_body(r, channels={"train": 5}), ("channels.train",)),
    "unknown field": (lambda r: job_body(r, colour="blue"), ("colour",)),
    "algorithm and entry_point": (lambda r: job_body(r, entry_point="train.py"), ("algorithm",)),
    "neither algorithm nor entry_point": (lambda r: job_body(r, algorithm=""), ("algorithm",)),
    "entry_point escaping the source": (
        lambda r: job_body(
            r, algorithm=None, entry_point="../evil.py", source_uri="shipyard://u/x.py"
        ),
        ("entry_point",),
    ),
    "script without source_uri": (
        lambda r: job_body(r, algorithm=None, entry_point="train.py"),
        ("source_uri",),
    ),
    "script source that does not exist": (
        lambda r: job_body(r, algorithm=None, entry_point="t.py", source_uri="shipyard://up/t.py"),
        ("source_uri", "does not exist"),
    ),
    "script source URI with ..": (
        lambda r: job_body(r, algorithm=None, entry_point="t.py", source_uri="shipyard://../t.py"),
        ("source_uri",),
    ),
    "zero CPUs": (lambda r: job_body(r, resources={"cpu_count": 0}), ("resources.cpu_count",)),
    "bad metric regex": (
        lambda r: job_body(r, metric_definitions=[{"name": "loss", "regex": "loss=(["}]),
        ("metric_definitions",),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_JOBS))
def test_bad_training_job_is_a_400_naming_the_field(idle_api, case):
    make_body, needles = BAD_JOBS[case]
    response = idle_api.post("/api/v1/training-jobs", json=make_body(idle_api.root))
    message = assert_error(response, 400, *needles)
    assert response.json()["error"]["code"] == "ValidationError", message


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"name": "x", "algorithm": ', "application/json"),  # invalid JSON
        (b"not json at all", "application/json"),
        (b"name=x&algorithm=xgboost", "text/plain"),  # wrong content type
        (b"", "application/json"),
        (b"[1, 2, 3]", "application/json"),
    ],
)
def test_unreadable_training_request_is_a_400(idle_api, content, content_type):
    response = idle_api.post(
        "/api/v1/training-jobs", content=content, headers={"Content-Type": content_type}
    )
    assert_error(response, 400)
    assert response.json()["error"]["code"] == "ValidationError"


def test_text_file_uploaded_as_dataset_is_a_400_naming_file(idle_api):
    response = idle_api.post(
        "/api/v1/datasets",
        data={"name": unique("notes")},
        files={"file": ("notes.csv", (idle_api.root / "notes.txt").read_bytes(), "text/csv")},
    )
    assert_error(response, 400, "file")
    binary = idle_api.post(
        "/api/v1/datasets",
        data={"name": unique("binary")},
        files={"file": ("data.csv", bytes(range(256)) * 8, "text/csv")},
    )
    assert_error(binary, 400, "file")
    bad_name = idle_api.post(
        "/api/v1/datasets",
        data={"name": "../datasets"},
        files={"file": ("t.csv", b"a,b\n1,2\n", "text/csv")},
    )
    assert_error(bad_name, 400, "name")
    no_file = idle_api.post("/api/v1/datasets", data={"name": unique("nothing")})
    assert_error(no_file, 400, "file")
    empty_upload = idle_api.post("/api/v1/uploads", files={"file": ("x.py", b"", "text/plain")})
    assert_error(empty_upload, 400, "file")


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/api/v1/training-jobs/no-such-job", 404, "no-such-job"),
        ("/api/v1/training-jobs/no-such-job/logs", 404, "no-such-job"),
        ("/api/v1/training-jobs/no-such-job/metrics", 404, "no-such-job"),
        ("/api/v1/training-jobs/" + "x" * 200, 400, "name"),
        ("/api/v1/training-jobs?status=Sleeping", 400, "status"),
        ("/api/v1/training-jobs?limit=0", 400, "limit"),
        ("/api/v1/training-jobs?next_token=not-a-token", 400, "next_token"),
        ("/api/v1/training-jobs/no-such-job/logs?after_seq=-5", 400, "after_seq"),
    ],
)
def test_bad_training_reads(idle_api, path, status, needle):
    assert_error(idle_api.get(path), status, needle)


def test_stop_unknown_job_is_a_404(idle_api):
    assert_error(idle_api.post("/api/v1/training-jobs/no-such-job/stop"), 404, "no-such-job")


def test_jobs_stay_pending_without_a_worker(idle_api):
    """The premise of the idle server: nothing runs, so states are deterministic."""
    name = unique("pending")
    body = job_body(idle_api.root, name=name)
    assert idle_api.post("/api/v1/training-jobs", json=body).status_code == 201
    assert idle_api.get(f"/api/v1/training-jobs/{name}").json()["status"] == "Pending"
