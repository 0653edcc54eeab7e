"""``data_processing`` of a transform job, as SageMaker's DataProcessing: the input filter
picks what of each record the model gets, ``join_source`` Input writes each output joined
to its input record, and the output filter picks what of that is written — on CSV, JSON
lines and parquet, equal to the model's own predictions."""

from __future__ import annotations

import io
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest


@pytest.fixture(scope="module")
def rows(served) -> pd.DataFrame:
    """40 held-out rows with an id column first."""
    features = served.features().iloc[:40].reset_index(drop=True)
    return pd.concat([pd.Series(range(1000, 1040), name="id"), features], axis=1)


@pytest.fixture(scope="module")
def expected(served, rows) -> dict[str, list]:
    return served.loaded_model().predict(rows.drop(columns=["id"]))


def test_csv_ids_kept_beside_the_predictions(served, rows, expected):
    """The SageMaker recipe: drop the id column going in, join, keep id and prediction."""
    path = served.root / "with-ids.csv"
    rows.to_csv(path, index=False, header=False)
    done = served.transform(
        {"data_source": str(path)},
        data_processing={
            "input_filter": "$[1:]",
            "join_source": "Input",
            "output_filter": "$[0,-1]",
        },
    )
    assert done["data_processing"] == {
        "input_filter": "$[1:]",
        "join_source": "Input",
        "output_filter": "$[0,-1]",
    }
    (output,) = done["outputs"]
    wanted = [f"{i},{p}" for i, p in zip(rows["id"], expected["predictions"], strict=True)]
    assert served.lines(output["output_uri"]) == wanted


def test_csv_joined_rows_are_the_input_line_then_the_prediction(served, rows, expected):
    """A header naming the features (and an id the model does not take): the header is
    no record; each output line is the input line, then the prediction."""
    path = served.root / "with-header.csv"
    rows.to_csv(path, index=False)
    done = served.transform({"data_source": str(path)}, data_processing={"join_source": "Input"})
    (output,) = done["outputs"]
    inputs = path.read_text().splitlines()[1:]
    wanted = [f"{line},{p}" for line, p in zip(inputs, expected["predictions"], strict=True)]
    assert served.lines(output["output_uri"]) == wanted

    by_name = served.transform(
        {"data_source": str(path)},
        data_processing={"input_filter": "$[1:]", "output_filter": "$['prediction']"},
    )
    (output,) = by_name["outputs"]
    assert served.lines(output["output_uri"]) == [str(p) for p in expected["predictions"]]


def test_json_lines_features_under_a_key_joined_and_filtered(served, rows, expected):
    path = served.root / "nested.jsonl"
    records = [
        {"id": int(row["id"]), "features": row.drop("id").tolist(), "note": "x"}
        for _, row in rows.iterrows()
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    done = served.transform(
        {"data_source": str(path), "content_type": "application/jsonlines"},
        transform_output={"accept": "application/jsonlines"},
        data_processing={
            "input_filter": "$.features",
            "join_source": "Input",
            "output_filter": "$['id','SageMakerOutput']",
        },
        max_concurrent_transforms=2,
    )
    (output,) = done["outputs"]
    written = [json.loads(line) for line in served.lines(output["output_uri"])]
    assert [w["id"] for w in written] == list(rows["id"])
    assert all(set(w) == {"id", "SageMakerOutput"} for w in written)
    answers = [w["SageMakerOutput"] for w in written]
    assert [a["prediction"] for a in answers] == expected["predictions"]
    assert [a["probabilities"] for a in answers] == expected["probabilities"]


def test_json_lists_join_under_sagemaker_input(served, rows, expected):
    path = served.root / "lists.jsonl"
    lists = rows.drop(columns=["id"]).values.tolist()
    path.write_text("".join(json.dumps(r) + "\n" for r in lists))
    done = served.transform(
        {"data_source": str(path), "content_type": "application/jsonlines"},
        transform_output={"accept": "application/jsonlines"},
        data_processing={"join_source": "Input"},
    )
    (output,) = done["outputs"]
    written = [json.loads(line) for line in served.lines(output["output_uri"])]
    assert [w["SageMakerInput"] for w in written] == lists
    assert [w["SageMakerOutput"]["prediction"] for w in written] == expected["predictions"]


def test_parquet_in_parquet_out_joined_and_filtered(served, rows, expected):
    path = served.root / "with-ids.parquet"
    rows.to_parquet(path, index=False)
    source = {"data_source": str(path), "content_type": "application/x-parquet"}
    parquet = {"accept": "application/x-parquet"}
    done = served.transform(
        source,
        transform_output=parquet,
        data_processing={"join_source": "Input", "output_filter": "$['id','prediction']"},
    )
    (output,) = done["outputs"]
    table = pq.read_table(io.BytesIO(served.stored(output["output_uri"]))).to_pandas()
    assert list(table.columns) == ["id", "prediction"]
    assert table["id"].tolist() == rows["id"].tolist()
    assert table["prediction"].tolist() == expected["predictions"]

    plain = served.transform(source, transform_output=parquet)
    (output,) = plain["outputs"]
    table = pq.read_table(io.BytesIO(served.stored(output["output_uri"])))
    assert table.column_names == ["prediction", "probabilities"]
    assert table.column("prediction").to_pylist() == expected["predictions"]
    assert table.column("probabilities").to_pylist() == expected["probabilities"]


def test_records_a_filter_does_not_fit_are_reported(served, rows, expected):
    """A record without the key the input filter picks is not sent; one without the key
    the output filter picks is predicted but has no output to write: both are failed
    records, in place, and the others are written."""
    path = served.root / "uneven.jsonl"
    records = [
        {"id": int(row["id"]), "features": row.drop("id").tolist()} for _, row in rows.iterrows()
    ]
    records[3] = {"id": 1003, "values": records[3]["features"]}  # no features
    del records[7]["id"]  # no id
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    done = served.transform(
        {"data_source": str(path), "content_type": "application/jsonlines"},
        transform_output={"accept": "application/jsonlines"},
        data_processing={
            "input_filter": "$.features",
            "join_source": "Input",
            "output_filter": "$['id','SageMakerOutput']",
        },
    )
    assert done["records_processed"] == 40 and done["records_failed"] == 2
    (output,) = done["outputs"]
    written = [json.loads(line) for line in served.lines(output["output_uri"])]
    assert written[3] == {"id": 1003, "SageMakerOutput": None}
    assert written[7] is None
    assert written[8]["SageMakerOutput"]["prediction"] == expected["predictions"][8]
    errors = [json.loads(line) for line in served.lines(output["errors_uri"])]
    assert errors == [
        {"record": 4, "reason": "$.features picks 'features'; the record has no such key"},
        {
            "record": 8,
            "reason": "output_filter: $['id','SageMakerOutput'] picks 'id'; "
            "the record has no such key",
        },
    ]
