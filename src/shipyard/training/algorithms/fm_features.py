"""The feature space of a factorization machine: the input columns as one sparse matrix.

    FeatureSpace          learned from the train channel, saved as JSON beside the model
    ├── CategoricalColumn one-hot of the ids kept from training, plus an out-of-vocabulary
    │                     bucket that takes unseen, rare and missing ids
    ├── NumericColumn     a real value, divided by the train channel's largest magnitude
    └── SparseColumn      a column of sparse rows (a libsvm table's `features`), as written

Each column owns a block of consecutive matrix columns, in the order of the input columns.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms.dataset import NUMERIC_KINDS, shorten_names

_ENTRY = re.compile(r"(\d+):(\S+)")


class _Column(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str


class CategoricalColumn(_Column):
    """Ids as text (17, 17.0 and "17" are one id); the bucket is the block's last column."""

    kind: Literal["categorical"] = "categorical"
    categories: list[str]

    @classmethod
    def learn(
        cls, name: str, values: pd.Series, min_count: int, max_categories: int
    ) -> CategoricalColumn:
        """Keep the ids seen at least `min_count` times, the `max_categories` most frequent
        (ties by id, so the vocabulary does not depend on row order)."""
        counts = category_keys(values).value_counts()
        counts = counts[counts >= min_count].sort_index(kind="stable")
        kept = counts.sort_values(ascending=False, kind="stable").index[:max_categories]
        return cls(name=name, categories=[str(key) for key in kept])

    @property
    def width(self) -> int:
        return len(self.categories) + 1

    @functools.cached_property
    def _index(self) -> pd.Index:
        return pd.Index(self.categories, dtype=object)

    def encode(self, values: pd.Series, field: str) -> sparse.csr_matrix:
        codes = self._index.get_indexer(category_keys(values).to_numpy(dtype=object))
        codes[codes < 0] = len(self.categories)
        rows = len(codes)
        return sparse.csr_matrix(
            (np.ones(rows, np.float32), codes, np.arange(rows + 1)), shape=(rows, self.width)
        )


class NumericColumn(_Column):
    """A number, scaled into [-1, 1] on the train channel so that no one feature dominates
    the pairwise products; missing values are refused."""

    kind: Literal["numeric"] = "numeric"
    scale: float = Field(gt=0)

    @classmethod
    def learn(cls, name: str, values: pd.Series) -> NumericColumn:
        largest = float(np.max(np.abs(_finite(name, values, "channels.train")), initial=0.0))
        return cls(name=name, scale=largest or 1.0)

    @property
    def width(self) -> int:
        return 1

    def encode(self, values: pd.Series, field: str) -> sparse.csr_matrix:
        scaled = (_finite(self.name, values, field) / self.scale).astype(np.float32)
        rows = len(scaled)
        return sparse.csr_matrix(
            (scaled, np.zeros(rows, np.int32), np.arange(rows + 1)), shape=(rows, 1)
        )


class SparseColumn(_Column):
    """Sparse rows whose indices are column numbers below `width` (the train channel's
    largest index + 1); a larger index, unknown to the model, is left out like an unseen id.

    A row is a list of {"index", "value"} entries (a libsvm table's Arrow column), a mapping
    {index: value}, or libsvm text "index:value ..." (a leading label is ignored).
    """

    kind: Literal["sparse"] = "sparse"
    width: int = Field(ge=1)

    @classmethod
    def learn(cls, name: str, values: pd.Series) -> SparseColumn:
        rows = sparse_rows(name, values, "channels.train")
        return cls(name=name, width=int(rows.indices.max(initial=-1)) + 1 or 1)

    def encode(self, values: pd.Series, field: str) -> sparse.csr_matrix:
        rows = sparse_rows(self.name, values, field)
        kept = rows.indices < self.width
        if not kept.all():
            cumulative = np.concatenate(([0], np.cumsum(kept)))
            rows = sparse.csr_matrix(
                (rows.data[kept], rows.indices[kept], cumulative[rows.indptr]),
                shape=(rows.shape[0], self.width),
            )
        rows.resize(rows.shape[0], self.width)
        return rows


FeatureColumn = Annotated[
    CategoricalColumn | NumericColumn | SparseColumn, Field(discriminator="kind")
]


