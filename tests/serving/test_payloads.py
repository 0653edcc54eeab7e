"""Invocation bodies: rows of numbers alone (JSON lists, a small CSV) become one numpy matrix,
anything else a DataFrame, and either reads the same to a model: the same values and
types, the same predictions, the same errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import ValidationError
from shipyard.serving.payloads import SMALL_CSV_BYTES, columns_of, parse_body, parse_rows, stack
from shipyard.training.algorithms.model_io import feature_matrix, positional_matrix


@pytest.mark.parametrize(
    ("rows", "dtypes"),
    [
        ([[1, 2], [3, 4]], ["int64", "int64"]),
        ([[1.5, 2], [3, 4]], ["float64", "float64"]),
        ([[1, "a"], [2, "b"]], ["int64", "object"]),
        ([[True, 1.0]], ["bool", "float64"]),
        ([[True, None]], ["bool", "object"]),
    ],
)
def test_positional_instances_keep_their_values_and_types(rows, dtypes) -> None:
    frame = parse_body(json.dumps({"instances": rows}).encode(), "application/json")
    assert [str(t) for t in frame.dtypes] == dtypes
    assert frame.equals(pd.DataFrame(rows).astype(dict(enumerate(dtypes))))
    assert list(frame.columns) == list(range(len(rows[0])))


@pytest.mark.parametrize(
    "body",
    [b'{"instances": [[1.5, 2], [3, 4]]}', b"[[1.5, 2], [3, 4]]", b"1.5,2\n3,4\n", b"1.5,2\r\n3,4"],
)
def test_rows_of_numbers_are_one_matrix(body) -> None:
    kind = "text/csv" if body[:1].isdigit() else "application/json"
    rows = parse_rows(body, kind)
    assert isinstance(rows, np.ndarray)
    assert rows.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert columns_of(rows) == (0, 1)


def test_a_single_json_row_of_numbers_is_one_matrix_row() -> None:
    rows = parse_rows(b"[1, 2.5, -3]", "application/json")
    assert isinstance(rows, np.ndarray) and rows.tolist() == [[1.0, 2.5, -3.0]]


@pytest.mark.parametrize(
    "body",
    [
        b"1,,3\n",  # a missing value
        b'1,"2",3\n',  # quotes
        b"1,two,3\n",
        b"1_000,2,3\n",  # a number to numpy, text to pandas
        b"1,2,3\n4,5\n",  # rows of other widths
    ],
)
def test_any_other_csv_is_read_by_pandas(body) -> None:
    rows = parse_rows(body, "text/csv")
    assert isinstance(rows, pd.DataFrame)
    assert rows.equals(pd.read_csv(io.BytesIO(body), header=None))


def test_a_large_csv_is_read_by_pandas() -> None:
    line = ",".join(["0.125"] * 30) + "\n"
    body = (line * (SMALL_CSV_BYTES // len(line) + 1)).encode()
    rows = parse_rows(body, "text/csv")
    assert isinstance(rows, pd.DataFrame)
    assert parse_rows(body[: len(line) * 10], "text/csv").tolist() == rows.values[:10].tolist()


def test_a_matrix_and_its_frame_give_a_model_the_same_features() -> None:
    names = ["a", "b", "c"]
    rows = parse_rows(b"1,2,3\n4,5,6\n", "text/csv")
    frame = parse_body(b"1,2,3\n4,5,6\n", "text/csv")
    from_matrix = positional_matrix(rows, names, np.float32, allows_missing=True)
    assert from_matrix.dtype == np.float32
    assert np.array_equal(from_matrix, feature_matrix(frame, names, np.float32, True))


def test_a_matrix_of_the_wrong_width_names_the_features() -> None:
    rows = parse_rows(b"[[1, 2]]", "application/json")
    with pytest.raises(ValidationError, match=r"expected 3 features \(a, b, c\), got 2") as info:
        positional_matrix(rows, ["a", "b", "c"], np.float32, allows_missing=True)
    assert info.value.field == "instances"


def test_a_matrix_with_missing_values_is_refused_by_a_model_that_cannot_take_them() -> None:
    rows = np.array([[1.0, np.nan]])
    with pytest.raises(ValidationError, match="missing or infinite"):
        positional_matrix(rows, ["a", "b"], np.float64, allows_missing=False)


def test_a_null_among_numbers_is_a_missing_value() -> None:
    rows = parse_rows(b"[[null, 1.5], [2, 3]]", "application/json")
    assert isinstance(rows, np.ndarray) and rows.dtype == np.float64
    assert np.isnan(rows[0, 0]) and rows[1].tolist() == [2.0, 3.0]


def test_a_record_with_a_null_is_a_missing_value() -> None:
    frame = parse_body(b'[{"a": null, "b": 1.5}]', "application/json")
    matrix = feature_matrix(frame, ["a", "b"], np.float32, allows_missing=True)
    assert np.isnan(matrix[0, 0]) and matrix[0, 1] == 1.5


def test_text_in_a_column_is_still_refused() -> None:
    frame = parse_body(b'[["x", 1.5]]', "application/json")
    with pytest.raises(ValidationError, match="feature 'a' must be numeric"):
        feature_matrix(frame, ["a", "b"], np.float32, allows_missing=True)


def test_matrices_stack_as_one_matrix_and_with_frames_as_one_frame() -> None:
    one, two = np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]])
    stacked = stack([one, two])
    assert isinstance(stacked, np.ndarray) and stacked.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    mixed = stack([one, pd.DataFrame([[5.0, "x"]])])
    assert isinstance(mixed, pd.DataFrame) and mixed.shape == (2, 2)
    assert list(mixed.index) == [0, 1]
