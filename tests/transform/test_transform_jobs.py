"""Batch transform jobs through REST: the predictions of a served model over files, one
``.out`` per input file, in input order, equal to the model's own predictions."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest
from training_testing import unique

from shipyard.core.artifacts import key_from_uri
from shipyard.core.digests import prefix_sha256
from shipyard.core.names import srn
from shipyard.lineage import service as lineage


def features_of(served) -> pd.DataFrame:
    return served.validation.drop(columns=["target"])


def transform(served, transform_input: dict, **changes) -> dict:
    """A Completed transform job of the served model."""
    name = unique("bt")
    body = {"name": name, "model_name": served.model_name, "transform_input": transform_input}
    response = served.post("/api/v1/transform-jobs", json=body | changes)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "Pending"
    done = served.wait_for(f"/api/v1/transform-jobs/{name}")
    assert done["status"] == "Completed", done["failure_reason"]
    return done


def output_lines(served, uri: str) -> list[str]:
    return served.context.store.get_bytes(key_from_uri(uri)).decode().splitlines()


def test_two_csv_files_give_the_models_predictions_in_order(served):
    """One file with a header (and the label among its columns), one of bare features."""
    features = features_of(served)
    first, second = served.validation.iloc[:100], features.iloc[100:]
    store = served.context.store
    prefix = f"staging/{unique('batch')}"
    store.put_bytes(f"{prefix}/part-1.csv", first.to_csv(index=False).encode())
    store.put_bytes(f"{prefix}/part-2.csv", second.to_csv(index=False, header=False).encode())

    done = transform(served, {"data_source": f"shipyard://{prefix}"}, max_concurrent_transforms=2)
    name = done["name"]
    output_uri = f"shipyard://transform-jobs/{name}/output"
    assert done["transform_output"]["output_uri"] == done["output_uri"] == output_uri
    assert done["transform_input"]["kind"] == "prefix" and done["transform_input"]["files"] == 2
    assert [(o["input_uri"], o["output_uri"], o["records"]) for o in done["outputs"]] == [
        (f"shipyard://{prefix}/part-1.csv", f"{output_uri}/part-1.csv.out", 100),
        (f"shipyard://{prefix}/part-2.csv", f"{output_uri}/part-2.csv.out", len(second)),
    ]
    assert done["records_processed"] == len(features)
    assert done["final_metrics"]["records_processed"] == len(features)

    expected = [str(p) for p in served.loaded_model().predict(features)["predictions"]]
    written = output_lines(served, done["outputs"][0]["output_uri"]) + output_lines(
        served, done["outputs"][1]["output_uri"]
    )
    assert written == expected
    assert done["transform_output"]["sha256"] == prefix_sha256(
        store, f"transform-jobs/{name}/output"
    )

    job = srn("transform-job", name)
    output_node = srn("dataset", f"sha256-{done['transform_output']['sha256']}")
    input_node = srn("dataset", f"sha256-{done['transform_input']['sha256']}")

    def edges() -> set[tuple[str, str, str]]:
        with served.context.db.session_scope() as session:
            graph = lineage.walk(session, job)
            return {(e.source_id, e.target_id, e.relation) for e in graph.edges}

    deadline = time.monotonic() + 30
    while (job, output_node, "Produced") not in edges():  # the scheduler's next pass
        assert time.monotonic() < deadline, "the output's lineage was never recorded"
        time.sleep(0.1)
    assert (srn("model", served.model_name), job, "ContributedTo") in edges()
    assert (input_node, job, "ContributedTo") in edges()


def test_json_lines_one_record_at_a_time_on_three_threads(served):
    features = features_of(served).iloc[:60]
    path = served.root / "records.jsonl"
    path.write_text(features.to_json(orient="records", lines=True))
    done = transform(
        served,
        {"data_source": str(path), "content_type": "application/jsonlines"},
        transform_output={"accept": "application/jsonlines"},
        batch_strategy="SingleRecord",
        max_concurrent_transforms=3,
    )
    (output,) = done["outputs"]
    assert output["output_uri"].endswith("/records.jsonl.out") and output["records"] == 60
    records = [json.loads(line) for line in output_lines(served, output["output_uri"])]
    expected = served.loaded_model().predict(features)
    assert [r["prediction"] for r in records] == expected["predictions"]
    for record, probabilities in zip(records, expected["probabilities"], strict=True):
        assert record["probabilities"] == pytest.approx(probabilities)


def test_a_parquet_dataset_sent_whole(served):
    features = features_of(served).iloc[:50]
    path = served.root / "rows.parquet"
    features.to_parquet(path, index=False)
    dataset = unique("rows")
    with path.open("rb") as handle:
        uploaded = served.post(
            "/api/v1/datasets", data={"name": dataset}, files={"file": ("rows.parquet", handle)}
        )
    assert uploaded.status_code == 201, uploaded.text
    done = transform(
        served,
        {"data_source": dataset, "content_type": "application/x-parquet", "split_type": "None"},
    )
    assert done["transform_input"]["dataset_name"] == dataset
    (output,) = done["outputs"]
    expected = [str(p) for p in served.loaded_model().predict(features)["predictions"]]
    assert output_lines(served, output["output_uri"]) == expected


def test_failed_records_are_reported_beside_an_output_line_each(served):
    """Records the model cannot take get an empty output, in place, and a line in the
    file's errors file; the others are predicted, and the job completes."""
    features = features_of(served)
    rows = pd.concat([features, features]).iloc[:300].reset_index(drop=True)
    text = rows.to_csv(index=False).splitlines()
    text[4] = ",".join(["oops"] * rows.shape[1])  # record 4: not numbers
    text[150] = text[150] + ",1"  # record 150: a field too many
    text[151] = text[151].rsplit(",", 1)[0]  # record 151: one too few
    path = served.root / "broken.csv"
    path.write_text("\n".join(text) + "\n")
    done = served.transform(
        {"data_source": str(path)},
        data_processing={"join_source": "Input", "output_filter": "$[-1]"},
    )
    assert done["records_processed"] == 300 and done["records_failed"] == 3
    (output,) = done["outputs"]
    assert output["records"] == 300 and output["records_failed"] == 3
    assert output["errors_uri"] == output["output_uri"] + ".errors"
    assert done["final_metrics"]["records_failed"] == 3

    written = served.lines(output["output_uri"])
    expected = [str(p) for p in served.loaded_model().predict(rows)["predictions"]]
    failed = {4, 150, 151}
    assert len(written) == 300
    for record, (line, prediction) in enumerate(zip(written, expected, strict=True), start=1):
        assert line == ('""' if record in failed else prediction), record
    errors = [json.loads(line) for line in served.lines(output["errors_uri"])]
    assert [e["record"] for e in errors] == [4, 150, 151]
    assert "must be numeric" in errors[0]["reason"]
    assert errors[1]["reason"] == "the record has 31 fields; the header has 30"
    assert errors[2]["reason"] == "the record has 29 fields; the header has 30"


