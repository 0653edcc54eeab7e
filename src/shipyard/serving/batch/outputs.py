"""What a transform job writes for each record, in the format ``accept`` names: the model's
answer, joined to the input record with ``join_source`` Input, narrowed by
``output_filter``. Every record has its output — the n-th output is the n-th record's — and
a record that failed has an empty one, its reason listed beside.

- ``text/csv``: a line per record, its prediction; joined: the input row's fields, then the
  prediction. A failed record's prediction is an empty field (a line ``""`` when nothing
  else is on it, so no reader skips it).
- ``application/jsonlines``: a JSON object per record, ``prediction`` and what else the
  model answers (``probabilities``, ``distance``, ``score``); joined: the input object
  with that answer under ``SageMakerOutput`` (an input that is no object goes under
  ``SageMakerInput``). A failed record's answer is ``null``.
- ``application/x-parquet``: a row per record, a column per output; joined: the input
  columns, then those. A failed record's outputs are nulls.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from shipyard.core.errors import ValidationError
from shipyard.serving.batch.records import CSV, JSON_LINES, PARQUET, Batch, Layout
from shipyard.serving.batch.selectors import Selector
from shipyard.training.algorithms import LoadedModel
from shipyard.training.algorithms.dataset import CLASSIFICATION

OUTPUT_KEY = "SageMakerOutput"
INPUT_KEY = "SageMakerInput"
OUTPUT_FILTER_FIELD = "data_processing.output_filter"
JOIN_FIELD = "data_processing.join_source"
# a record's outputs, singular, from the plural of the endpoint's answer
RECORD_KEYS = {"predictions": "prediction", "distances": "distance", "scores": "score"}
OUTPUT_KEYS: dict[str, tuple[str, ...]] = {
    "binary_classification": ("prediction", "probabilities"),
    "multiclass_classification": ("prediction", "probabilities"),
    "regression": ("prediction",),
    "clustering": ("prediction", "distance"),
    "anomaly_detection": ("prediction", "score"),
}
_PLURALS = {v: k for k, v in RECORD_KEYS.items()}
_EMPTY_CSV_LINE = b'""'
_NEEDS_QUOTES = re.compile(r'[,"\r\n]')
_QUOTE_IN_LINE = re.compile(r'[,"\r]')


@dataclass(frozen=True)
class Part:
    """Consecutive records of a mini-batch: predicted (``result``, the model's answer, as
    lists or, for parquet, arrays) or one record that failed (``reason``)."""

    batch: Batch
    result: dict[str, Any] | None = None
    reason: str | None = None


def predict_arrays(model: LoadedModel, frame: pd.DataFrame) -> dict[str, Any]:
    """The model's answer for ``frame`` as numpy arrays, what a parquet output is written
    from: ``LoadedModel.predict`` but for its last step, the lists an endpoint answers in
    (a model with a ``predict`` of its own answers through it)."""
    if type(model).predict is not LoadedModel.predict:
        return model.predict(frame)
    matrix = model.model_input(frame)
    if len(matrix) == 0:
        return model.predict(frame)
    raw = np.asarray(model.raw_predict(matrix))
    if model.problem_type in CLASSIFICATION:
        assert model.classes is not None
        return {
            "predictions": np.asarray(model.classes)[raw.argmax(axis=1)],
            "probabilities": raw.astype(np.float64),
        }
    if model.problem_type == "clustering":
        closest = raw.argmin(axis=1)
        return {"predictions": closest, "distances": raw[np.arange(len(raw)), closest]}
    if model.problem_type == "anomaly_detection":
        return {"predictions": (raw > 0).astype(np.int64), "scores": raw}
    return {"predictions": raw}


@dataclass(frozen=True)
class Rendered:
    """A mini-batch's outputs (bytes, or a parquet batch) and its records that failed."""

    body: bytes | pa.RecordBatch
    failures: list[tuple[int, str]]


