"""``GET /api/v1/lineage`` over what the training and tuning rooms record: a job's
channels (by content) and script source, a tuning job's trials; resolution, directions,
depth, authorization and bad input."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sklearn.datasets import load_breast_cancer
from tuning_testing import (
    Channels,
    classification_problem,
    limits,
    tuning_request,
    wait_for_tuning,
)

from shipyard.lineage import service as lineage
from shipyard.security.service import create_api_key, ensure_user

FAST_XGBOOST = {"num_round": 5, "max_depth": 2}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def breast_cancer_csvs(directory: Path) -> tuple[Path, Path]:
    frame = load_breast_cancer(as_frame=True).frame
    directory.mkdir(parents=True, exist_ok=True)
    train, validation = directory / "train.csv", directory / "validation.csv"
    frame.iloc[:400].to_csv(train, index=False)
    frame.iloc[400:].to_csv(validation, index=False)
    return train, validation


def create_xgboost_job(api: Any, channels: dict[str, str], name: str | None = None) -> str:
    name = name or unique("lineage-xgb")
    response = api.post(
        "/api/v1/training-jobs",
        json={
            "name": name,
            "algorithm": "xgboost",
            "target": "target",
            "hyperparameters": FAST_XGBOOST,
            "channels": channels,
        },
    )
    assert response.status_code == 201, response.text
    return name


def get_lineage(api: Any, **params: Any) -> dict[str, Any]:
    response = api.get("/api/v1/lineage", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, *needles: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    for needle in needles:
        assert needle in body["error"]["message"], (needle, body)
    return body["error"]["message"]


def test_a_training_job_records_its_channels_by_content(api, tmp_path):
    train, validation = breast_cancer_csvs(tmp_path / "data")
    job = create_xgboost_job(api, {"train": str(train), "validation": str(validation)})

    graph = get_lineage(api, entity=job)

    assert graph["root"] == f"srn:shipyard:training-job/{job}"
    by_id = {entity["id"]: entity for entity in graph["entities"]}
    datasets = {
        f"srn:shipyard:dataset/sha256-{sha256_of(path)}": path for path in (train, validation)
    }
    assert set(by_id) == {graph["root"], *datasets}
    for node_id, path in datasets.items():
        assert by_id[node_id]["kind"] == "dataset"
        assert by_id[node_id]["properties"] == {"sha256": sha256_of(path), "uri": path.as_uri()}
        assert by_id[node_id]["created_at"].endswith(("Z", "+00:00"))
    assert sorted((e["source"], e["target"], e["relation"]) for e in graph["edges"]) == sorted(
        (node_id, graph["root"], "ContributedTo") for node_id in datasets
    )
    # the dataset is found by its hash, and leads downstream to the job
    sha = sha256_of(train)
    for ref in (sha, sha[:12], f"sha256-{sha[:20]}", f"srn:shipyard:dataset/sha256-{sha}"):
        down = get_lineage(api, entity=ref, direction="downstream")
        assert down["root"] == f"srn:shipyard:dataset/sha256-{sha}", ref
        assert [e["target"] for e in down["edges"]] == [graph["root"]]


def test_a_registered_dataset_keeps_its_name_and_the_same_bytes_are_one_node(api, tmp_path):
    train, validation = breast_cancer_csvs(tmp_path / "data")
    name = unique("bc-train")
    response = api.post(
        "/api/v1/datasets",
        data={"name": name},
        files={"file": (train.name, train.read_bytes(), "text/csv")},
    )
    assert response.status_code == 201, response.text
    first = create_xgboost_job(api, {"train": response.json()["uri"]})
    second = create_xgboost_job(api, {"train": str(train), "validation": str(validation)})

    graph = get_lineage(api, entity=name)  # the registered name resolves to its content

    node = f"srn:shipyard:dataset/sha256-{sha256_of(train)}"
    assert graph["root"] == node
    root = next(e for e in graph["entities"] if e["id"] == node)
    assert root["properties"]["dataset_name"] == name
    assert sorted(e["target"] for e in graph["edges"]) == sorted(
        f"srn:shipyard:training-job/{job}" for job in (first, second)
    )


def test_a_script_job_records_its_source(api, tmp_path):
    train, _ = breast_cancer_csvs(tmp_path / "data")
    script = b"print('hello from a script')\n"
    upload = api.post("/api/v1/uploads", files={"file": ("train.py", script, "text/x-python")})
    assert upload.status_code == 201, upload.text
    name = unique("lineage-script")
    response = api.post(
        "/api/v1/training-jobs",
        json={
            "name": name,
            "entry_point": "train.py",
            "source_uri": upload.json()["uri"],
            "channels": {"train": str(train)},
        },
    )
    assert response.status_code == 201, response.text

    graph = get_lineage(api, entity=f"srn:shipyard:training-job/{name}", direction="upstream")

    source = f"srn:shipyard:source/sha256-{hashlib.sha256(script).hexdigest()}"
    kinds = {e["id"]: e["kind"] for e in graph["entities"]}
    assert kinds[source] == "source"
    assert sorted(kinds.values()) == ["dataset", "source", "training-job"]
    api.wait_for_job(name)


def test_a_tuning_job_ran_its_trials_and_hashed_each_channel_once(api, tmp_path, monkeypatch):
    train, validation = tmp_path / "train.csv", tmp_path / "validation.csv"
    classification_problem(300, seed=0).to_csv(train, index=False)
    classification_problem(200, seed=1).to_csv(validation, index=False)
    hashed: list[Path] = []
    real = lineage.file_sha256
    monkeypatch.setattr(lineage, "file_sha256", lambda path: hashed.append(path) or real(path))
    name = unique("lineage-tune")
    request = tuning_request(
        name,
        Channels(train, validation),
        ranges={
            "integer_parameter_ranges": [{"name": "max_depth", "min_value": 1, "max_value": 4}]
        },
        static={"num_round": 5},
        **limits(3, 3),
    )
    response = api.post("/api/v1/tuning-jobs", json=request)
    assert response.status_code == 201, response.text
    wait_for_tuning(api, name)

    graph = get_lineage(api, entity=name, direction="downstream")

    trials = sorted(e["target"] for e in graph["edges"])
    assert len(trials) == 3 and all(t.startswith("srn:shipyard:training-job/") for t in trials)
    assert {e["relation"] for e in graph["edges"]} == {"Ran"}
    assert sorted(hashed) == sorted([train, validation])  # three trials, one hash per file
    upstream = get_lineage(api, entity=trials[0], direction="upstream")
    assert sorted(e["kind"] for e in upstream["entities"]) == [
        "dataset",
        "dataset",
        "training-job",
        "tuning-job",
    ]


def test_directions_and_depth(api, tmp_path):
    train, _ = breast_cancer_csvs(tmp_path / "data")
    job = create_xgboost_job(api, {"train": str(train)})
    dataset = f"srn:shipyard:dataset/sha256-{sha256_of(train)}"
    with api.client.app.state.context.db.session_scope() as session:  # rooms not built yet
        model = lineage.Entity("model", unique("m"))
        lineage.record(session, lineage.Entity("training-job", job), model, "Produced")
        lineage.record(session, model, lineage.Entity("endpoint", unique("e")), "DeployedAs")

    both = get_lineage(api, entity=job)
    up = get_lineage(api, entity=job, direction="upstream")
    down = get_lineage(api, entity=job, direction="downstream")
    near = get_lineage(api, entity=job, direction="downstream", depth=1)

    assert sorted(e["kind"] for e in both["entities"]) == [
        "dataset",
        "endpoint",
        "model",
        "training-job",
    ]
    assert {e["id"] for e in up["entities"]} == {dataset, both["root"]}
    assert sorted(e["kind"] for e in down["entities"]) == ["endpoint", "model", "training-job"]
    assert [e["target"] for e in near["edges"]] == [model.id]


@pytest.mark.parametrize(
    ("params", "status", "needles"),
    [
        ({"entity": "no-such-thing"}, 404, ["no-such-thing"]),
        (
            {"entity": "srn:shipyard:endpoint/no-such-thing"},
            404,
            ["srn:shipyard:endpoint/no-such-thing"],
        ),
        ({"entity": "x", "direction": "sideways"}, 400, ["direction"]),
        ({"entity": "x", "depth": 0}, 400, ["depth"]),
        ({"entity": "x", "depth": 101}, 400, ["depth"]),
        ({"entity": "x" * 256}, 400, ["entity"]),
        ({"entity": ""}, 400, ["entity"]),
    ],
)
def test_bad_input_is_a_clear_error(api, params, status, needles):
    assert_error(api.get("/api/v1/lineage", params=params), status, *needles)


def test_an_ambiguous_name_lists_the_candidates(api):
    with api.client.app.state.context.db.session_scope() as session:
        source = lineage.dataset("f" * 64, "file:///x.csv")
        lineage.record(session, source, lineage.Entity("training-job", "twin"))
        lineage.record(session, source, lineage.Entity("processing-job", "twin"))
    assert_error(
        api.get("/api/v1/lineage", params={"entity": "twin"}),
        400,
        "entity",
        "ambiguous",
        "srn:shipyard:training-job/twin",
        "srn:shipyard:processing-job/twin",
    )


def test_the_root_is_authorized_and_the_overview_needs_every_entity(api, tmp_path):
    train, _ = breast_cancer_csvs(tmp_path / "data")
    job = create_xgboost_job(api, {"train": str(train)})
    policy = {
        "statements": [
            {
                "effect": "Allow",
                "actions": ["lineage:GetLineage"],
                "resources": ["srn:shipyard:training-job/*"],
            }
        ]
    }
    with api.client.app.state.context.db.session_scope() as session:
        ensure_user(session, "job-reader", [policy])
        token = create_api_key(session, "job-reader")
    headers = {"Authorization": f"Bearer {token}"}

    allowed = api.client.get("/api/v1/lineage", params={"entity": job}, headers=headers)
    assert allowed.status_code == 200, allowed.text
    dataset = api.client.get(
        "/api/v1/lineage", params={"entity": sha256_of(train)}, headers=headers
    )
    assert_error(dataset, 403, "job-reader", "lineage:GetLineage", "srn:shipyard:dataset/")
    overview = api.client.get("/api/v1/lineage", headers=headers)
    assert_error(overview, 403, "srn:shipyard:*")

    recent = get_lineage(api, limit=2)
    assert recent["root"] is None
    assert {e["id"] for e in recent["entities"]} == {  # the last two recorded
        f"srn:shipyard:training-job/{job}",
        f"srn:shipyard:dataset/sha256-{sha256_of(train)}",
    }
