"""``shipyard lineage REF`` through the real entry point, against a live server."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest
from cli_testing import assert_one_line_error, shipyard_cli
from sklearn.datasets import load_breast_cancer


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def lineage_cli(*args: str, env: dict[str, str], expect: int = 0) -> Any:
    return shipyard_cli(*args, env={**env, "COLUMNS": "200"}, expect=expect)


@pytest.fixture(scope="module")
def trained(live_server) -> dict[str, Any]:
    """A training job on two CSVs in the live server's data root (it need not finish)."""
    directory = live_server.home.parent / unique("lineage-cli")
    directory.mkdir()
    frame = load_breast_cancer(as_frame=True).frame
    train, validation = directory / "train.csv", directory / "validation.csv"
    frame.iloc[:400].to_csv(train, index=False)
    frame.iloc[400:].to_csv(validation, index=False)
    job = unique("lineage-cli-job")
    with live_server.http() as http:
        response = http.post(
            "/api/v1/training-jobs",
            json={
                "name": job,
                "algorithm": "xgboost",
                "target": "target",
                "hyperparameters": {"num_round": 5},
                "channels": {"train": str(train), "validation": str(validation)},
            },
        )
        assert response.status_code == 201, response.text
    return {
        "job": job,
        "train": hashlib.sha256(train.read_bytes()).hexdigest(),
        "validation": hashlib.sha256(validation.read_bytes()).hexdigest(),
        "train_uri": train.as_uri(),
    }


def test_lineage_prints_upstream_and_downstream_trees(live_server, trained):
    out = lineage_cli("lineage", trained["job"], env=live_server.env).stdout
    upstream, _, downstream = out.partition("Downstream")
    assert upstream.startswith("Upstream (what produced it)")
    lines = upstream.splitlines()
    assert lines[1] == f"training-job {trained['job']}"  # the root on top
    dataset_lines = [line for line in lines if "dataset sha256-" in line]
    assert len(dataset_lines) == 2
    train_line = next(line for line in dataset_lines if trained["train"][:16] in line)
    assert f"dataset sha256-{trained['train'][:16]} [ContributedTo] " in train_line
    assert trained["train"][:17] not in train_line  # only the first 16 digits
    assert train_line.endswith(trained["train_uri"])
    assert train_line.lstrip().startswith(("├── ", "└── "))
    assert "nothing downstream" in downstream


def test_lineage_from_a_dataset_hash_downstream(live_server, trained):
    out = lineage_cli(
        "lineage", trained["train"][:12], "--direction", "downstream", env=live_server.env
    ).stdout
    assert "Upstream" not in out
    assert out.splitlines()[1].startswith(f"dataset sha256-{trained['train'][:16]}")
    assert f"training-job {trained['job']}" in out


def test_lineage_json_is_the_api_response(live_server, trained):
    out = lineage_cli(
        "lineage", trained["job"], "--direction", "upstream", "--depth", "1", "--json",
        env=live_server.env,
    ).stdout  # fmt: skip
    document = json.loads(out)
    assert set(document) == {"root", "entities", "edges"}
    assert document["root"] == f"srn:shipyard:training-job/{trained['job']}"
    assert sorted(e["kind"] for e in document["entities"]) == ["dataset", "dataset", "training-job"]
    assert {e["relation"] for e in document["edges"]} == {"ContributedTo"}


@pytest.mark.parametrize(
    ("args", "code", "needles"),
    [
        (["no-such-thing-anywhere"], "NotFound", ["no-such-thing-anywhere"]),
        (["x", "--direction", "sideways"], "ValidationError", ["direction"]),
        (["x", "--depth", "0"], "ValidationError", ["depth"]),
    ],
)
def test_bad_input_is_one_line_and_exit_1(live_server, args, code, needles):
    assert_one_line_error(
        lineage_cli("lineage", *args, env=live_server.env, expect=1), code, *needles
    )


def test_without_a_server_it_says_so(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "SHIPYARD_URL": "http://127.0.0.1:9", "SHIPYARD_TOKEN": "sy_x"}
    assert_one_line_error(
        lineage_cli("lineage", "x", env=env, expect=1), "InternalError", "cannot reach"
    )


def test_help_describes_the_command():
    out = lineage_cli("lineage", "--help", env={"PATH": "/usr/bin:/bin"}).stdout
    assert "upstream" in out and "--direction" in out and "--json" in out
