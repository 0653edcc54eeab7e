"""Invocation bodies in and out: JSON records or instances, CSV rows; JSON or CSV back."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd

from shipyard.core.errors import ValidationError

MAX_ROWS = 100_000


def parse_body(body: bytes, content_type: str) -> pd.DataFrame:
    """Rows to predict on. Named columns from JSON records, positional ones otherwise: a JSON
    list of strings (or `{"instances": [...]}` of them) is one column of documents."""
    kind = content_type.split(";")[0].strip().lower()
    if kind in ("text/csv", "application/csv"):
        return _parse_csv(body)
    if kind in ("application/json", ""):
        return _parse_json(body)
    raise ValidationError(
        f"unsupported content type {content_type!r}; expected application/json or text/csv",
        "Content-Type",
    )


def _parse_csv(body: bytes) -> pd.DataFrame:
    if not body.strip():
        raise ValidationError("the CSV body is empty", "body")
    try:
        frame = pd.read_csv(io.BytesIO(body), header=None)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValidationError(f"not valid CSV ({str(exc).splitlines()[0]})", "body") from None
    return _limit(frame)


def _parse_json(body: bytes) -> pd.DataFrame:
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
        return pd.DataFrame([document])
    if all(isinstance(v, str) for v in document):  # documents, one per row, for text models
        return _limit(pd.DataFrame({0: document}))
    raise ValidationError(
        "instances must all be records (objects), all be lists or all be strings", "instances"
    )


def _positional(rows: list[list[Any]]) -> pd.DataFrame:
    """Rows of positional values; all numbers go through one numpy array (a DataFrame
    built from lists checks each column's values one by one: ten times slower)."""
    matrix = np.asarray(rows)
    numbers = matrix.ndim == 2 and matrix.dtype.kind in "iuf"
    if numbers and not any(type(value) is bool for row in rows for value in row):
        return pd.DataFrame(matrix)
    return pd.DataFrame(rows)  # strings, booleans, nulls or a mix: each column its own type


def _limit(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame) > MAX_ROWS:
        raise ValidationError(f"at most {MAX_ROWS} instances per request", "instances")
    return frame


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
