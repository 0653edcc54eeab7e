"""``shipyard transform`` through its real entry point, and the SDK's ``Transformer``,
against a live ``shipyard up`` with an xgboost model of breast cancer."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from cli_testing import shipyard_cli
from training_testing import breast_cancer_split, unique, xgboost_job

from shipyard.sdk.client import Session
from shipyard.sdk.transform import Transformer


@pytest.fixture(scope="module")
def model(live_server, tmp_path_factory) -> tuple[str, pd.DataFrame]:
    """A served model of breast cancer on the live server, and held-out features."""
    directory = live_server.home.parent / unique("transform-cli")
    directory.mkdir()
    validation = breast_cancer_split(directory)
    job = unique("transform-xgb")
    with live_server.http() as http:
        created = http.post(
            "/api/v1/training-jobs", json=xgboost_job(job, directory / "train.csv", num_round=10)
        )
        assert created.status_code == 201, created.text
        trained = live_server.wait_for_status(
            f"/api/v1/training-jobs/{job}", ("Completed", "Failed")
        )
        assert trained["status"] == "Completed", trained["failure_reason"]
        made = http.post("/api/v1/models", json={"name": job, "training_job_name": job})
        assert made.status_code == 201, made.text
    return job, validation.drop(columns=["target"]).reset_index(drop=True)


def test_transform_with_the_cli(live_server, model):
    model_name, features = model
    env = live_server.env
    path = live_server.home.parent / f"{unique('to-score')}.csv"
    features.to_csv(path, index=False)
    name = unique("cli-bt")
    created = shipyard_cli(
        "transform", "create", "--name", name, "--model", model_name, "--data", str(path),
        "--max-concurrent-transforms", "2", "--json", env=env,
    )  # fmt: skip
    described = json.loads(created.stdout)
    assert described["status"] == "Completed", described["failure_reason"]
    assert described["records_processed"] == len(features)
    (output,) = described["outputs"]
    assert output["output_uri"].endswith(f"/{path.name}.out")
    listed = json.loads(shipyard_cli("transform", "list", "--json", env=env).stdout)
    assert name in [item["name"] for item in listed]
    human = shipyard_cli("transform", "describe", name, env=env).stdout
    assert f"{path.name}.out ({len(features)} records)" in human
    waited = shipyard_cli("transform", "wait", name, env=env).stdout
    assert f"{name}: Completed" in waited and f"{len(features)}/{len(features)} records" in waited
    stopped = shipyard_cli("transform", "stop", name, env=env, expect=1)
    assert stopped.stderr.startswith("error (InvalidState): ")
    unknown = shipyard_cli(
        "transform", "create", "--model", "no-such-model", "--data", str(path), env=env, expect=1
    )
    assert unknown.stderr.strip().startswith("error (ValidationError): model_name: ")


def test_create_shows_a_bar_of_the_records(live_server, model):
    """Without --json, create waits with a bar of records processed over the records of
    the input; its last state stays: every record, and how many failed."""
    model_name, features = model
    path = live_server.home.parent / f"{unique('with-ids')}.csv"
    rows = features.head(120).reset_index(drop=True)
    rows.insert(0, "id", range(len(rows)))
    text = rows.to_csv(index=False, header=False).splitlines()
    text[9] = text[9].replace(",", ",x", 1)  # record 10: a feature that is no number
    path.write_text("\n".join(text) + "\n")
    name = unique("cli-bar")
    created = shipyard_cli(
        "transform", "create", "--name", name, "--model", model_name, "--data", str(path),
        "--input-filter", "$[1:]", "--join-source", "Input", "--output-filter", "$[0,-1]",
        env=live_server.env | {"COLUMNS": "250"},
    )  # fmt: skip
    assert f"{name}: Completed" in created.stdout
    assert "120/120 records, 1 failed" in created.stdout, created.stdout
    assert "input_filter $[1:], join_source Input, output_filter $[0,-1]" in created.stdout
    assert f"{path.name}.out (120 records, 1 failed: shipyard://" in created.stdout
    stored = live_server.home / "artifacts" / "transform-jobs" / name / "output"
    lines = (stored / f"{path.name}.out").read_text().splitlines()
    assert len(lines) == 120 and lines[9] == "9," and lines[10].startswith("10,")
    assert (stored / f"{path.name}.out.errors").read_text().startswith('{"record": 10, ')


def test_transformer_of_the_sdk(live_server, model):
    model_name, features = model
    with Session(url=live_server.url, token=live_server.token) as client:
        transformer = Transformer(
            model_name,
            accept="application/jsonlines",
            strategy="SingleRecord",
            max_concurrent_transforms=2,
            session=client,
        )
        job = transformer.transform(features.head(25))
        assert transformer.latest_transform_job is job
        assert transformer.output_path == f"shipyard://transform-jobs/{job.name}/output"
        described = job.describe()
    assert described["transform_input"]["content_type"] == "application/x-parquet"
    assert described["records_processed"] == 25
    (output,) = described["outputs"]
    assert output["output_uri"].endswith("/data.parquet.out")
    stored = live_server.home / "artifacts" / output["output_uri"].removeprefix("shipyard://")
    records = [json.loads(line) for line in stored.read_text().splitlines()]
    assert len(records) == 25 and {r["prediction"] for r in records} <= {0, 1}
    assert all(len(r["probabilities"]) == 2 for r in records)


def test_transformer_with_data_processing(live_server, model):
    """SageMaker's ``transform(input_filter=, join_source=, output_filter=)``, here on a
    DataFrame (sent as parquet) with parquet out."""
    model_name, features = model
    rows = features.head(30).reset_index(drop=True)
    rows.insert(0, "id", [f"row-{i}" for i in range(len(rows))])
    with Session(url=live_server.url, token=live_server.token) as client:
        transformer = Transformer(model_name, accept="application/x-parquet", session=client)
        job = transformer.transform(
            rows, input_filter="$[1:]", join_source="Input", output_filter="$['id','prediction']"
        )
        described = job.describe()
    assert described["data_processing"] == {
        "input_filter": "$[1:]",
        "join_source": "Input",
        "output_filter": "$['id','prediction']",
    }
    (output,) = described["outputs"]
    stored = live_server.home / "artifacts" / output["output_uri"].removeprefix("shipyard://")
    table = pd.read_parquet(stored)
    assert list(table.columns) == ["id", "prediction"]
    assert table["id"].tolist() == rows["id"].tolist()
    assert set(table["prediction"]) <= {0, 1}