class OutputFormat:
    """How the outputs of one input file are written; raises ValidationError naming the
    ``data_processing`` field when its output filter picks what the joined record lacks."""

    def __init__(
        self,
        accept: str,
        layout: Layout,
        *,
        join: bool,
        selector: Selector,
        problem_type: str,
        classes: Sequence[Any] | None,
    ) -> None:
        self.accept, self.layout, self.join, self.selector = accept, layout, join, selector
        self.keys = OUTPUT_KEYS.get(problem_type, ("prediction",))
        self.picked: list[int] | None = None
        self.schema: pa.Schema | None = None
        self.output_fields: list[pa.Field] = []
        if accept == CSV:
            self._resolve_csv()
        elif accept == PARQUET:
            self._resolve_parquet(problem_type, classes)

    # ---- set up -------------------------------------------------------------------
    def _resolve_csv(self) -> None:
        if self.join:
            width = (self.layout.width or 0) + 1
            names = None if self.layout.columns is None else [*self.layout.columns, "prediction"]
        else:
            width, names = 1, ["prediction"]
        self.picked = self._pick(names, width)

    def _resolve_parquet(self, problem_type: str, classes: Sequence[Any] | None) -> None:
        fields = [pa.field(key, _arrow_type(key, problem_type, classes)) for key in self.keys]
        self.output_fields = fields
        if self.join:
            assert self.layout.schema is not None
            taken = [f for f in fields if f.name in set(self.layout.schema.names)]
            if taken:
                raise ValidationError(
                    f"the input has a column {taken[0].name!r}, the name of an output the "
                    "joined record adds; rename it, or leave join_source None",
                    JOIN_FIELD,
                )
            fields = [*self.layout.schema, *fields]
        self.picked = self._pick([f.name for f in fields], len(fields))
        chosen = fields if self.picked is None else [fields[i] for i in self.picked]
        self.schema = pa.schema(chosen)

    def _pick(self, names: list[str] | None, width: int) -> list[int] | None:
        if self.selector.is_whole:
            return None
        try:
            if names is not None:
                return self.selector.columns(names)
            return self.selector.positions(width)
        except ValidationError as exc:
            raise ValidationError(
                f"{exc.message} (of the {'joined ' if self.join else ''}output record)",
                OUTPUT_FILTER_FIELD,
            ) from None

    def check_record(self, record: Any) -> None:
        """The output filter applies to the output of the JSON record ``record``."""
        if self.accept != JSON_LINES or self.selector.is_whole:
            return
        output = {key: None for key in self.keys}
        try:
            self.selector.select(self._joined(record, output) if self.join else output)
        except ValidationError as exc:
            where = "joined output" if self.join else "output"
            raise ValidationError(
                f"{exc.message} (of the {where} of the first record)", OUTPUT_FILTER_FIELD
            ) from None

    # ---- write --------------------------------------------------------------------
    def render(self, batch: Batch, parts: list[Part]) -> Rendered:
        """The outputs of ``batch``, whose records ``parts`` cover in order."""
        failures = [(p.batch.first, p.reason or "") for p in parts if p.result is None]
        if self.accept == PARQUET:
            return Rendered(self._parquet(batch, parts), failures)
        if self.accept == CSV:
            return Rendered(b"".join(self._csv(p) for p in parts), failures)
        lines: list[bytes] = []
        for part in parts:
            lines.extend(self._json_lines(part, failures))
        failures.sort()
        return Rendered(b"".join(lines), failures)

    def _csv(self, part: Part) -> bytes:
        if part.result is None:
            texts = [""]
            cells = [b""]
        else:
            texts = [str(p) for p in part.result["predictions"]]
            joined = "\n".join(texts)
            # one check of the whole batch: numbers and most labels need no quotes
            plain = joined.count("\n") == len(texts) - 1 and not _QUOTE_IN_LINE.search(joined)
            cells = joined.encode().split(b"\n") if plain else [_quoted(t) for t in texts]
        if not self.join and self.picked is None:
            return b"".join((cell or _EMPTY_CSV_LINE) + b"\n" for cell in cells)
        assert part.batch.lines is not None
        lines = part.batch.lines
        if self.picked is None:
            return b"".join(
                line + b"," + cell + b"\n" for line, cell in zip(lines, cells, strict=True)
            )
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        width = self.layout.width or 0
        for line, text in zip(lines if self.join else [b""] * len(texts), texts, strict=True):
            row = [*_csv_row(line, width), text] if self.join else [text]
            chosen = [row[i] for i in self.picked]
            if any(chosen):
                writer.writerow(chosen)
            else:
                out.write('""\n')
        return out.getvalue().encode()

    def _json_lines(self, part: Part, failures: list[tuple[int, str]]) -> list[bytes]:
        count = part.batch.size
        result = part.result
        outputs: list[Any] = (
            [None] * count
            if result is None
            else [{RECORD_KEYS.get(k, k): v[i] for k, v in result.items()} for i in range(count)]
        )
        lines = part.batch.lines
        rendered = []
        for offset, output in enumerate(outputs):
            value = output
            if self.join:
                value = self._joined(_record(lines[offset]) if lines else None, output)
            if not self.selector.is_whole:
                try:
                    value = self.selector.select(value)
                except ValidationError as exc:
                    if result is not None:
                        failures.append(
                            (part.batch.first + offset, f"output_filter: {exc.message}")
                        )
                    value = None
            rendered.append(json.dumps(value, default=_plain).encode() + b"\n")
        return rendered

    @staticmethod
    def _joined(record: Any, output: Any) -> Any:
        if isinstance(record, dict):
            return {**record, OUTPUT_KEY: output}
        return {INPUT_KEY: record, OUTPUT_KEY: output}

    def _parquet(self, batch: Batch, parts: list[Part]) -> pa.RecordBatch:
        assert self.schema is not None
        size = batch.size
        arrays: list[pa.Array] = []
        if self.join:
            assert batch.table is not None
            arrays.extend(batch.table.columns)
        for field in self.output_fields:
            plural = _PLURALS.get(field.name, field.name)
            if len(parts) == 1 and parts[0].result is not None:
                arrays.append(_column(parts[0].result[plural], field.type))
                continue
            values: list[Any] = []
            for part in parts:
                if part.result is None:
                    values.extend([None] * part.batch.size)
                else:
                    values.extend(_plain_list(part.result[plural]))
            assert len(values) == size
            arrays.append(pa.array(values, type=field.type))
        if self.picked is not None:
            arrays = [arrays[i] for i in self.picked]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _arrow_type(key: str, problem_type: str, classes: Sequence[Any] | None) -> pa.DataType:
    """The arrow type of an output column: the same for every batch, whatever fails."""
    if key == "probabilities":
        return pa.list_(pa.float64())
    if key in ("distance", "score") or problem_type == "regression":
        return pa.float64()
    if classes:
        return pa.array(list(classes)).type
    return pa.int64()


def _column(values: Any, arrow_type: pa.DataType) -> pa.Array:
    """An output column from its values: a list, a 1-d array, or a 2-d array of a list
    per record (probabilities), without a Python object per value."""
    if isinstance(values, np.ndarray) and values.ndim == 2:
        rows, width = values.shape
        offsets = pa.array(np.arange(0, rows * width + 1, width, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, pa.array(values.ravel())).cast(arrow_type)
    return pa.array(values, type=arrow_type)


def _plain_list(values: Any) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _quoted(text: str) -> bytes:
    if _NEEDS_QUOTES.search(text):
        text = '"' + text.replace('"', '""') + '"'
    return text.encode()


def _csv_row(line: bytes, width: int) -> list[str]:
    """The fields of a CSV line, as many as the file's records have (a failed record may
    have others: its output filter picks the same columns as every other record's)."""
    fields = next(csv.reader([line.decode("utf-8-sig", "replace")]), [])
    return (fields + [""] * width)[:width]


def _record(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return line.decode("utf-8", "replace")


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
