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
    features.to_csv(root / "bare.csv", index=False, header=False)
    features.to_json(root / "good.jsonl", orient="records", lines=True)
    features.assign(prediction=1).to_parquet(root / "predicted.parquet", index=False)
    (idle.context.store.root / "folders" / "without" / "files").mkdir(parents=True)
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
    "a prefix of folders without files": (
        lambda r: {"transform_input": {"data_source": "shipyard://folders"}},
        "transform_input.data_source: shipyard://folders is neither a stored file nor a prefix",
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
    "an input filter that is no JSONPath": (
        {"data_processing": {"input_filter": "features"}},
        "data_processing.input_filter: 'features' must start with $",
    ),
    "an input filter that does not parse": (
        {"data_processing": {"input_filter": "$[1:x]"}},
        "data_processing.input_filter: '$[1:x]' is not a filter Shipyard reads",
    ),
    "an input filter past the record": (
        {"data_processing": {"input_filter": "$[0,40]"}},
        "data_processing.input_filter:",
        "good.csv: $[0,40] picks index 40; the record has 30 fields",
    ),
    "an input filter leaving features out": (
        {"data_processing": {"input_filter": "$[1:]"}},
        "data_processing.input_filter: the columns of",
        "that $[1:] picks lack the model's features",
        "mean radius",
    ),
    "an input filter by name on a CSV without a header": (
        lambda r: {
            "transform_input": {"data_source": str(r / "bare.csv")},
            "data_processing": {"input_filter": "$['mean radius']"},
        },
        "data_processing.input_filter:",
        "picks by name; these records have no column names",
    ),
    "an input filter of a key JSON records lack": (
        lambda r: {
            "transform_input": {
                "data_source": str(r / "good.jsonl"),
                "content_type": "application/jsonlines",
            },
            "data_processing": {"input_filter": "$.features"},
        },
        "data_processing.input_filter: the first record of",
        "$.features picks 'features'; the record has no such key",
    ),
    "an output filter past the joined record": (
        {"data_processing": {"join_source": "Input", "output_filter": "$[0,31]"}},
        "data_processing.output_filter: $[0,31] picks index 31; the record has 31 fields "
        "(of the joined output record)",
    ),
    "an output filter of a key the output lacks": (
        lambda r: {
            "transform_input": {
                "data_source": str(r / "good.jsonl"),
                "content_type": "application/jsonlines",
            },
            "transform_output": {"accept": "application/jsonlines"},
            "data_processing": {"output_filter": "$.label"},
        },
        "data_processing.output_filter: $.label picks 'label'; the record has no such key",
    ),
    "a join in another format": (
        {
            "transform_output": {"accept": "application/jsonlines"},
            "data_processing": {"join_source": "Input"},
        },
        "data_processing.join_source:",
        "transform_output.accept must be text/csv (it is application/jsonlines)",
    ),
    "a joined parquet column taken": (
        lambda r: {
            "transform_input": {
                "data_source": str(r / "predicted.parquet"),
                "content_type": "application/x-parquet",
            },
            "transform_output": {"accept": "application/x-parquet"},
            "data_processing": {"join_source": "Input"},
        },
        "data_processing.join_source: the input has a column 'prediction'",
    ),
    "an unknown join source": (
        {"data_processing": {"join_source": "Output"}},
        "data_processing.join_source:",
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
