"""libsvm channels: recognised by suffix or declaration, checked line by line, read as a table
of `label` and a column of sparse rows."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.core.artifacts import LocalArtifactStore
from shipyard.core.db import Database
from shipyard.core.errors import ValidationError
from shipyard.data import service
from shipyard.data.tables import (
    SNIFF_BYTES,
    columns_of,
    format_from_name,
    read_table,
    resolve_table,
)

FIELD = "channels.train"
LIBSVM = b"# clicks\n1 3:1 7:0.5\n0 qid:4 2:1\n\n1\n0 1:2e-1 3:1 # a comment\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'shipyard.db'}")
    database.migrate()
    yield database
    database.dispose()


def _columns(content: bytes) -> list[str]:
    return columns_of(io.BytesIO(content), "libsvm", FIELD)


@pytest.mark.parametrize(
    ("name", "declared", "expected"),
    [
        ("clicks.libsvm", None, "libsvm"),
        ("clicks.SVM", None, "libsvm"),
        ("clicks.txt", "libsvm", "libsvm"),
        ("clicks.libsvm", "csv", "csv"),
    ],
)
def test_the_format_comes_from_the_suffix_unless_declared(
    name: str, declared: str | None, expected: str
) -> None:
    assert format_from_name(name, declared, FIELD) == expected


def test_an_unknown_declared_format_lists_libsvm() -> None:
    with pytest.raises(ValidationError, match="expected csv, parquet or libsvm"):
        format_from_name("clicks.txt", "svmlight", FIELD)


def test_a_libsvm_file_has_a_label_and_a_features_column(root: Path, tmp_path: Path) -> None:
    (root / "clicks.svm").write_bytes(LIBSVM)
    store = LocalArtifactStore(tmp_path / "artifacts")
    table = resolve_table(
        str(root / "clicks.svm"), store=store, roots=[root], declared_format=None, field=FIELD
    )
    assert (table.format, table.columns) == ("libsvm", ["label", "features"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"1 3:1\n0 2:1\nlabel,user,item\n", "line 3 is not 'label index:value ...'"),
        (b"1 3:1 7\n", "line 1 is not"),
        (b"1 -3:1\n", "line 1 is not"),
        (b"1 3:1\n0 5:1 4:1\n", "the indices of line 2 do not increase"),
        (b"1 3:1 3:2\n", "the indices of line 1 do not increase"),
        (b"yes 3:1\n", "line 1 is not"),
        (b"1 3:1\x00\x00", "binary data"),
        (b"\n\n", "no data lines"),
    ],
)
def test_a_file_that_is_not_libsvm_names_its_first_bad_line(content: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as raised:
        _columns(content)
    assert raised.value.field == FIELD


def test_a_sample_cut_inside_a_long_line_is_still_libsvm() -> None:
    long_line = "1 " + " ".join(f"{i}:0.5" for i in range(SNIFF_BYTES // 6)) + "\n"
    assert _columns(long_line.encode()) == ["label", "features"]


def test_reading_gives_labels_and_sparse_rows(tmp_path: Path) -> None:
    path = tmp_path / "clicks.libsvm"
    path.write_bytes(LIBSVM)
    frame = read_table(path, "libsvm")
    assert frame.columns.tolist() == ["label", "features"]
    assert frame["label"].dtype == np.int64  # whole labels read as a CSV column would
    assert frame["label"].tolist() == [1, 0, 1, 0]
    rows = frame["features"].tolist()
    assert [[(e["index"], e["value"]) for e in row] for row in rows] == [
        [(3, 1.0), (7, 0.5)],
        [(2, 1.0)],
        [],
        [(1, pytest.approx(0.2)), (3, 1.0)],
    ]


def test_fractional_labels_stay_floats(tmp_path: Path) -> None:
    path = tmp_path / "ratings.libsvm"
    path.write_bytes(b"4.5 1:1\n3 2:1\n")
    assert read_table(path, "libsvm")["label"].dtype == np.float64


def test_a_bad_line_past_the_sample_fails_the_read_with_a_validation_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "clicks.libsvm"
    path.write_bytes(b"1 3:1\n" * (SNIFF_BYTES // 6 + 10) + b"1 3:x\n")
    assert _columns(path.read_bytes()) == ["label", "features"]
    with pytest.raises(ValidationError, match="clicks.libsvm is not a valid libsvm file"):
        read_table(path, "libsvm")


def test_a_libsvm_upload_is_a_dataset(db: Database, tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    with db.session_scope() as session:
        dataset = service.create_dataset(
            session,
            store,
            name="clicks",
            filename="clicks.libsvm",
            stream=io.BytesIO(LIBSVM),
            declared_format=None,
            owner="alice",
            scratch=tmp_path,
        )
        assert (dataset.format, dataset.columns) == ("libsvm", ["label", "features"])
        assert dataset.uri.endswith("/clicks.libsvm")


def test_a_frame_of_sparse_rows_survives_row_selection(tmp_path: Path) -> None:
    path = tmp_path / "clicks.libsvm"
    path.write_bytes(LIBSVM)
    frame = read_table(path, "libsvm")
    picked = frame.sample(frac=1.0, random_state=0).iloc[1:]
    assert isinstance(picked["features"].dtype, pd.ArrowDtype)
    assert len(picked) == 3
