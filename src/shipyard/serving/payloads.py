"""Invocation bodies in and out: JSON records or instances, CSV rows; JSON or CSV back.

Features of numbers alone (JSON lists of numbers, a CSV of numbers) are parsed straight to one
numpy matrix, what a model of positional features predicts on: no DataFrame between, which
costs more than the prediction of one row. Anything else becomes a DataFrame.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms.model_io import Features, as_frame

MAX_ROWS = 100_000
SMALL_CSV_BYTES = 65_536
"""Up to this size a CSV of numbers is read by numpy (8 µs for a row of 30, pandas 900);
beyond, by pandas (about 270 rows: where numpy's conversion per value costs more)."""


def parse_body(body: bytes, content_type: str) -> pd.DataFrame:
    """Features to predict on. Named columns from JSON records, positional ones otherwise: a JSON
    list of strings (or `{"instances": [...]}` of them) is one column of documents."""
    return as_frame(parse_rows(body, content_type))


def parse_rows(body: bytes, content_type: str) -> Features:
    """`parse_body`, but rows of numbers alone come back as a numpy matrix."""
    kind = content_type.split(";")[0].strip().lower()
    if kind in ("text/csv", "application/csv"):
        return _parse_csv(body)
    if kind in ("application/json", ""):
        return _parse_json(body)
    raise ValidationError(
        f"unsupported content type {content_type!r}; expected application/json or text/csv",
        "Content-Type",
    )


def columns_of(rows: Features) -> tuple[Any, ...]:
    """The rows' column labels: a matrix's are its positions, as in a CSV without header."""
    if isinstance(rows, np.ndarray):
        return tuple(range(rows.shape[1]))
    return tuple(rows.columns)


def stack(parts: list[Features]) -> Features:
    """The rows of ``parts`` (of the same columns) one after the other."""
    if all(isinstance(part, np.ndarray) for part in parts):
        return np.concatenate(parts)
    return pd.concat([as_frame(part) for part in parts], ignore_index=True, copy=False)


def _parse_csv(body: bytes) -> Features:
    if not body.strip():
        raise ValidationError("the CSV body is empty", "body")
    numbers = _csv_numbers(body)
    if numbers is not None:
        return _limit(numbers)
    try:
        frame = pd.read_csv(io.BytesIO(body), header=None)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValidationError(f"not valid CSV ({str(exc).splitlines()[0]})", "body") from None
    return _limit(frame)


def _csv_numbers(body: bytes) -> np.ndarray | None:
    """A small CSV of numbers, every row as wide, as a matrix; None for anything else
    (quotes, missing values, text), and for a large body, which pandas reads faster."""
    if len(body) > SMALL_CSV_BYTES or b"_" in body:  # numpy, not pandas, reads 1_000
        return None
    try:
        lines = body.decode("ascii").splitlines()
    except UnicodeDecodeError:
        return None
    widths = {line.count(",") for line in lines}
    if len(widths) != 1:
        return None
    try:
        values = np.array(",".join(lines).split(","), dtype=np.float64)
    except ValueError:
        return None
    return values.reshape(len(lines), widths.pop() + 1)


def _parse_json(body: bytes) -> Features:
    try:
        document: Any = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"not valid JSON ({exc})", "body") from None
    if isinstance(document, dict) and "instances" in document:
        document = document["instances"]
    elif isinstance(document, dict):
        document = [document]
    if not isinstance(document, list) or not document:
        raise ValidationError(
            'expected a non-empty list of records or {"instances": [...]}', "instances"
        )
    if all(isinstance(row, dict) for row in document):
        return _limit(pd.DataFrame.from_records(document))
    if all(isinstance(row, list) for row in document):
        widths = {len(row) for row in document}
        if len(widths) != 1:
            raise ValidationError("every instance must have the same number of values", "instances")
        return _limit(_positional(document))
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in document):
        return _positional([document])
    if all(isinstance(v, str) for v in document):  # documents, one per row, for text models
        return _limit(pd.DataFrame({0: document}))
    raise ValidationError(
        "instances must all be records (objects), all be lists or all be strings", "instances"
    )


def _positional(rows: list[list[Any]]) -> Features:
    """Features of positional values: a matrix when all are numbers (a null is NaN there)."""
    matrix = np.asarray(rows)
    if matrix.ndim == 2 and matrix.dtype.kind in "iufO" and _numbers_or_nulls(rows):
        return matrix if matrix.dtype.kind != "O" else np.array(rows, dtype=np.float64)
    return pd.DataFrame(rows)  # strings, booleans or a mix: each column its own type


def _numbers_or_nulls(rows: list[list[Any]]) -> bool:
    return all(
        value is None or (type(value) is not bool and isinstance(value, int | float))
        for row in rows
        for value in row
    )


def _limit(rows: Features) -> Features:
    if len(rows) > MAX_ROWS:
        raise ValidationError(f"at most {MAX_ROWS} instances per request", "instances")
    return rows


def render(result: dict[str, Any], accept: str) -> tuple[bytes, str]:
    """The response body and its content type: CSV of predictions when asked, else JSON.
    An answer without one prediction per row (a forecast) has no CSV form: asking for it is
    a ValidationError naming `Accept`."""
    if "text/csv" in accept and "application/json" not in accept:
        if "predictions" not in result:
            raise ValidationError("this model answers in application/json only", "Accept")
        lines = "\n".join(str(p) for p in result["predictions"])
        return (lines + "\n").encode(), "text/csv"
    return json.dumps(result, default=_jsonable).encode(), "application/json"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
