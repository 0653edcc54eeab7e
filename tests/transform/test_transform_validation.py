"""Bad CreateTransformJob requests are a 400 naming the field and queue nothing; a job that
has not started stops at once. All on a server without a worker."""

from __future__ import annotations

import pytest
from training_testing import assert_refused, unique


@pytest.fixture(scope="module")
def files(idle):
    """Inputs in the idle server's data root and store, good and bad."""
    features = idle.validation.drop(columns=["target"]).iloc[:20]
    root = idle.root
    features.to_csv(root / "good.csv", index=False)
    features.iloc[:, :5].to_csv(root / "narrow.csv", index=False, header=False)
    features.iloc[:, :5].to_json(root / "narrow.jsonl", orient="records", lines=True)
    (root / "not-json.jsonl").write_text("{oops\n")
    features.iloc[:, :5].to_parquet(root / "narrow.parquet", index=False)
    (root / "empty.csv").write_text("\n\n")
    big = features.sample(n=8000, replace=True, random_state=0)
    big.to_csv(root / "big.csv", index=False)  # over 1 MB
    return root


def job(idle, data_source: str, **changes) -> dict:
    body = {
        "name": unique("bad-bt"),
        "model_name": idle.model_name,
        "transform_input": {"data_source": data_source},
    }
    return body | changes


CASES = {
    "an unknown model": (
        lambda r: {"model_name": "no-such-model"},
        "model_name: no model is called",
    ),
    "an empty prefix": (
        lambda r: {"transform_input": {"data_source": "shipyard://nothing/here"}},
        "transform_input.data_source: shipyard://nothing/here is neither a stored file",
    ),
    "a missing dataset": (
        lambda r: {"transform_input": {"data_source": "no-such-dataset"}},
        "transform_input.data_source: no dataset is called 'no-such-dataset'",
    ),
    "a path outside the data roots": (
        lambda r: {"transform_input": {"data_source": "/etc/hostname"}},
        "transform_input.data_source:",
        "outside the allowed data roots",
    ),
    "CSV rows of too few fields": (
        lambda r: {"transform_input": {"data_source": str(r / "narrow.csv")}},
        "transform_input.data_source: the first row of",
        "has 5 fields",
        "the model takes 30",
    ),
    "a file without records": (
        lambda r: {"transform_input": {"data_source": str(r / "empty.csv")}},
        "transform_input.data_source:",
        "holds no records",
    ),
    "JSON records lacking features": (
        lambda r: {
            "transform_input": {
                "data_source": str(r / "narrow.jsonl"),
                "content_type": "application/jsonlines",
            }
        },
        "transform_input.data_source:",
        "lacks the model's features",
    ),
    "JSON lines that are not JSON": (
        lambda r: {
            "transform_input": {
                "data_source": str(r / "not-json.jsonl"),
                "content_type": "application/jsonlines",
            }
        },
        "transform_input.data_source:",
        "is not a JSON record",
    ),
    "parquet lacking features": (
        lambda r: {
            "transform_input": {
                "data_source": str(r / "narrow.parquet"),
                "content_type": "application/x-parquet",
            }
        },
        "transform_input.data_source:",
        "lacks the model's features",
    ),
    "a whole file over the payload": (
        lambda r: {
            "transform_input": {"data_source": str(r / "big.csv"), "split_type": "None"},
            "max_payload_mb": 1,
        },
        "transform_input.split_type:",
        "over max_payload_mb (1)",
    ),
    "several instances": (
        lambda r: {"resources": {"instance_count": 2}},
        "resources.instance_count: must be 1",
    ),
    "an unknown content type": (
        lambda r: {"transform_input": {"data_source": "x", "content_type": "text/plain"}},
        "transform_input.content_type:",
    ),
    "an unknown accept": (
        lambda r: {"transform_output": {"accept": "application/xml"}},
        "transform_output.accept:",
    ),
    "no concurrency": ({"max_concurrent_transforms": 0}, "max_concurrent_transforms:"),
    "an unknown strategy": ({"batch_strategy": "Everything"}, "batch_strategy:"),
    "an invalid name": ({"name": "no_underscores"}, "name:"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_transform_jobs_are_refused_naming_the_field(idle, files, case):
    changes, *needles = CASES[case]
    body = job(idle, str(files / "good.csv"), **(changes(files) if callable(changes) else changes))
    assert_refused(idle, "transform-jobs", body, *needles)


def test_a_pending_job_stops_and_a_taken_name_conflicts(idle, files):
    body = job(idle, str(files / "good.csv"))
    created = idle.post("/api/v1/transform-jobs", json=body)
    assert created.status_code == 201, created.text
    described = created.json()
    assert described["transform_input"]["kind"] == "file"
    assert described["outputs"] == [] and described["records_processed"] == 0
    assert idle.post("/api/v1/transform-jobs", json=body).status_code == 409
    stopped = idle.post(f"/api/v1/transform-jobs/{body['name']}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "Stopped"
    assert idle.post(f"/api/v1/transform-jobs/{body['name']}/stop").status_code == 409
    listed = idle.get("/api/v1/transform-jobs", params={"status": "Stopped"}).json()["items"]
    assert body["name"] in [item["name"] for item in listed]
    assert idle.get("/api/v1/transform-jobs/no-such-job").status_code == 404
