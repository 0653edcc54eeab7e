"""JSON instances become the same frame whether they take the numeric fast path or not:
numbers through one array, strings, booleans and nulls column by column."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from shipyard.serving.payloads import parse_body


@pytest.mark.parametrize(
    ("rows", "dtypes"),
    [
        ([[1, 2], [3, 4]], ["int64", "int64"]),
        ([[1.5, 2], [3, 4]], ["float64", "float64"]),
        ([[1, "a"], [2, "b"]], ["int64", "object"]),
        ([[True, 1.0]], ["bool", "float64"]),
        ([[None, 1.0]], ["object", "float64"]),
    ],
)
def test_positional_instances_keep_their_values_and_types(rows, dtypes) -> None:
    frame = parse_body(json.dumps({"instances": rows}).encode(), "application/json")
    assert [str(t) for t in frame.dtypes] == dtypes
    assert frame.equals(pd.DataFrame(rows).astype(dict(enumerate(dtypes))))
    assert list(frame.columns) == list(range(len(rows[0])))
