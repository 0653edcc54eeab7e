"""``resolve_table``: a channel is a readable CSV or Parquet table in an allowed place."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shipyard.core.artifacts import LocalArtifactStore
from shipyard.core.errors import ValidationError
from shipyard.data.tables import TableRef, resolve_table

FIELD = "channels.train"
FRAME = pd.DataFrame(
    {"amount": [1.5, 2.0, 3.25], "country": ["FR", "DE", "FR"], "label": [0, 1, 0]}
)
COLUMNS = ["amount", "country", "label"]


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def _resolve(raw: str, store: LocalArtifactStore, root: Path, fmt: str | None = None) -> TableRef:
    return resolve_table(raw, store=store, roots=[root], declared_format=fmt, field=FIELD)


def _csv_bytes() -> bytes:
    return FRAME.to_csv(index=False).encode()


def _parquet_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "frame.parquet"
    FRAME.to_parquet(path, index=False)
    return path.read_bytes()


@pytest.mark.parametrize("name", ["table.csv", "table.parquet", "table.pq"])
def test_a_table_in_the_artifact_store(
    name: str, store: LocalArtifactStore, root: Path, tmp_path: Path
) -> None:
    content = _parquet_bytes(tmp_path) if name != "table.csv" else _csv_bytes()
    store.put_bytes(f"datasets/d1/{name}", content)

    table = _resolve(f"shipyard://datasets/d1/{name}", store, root)
    assert table.uri == f"shipyard://datasets/d1/{name}"
    assert table.format == ("csv" if name == "table.csv" else "parquet")
    assert table.columns == COLUMNS


@pytest.mark.parametrize("name", ["table.csv", "nested/table.parquet"])
def test_a_table_inside_the_data_roots(
    name: str, store: LocalArtifactStore, root: Path, tmp_path: Path
) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_parquet_bytes(tmp_path) if name.endswith(".parquet") else _csv_bytes())

    for raw in (str(path), path.as_uri()):
        table = _resolve(raw, store, root)
        assert table.uri == path.as_uri()
        assert table.columns == COLUMNS


def test_a_declared_format_wins_over_the_suffix(
    store: LocalArtifactStore, root: Path, tmp_path: Path
) -> None:
    (root / "export.dat").write_bytes(_parquet_bytes(tmp_path))
    assert _resolve(str(root / "export.dat"), store, root, "parquet").format == "parquet"


def test_a_path_outside_the_roots_is_refused(
    store: LocalArtifactStore, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere.csv"
    outside.write_bytes(_csv_bytes())
    with pytest.raises(ValidationError) as raised:
        _resolve(str(outside), store, root)
    assert raised.value.message.startswith(f"{FIELD}: ")
    assert "outside the allowed data roots" in raised.value.message


@pytest.mark.parametrize("escape", ["../elsewhere.csv", "sub/../../elsewhere.csv"])
def test_a_dotdot_escape_from_a_root_is_refused(
    escape: str, store: LocalArtifactStore, root: Path, tmp_path: Path
) -> None:
    (tmp_path / "elsewhere.csv").write_bytes(_csv_bytes())
    (root / "sub").mkdir()
    with pytest.raises(ValidationError, match="outside the allowed data roots"):
        _resolve(f"{root}/{escape}", store, root)


def test_a_symlink_out_of_a_root_is_refused(
    store: LocalArtifactStore, root: Path, tmp_path: Path
) -> None:
    (tmp_path / "elsewhere.csv").write_bytes(_csv_bytes())
    (root / "link.csv").symlink_to(tmp_path / "elsewhere.csv")
    with pytest.raises(ValidationError, match="outside the allowed data roots"):
        _resolve(str(root / "link.csv"), store, root)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("relative/table.csv", "must be absolute"),
        ("s3://bucket/table.csv", "unsupported location"),
        ("shipyard://datasets/../x.csv", "not a valid artifact key"),
        ("shipyard://datasets/absent.csv", "does not exist"),
        ("", "expected an artifact URI or a local path"),
    ],
)
def test_a_bad_location_is_refused(
    raw: str, message: str, store: LocalArtifactStore, root: Path
) -> None:
    with pytest.raises(ValidationError, match=message):
        _resolve(raw, store, root)


def test_a_missing_file_is_refused(store: LocalArtifactStore, root: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist") as raised:
        _resolve(str(root / "absent.csv"), store, root)
    assert raised.value.message.startswith(f"{FIELD}: ")


PROSE = (
    b"It was the best of times, it was the worst of times, it was the age of wisdom,\n"
    b"it was the age of foolishness.\n"
    b"\n"
    b"There were a king with a large jaw and a queen with a plain face, on the throne.\n"
)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("prose.csv", PROSE, "not a CSV table"),
        ("prose.txt", b"Just some notes about the data\nnothing tabular here\n", "not a CSV"),
        ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
        ("latin.csv", b"a,b\n\xff\xfe,\xfa\n", "not a valid CSV"),
        ("one-column.csv", b"label\n0\n1\n1\n", "at least 2"),
        ("ragged.csv", b"a,b,c\n1,2,3\n4,5\n", "row 3 has 2 fields but the header has 3"),
        ("empty.csv", b"", "not a valid CSV"),
        ("corrupt.parquet", b"PAR1" + b"\x00garbage" * 100, "not a readable Parquet"),
        ("truncated.parquet", None, "not a readable Parquet"),
    ],
)
def test_a_file_that_is_not_a_table_is_refused(
    name: str,
    content: bytes | None,
    message: str,
    store: LocalArtifactStore,
    root: Path,
    tmp_path: Path,
) -> None:
    if content is None:
        content = _parquet_bytes(tmp_path)[:-100]
    (root / name).write_bytes(content)
    store.put_bytes(f"datasets/d1/{name}", content)

    for raw in (str(root / name), f"shipyard://datasets/d1/{name}"):
        with pytest.raises(ValidationError, match=message) as raised:
            _resolve(raw, store, root)
        assert raised.value.message.startswith(f"{FIELD}: ")


def test_a_csv_with_quoted_commas_and_missing_values_is_a_table(
    store: LocalArtifactStore, root: Path
) -> None:
    (root / "quoted.csv").write_bytes(b'name,notes,x\n"Smith, J.","says ""hi""",1\nDoe,,\n')
    assert _resolve(str(root / "quoted.csv"), store, root).columns == ["name", "notes", "x"]