def test_a_job_whose_every_record_fails_ends_failed_with_the_first_reason(served):
    rows = features_of(served).iloc[:6]
    text = rows.to_csv(index=False).splitlines()
    text[1:] = [",".join(["bad"] * rows.shape[1])] * 6
    path = served.root / "all-bad.csv"
    path.write_text("\n".join(text) + "\n")
    done = served.run_job({"data_source": str(path)})
    assert done["status"] == "Failed"
    reason = done["failure_reason"]
    assert reason.startswith("every record failed; the first, record 1 of file://"), reason
    assert "all-bad.csv" in reason and "must be numeric" in reason
    (output,) = done["outputs"]
    assert output["records"] == output["records_failed"] == 6
    assert done["records_failed"] == 6


def test_a_bad_file_past_the_checked_ones_fails_the_job_naming_it(served, monkeypatch):
    """Create reads the first files of a prefix; the job checks every file before it
    writes anything, as create would have."""
    monkeypatch.setattr("shipyard.serving.batch.validation.MAX_CHECKED_FILES", 1)
    features = features_of(served)
    store = served.context.store
    prefix = f"staging/{unique('mixed')}"
    store.put_bytes(f"{prefix}/a.csv", features.iloc[:10].to_csv(index=False).encode())
    narrow = features.iloc[:10, :5].to_csv(index=False, header=False).encode()
    store.put_bytes(f"{prefix}/b.csv", narrow)
    done = served.run_job({"data_source": f"shipyard://{prefix}"})
    assert done["status"] == "Failed"
    assert done["failure_reason"].startswith(
        f"the first row of shipyard://{prefix}/b.csv has 5 fields"
    ), done["failure_reason"]
    assert done["outputs"] == [] and done["records_total"] is None


def test_a_model_whose_files_changed_since_it_was_created_is_not_loaded(served, tmp_path):
    """The job loads a model as an endpoint does: only if its files hash to what the model
    recorded when it was created."""
    store = served.context.store
    copy = tmp_path / "copy"
    store.get_directory(key_from_uri(served.model_data_uri), copy)
    prefix = f"uploads/{unique('tampered')}/model"
    store.put_directory(prefix, copy)
    model = unique("tampered")
    created = served.post(
        "/api/v1/models", json={"name": model, "model_data_uri": f"shipyard://{prefix}"}
    )
    assert created.status_code == 201, created.text
    manifest = f"{prefix}/shipyard-model.json"
    store.put_bytes(manifest, store.get_bytes(manifest) + b"\n")  # still valid, not the same

    rows = served.root / "rows.csv"
    features_of(served).iloc[:3].to_csv(rows, index=False)
    name = unique("bt-tampered")
    body = {"name": name, "model_name": model, "transform_input": {"data_source": str(rows)}}
    assert served.post("/api/v1/transform-jobs", json=body).status_code == 201
    done = served.wait_for(f"/api/v1/transform-jobs/{name}")
    assert done["status"] == "Failed"
    assert "ModelIntegrityError" in done["failure_reason"], done["failure_reason"]