class FeatureSpace(BaseModel):
    """The columns a model reads, in order, each encoded into its block of the matrix."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: list[FeatureColumn]

    @classmethod
    def learn(
        cls,
        features: pd.DataFrame,
        categorical: Sequence[str],
        *,
        min_category_count: int,
        max_categories: int,
    ) -> FeatureSpace:
        """Every column of `features` (the train channel less its target): the categorical
        ones as named, sparse rows and numbers as they are; any other column is refused with
        ValidationError(field="channels.train")."""
        columns: list[FeatureColumn] = []
        for label in features.columns:
            name, values = str(label), features[label]
            if name in categorical:
                columns.append(
                    CategoricalColumn.learn(name, values, min_category_count, max_categories)
                )
            elif is_sparse_rows(values):
                columns.append(SparseColumn.learn(name, values))
            elif values.dtype.kind in NUMERIC_KINDS:
                columns.append(NumericColumn.learn(name, values))
            else:
                raise ValidationError(
                    f"feature column '{name}' has type {values.dtype}; name it in "
                    "hyperparameters.categorical_columns to one-hot encode it",
                    field="channels.train",
                )
        if not columns:
            raise ValidationError("has no feature columns", field="channels.train")
        return cls(columns=columns)

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def dimension(self) -> int:
        return sum(column.width for column in self.columns)

    def encode(self, frame: pd.DataFrame, field: str) -> sparse.csr_matrix:
        """The float32 CSR matrix (rows × `dimension`) of `frame`, whose columns are the
        feature names in any order, or as many integer (positional) columns, as a CSV read
        without header; anything else raises ValidationError(field=`field`)."""
        by_name = self._aligned(frame, field)
        blocks = [column.encode(by_name[column.name], field) for column in self.columns]
        return sparse.hstack(blocks, format="csr", dtype=np.float32)

    def _aligned(self, frame: pd.DataFrame, field: str) -> Mapping[str, pd.Series]:
        labels = frame.columns.tolist()
        if len(labels) == len(self.columns) and all(
            isinstance(label, int | np.integer) for label in labels
        ):
            return {column.name: frame.iloc[:, i] for i, column in enumerate(self.columns)}
        by_name = {str(label): label for label in labels}
        if len(by_name) == len(labels) and set(by_name) == set(self.names):
            return {name: frame[label] for name, label in by_name.items()}
        missing = [n for n in self.names if n not in by_name]
        unexpected = [n for n in by_name if n not in self.names]
        raise ValidationError(
            f"expected the feature columns {shorten_names(self.names)}; "
            f"missing {missing}, unexpected {unexpected}",
            field=field,
        )


def category_keys(values: pd.Series) -> pd.Series:
    """The ids of a column as text, missing ones as <NA>; whole floats (ids of a CSV column
    with gaps) lose their '.0'."""
    if values.dtype.kind == "f" and bool((values.dropna() % 1 == 0).all()):
        values = values.astype("Int64")
    return values.astype("string")


def is_sparse_rows(values: pd.Series) -> bool:
    """Whether `values` is an Arrow column of lists of {index, value} structs."""
    dtype = values.dtype
    if not isinstance(dtype, pd.ArrowDtype) or not pa.types.is_list(dtype.pyarrow_dtype):
        return False
    entry = dtype.pyarrow_dtype.value_type
    return pa.types.is_struct(entry) and {f.name for f in entry} == {"index", "value"}


def sparse_rows(name: str, values: pd.Series, field: str) -> sparse.csr_matrix:
    """The rows of a sparse column as a CSR matrix as wide as its largest index + 1."""
    if is_sparse_rows(values):
        rows = pa.array(values)
        offsets = rows.offsets.to_numpy()
        entries = rows.flatten()
        indices = entries.field("index").to_numpy(zero_copy_only=False)
        data = entries.field("value").to_numpy(zero_copy_only=False).astype(np.float32)
        indptr = offsets - offsets[0]
    else:
        indices, data, indptr = _parsed_rows(name, values, field)
    if len(indices) and indices.min() < 0:
        raise ValidationError(f"feature '{name}' has a negative index", field=field)
    if not np.isfinite(data).all():
        raise ValidationError(f"feature '{name}' has missing or infinite values", field=field)
    width = int(indices.max(initial=-1)) + 1
    return sparse.csr_matrix((data, indices, indptr), shape=(len(values), width))


def _parsed_rows(
    name: str, values: pd.Series, field: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    indices: list[int] = []
    data: list[float] = []
    indptr = [0]
    for number, row in enumerate(values.tolist()):
        for index, value in _row_entries(row, name, number, field):
            indices.append(index)
            data.append(value)
        indptr.append(len(indices))
    return np.array(indices, np.int64), np.array(data, np.float32), np.array(indptr, np.int64)


def _row_entries(row: Any, name: str, number: int, field: str) -> list[tuple[int, float]]:
    where = f"feature '{name}' of row {number}"
    if row is None or (isinstance(row, float) and np.isnan(row)):
        return []
    try:
        if isinstance(row, Mapping):
            return [(int(index), float(value)) for index, value in row.items()]
        if isinstance(row, str):
            tokens = row.split()
            if tokens and ":" not in tokens[0]:
                tokens = tokens[1:]  # a whole libsvm line: its label is not a feature
            entries = [_ENTRY.fullmatch(token) for token in tokens]
            if None in entries:
                raise ValueError(f"expected 'index:value' entries, got {row[:60]!r}")
            return [(int(m.group(1)), float(m.group(2))) for m in entries if m is not None]
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{where} is not sparse features ({exc})", field=field) from None
    raise ValidationError(
        f"{where} must be an object {{index: value}} or 'index:value ...' text, "
        f"got {type(row).__name__}",
        field=field,
    )


def _finite(name: str, values: pd.Series, field: str) -> np.ndarray:
    if values.dtype.kind not in NUMERIC_KINDS:
        raise ValidationError(f"feature '{name}' must be numeric, got {values.dtype}", field=field)
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(numbers).all():
        raise ValidationError(
            f"feature column '{name}' has missing or infinite values", field=field
        )
    return numbers
