"""Datasets and uploads: stored once, under their content hash."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.core.artifacts import LocalArtifactStore, key_from_uri
from shipyard.core.db import Database
from shipyard.core.errors import AlreadyExists, NotFound, ValidationError
from shipyard.data import service

TABLE = b"amount,country,label\n1.5,FR,0\n2.0,DE,1\n"
OTHER_TABLE = b"amount,country,label\n9.5,IT,1\n"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'shipyard.db'}")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def _create(
    db: Database,
    store: LocalArtifactStore,
    scratch: Path,
    content: bytes,
    *,
    name: str = "fraud",
    filename: str | None = "fraud.csv",
    declared_format: str | None = None,
) -> dict[str, object]:
    with db.session_scope() as session:
        dataset = service.create_dataset(
            session,
            store,
            name=name,
            filename=filename,
            stream=io.BytesIO(content),
            declared_format=declared_format,
            owner="alice",
            scratch=scratch,
        )
        return {c: getattr(dataset, c) for c in ("name", "uri", "sha256", "size_bytes", "columns")}


def test_create_dataset_stores_the_table(
    db: Database, store: LocalArtifactStore, tmp_path: Path
) -> None:
    dataset = _create(db, store, tmp_path / "scratch", TABLE)
    assert dataset["sha256"] == hashlib.sha256(TABLE).hexdigest()
    assert dataset["size_bytes"] == len(TABLE)
    assert dataset["columns"] == ["amount", "country", "label"]
    assert store.get_bytes(key_from_uri(str(dataset["uri"]))) == TABLE
    assert list((tmp_path / "scratch").iterdir()) == []  # the spooled upload is gone


def test_create_dataset_is_idempotent_for_the_same_content(
    db: Database, store: LocalArtifactStore, tmp_path: Path
) -> None:
    first = _create(db, store, tmp_path, TABLE)
    again = _create(db, store, tmp_path, TABLE, filename="renamed.csv")
    assert again == first
    with db.session_scope() as session:
        assert [d.name for d in service.list_datasets(session, limit=10, offset=0)] == ["fraud"]


def test_create_dataset_refuses_the_same_name_with_other_content(
    db: Database, store: LocalArtifactStore, tmp_path: Path
) -> None:
    first = _create(db, store, tmp_path, TABLE)
    with pytest.raises(AlreadyExists, match="different content") as raised:
        _create(db, store, tmp_path, OTHER_TABLE)
    assert raised.value.status_code == 409
    with db.session_scope() as session:
        assert service.get_dataset(session, "fraud").sha256 == first["sha256"]
    assert store.list("datasets/fraud") == [key_from_uri(str(first["uri"]))]


@pytest.mark.parametrize(
    ("kwargs", "content", "message"),
    [
        ({"name": "../escape"}, TABLE, "name: "),
        ({"name": "-lead"}, TABLE, "name: "),
        ({"filename": "notes.txt"}, b"just prose\nno table\n", "file: "),
        ({"declared_format": "xlsx"}, TABLE, "format: "),
        ({"filename": "data.parquet"}, TABLE, "not a readable Parquet"),
    ],
)
def test_create_dataset_refuses_bad_input(
    db: Database,
    store: LocalArtifactStore,
    tmp_path: Path,
    kwargs: dict[str, str],
    content: bytes,
    message: str,
) -> None:
    with pytest.raises(ValidationError, match=message):
        _create(db, store, tmp_path / "scratch", content, **kwargs)  # type: ignore[arg-type]
    with db.session_scope() as session:
        assert list(service.list_datasets(session, limit=10, offset=0)) == []
    assert not (tmp_path / "artifacts" / "datasets").exists()


def test_an_unsafe_file_name_is_cleaned(
    db: Database, store: LocalArtifactStore, tmp_path: Path
) -> None:
    dataset = _create(db, store, tmp_path, TABLE, filename="../../etc/my data.csv")
    assert str(dataset["uri"]).endswith("/my_data.csv")


def test_delete_dataset_removes_its_files(
    db: Database, store: LocalArtifactStore, tmp_path: Path
) -> None:
    _create(db, store, tmp_path, TABLE)
    with db.session_scope() as session:
        service.delete_dataset(session, store, "fraud")
    assert store.list("datasets/fraud") == []
    with pytest.raises(NotFound), db.session_scope() as session:
        service.get_dataset(session, "fraud")


def test_store_upload_keeps_the_file_under_its_hash(
    store: LocalArtifactStore, tmp_path: Path
) -> None:
    content = b"\x1f\x8b a source bundle"
    upload = service.store_upload(
        store, filename="train.tar.gz", stream=io.BytesIO(content), scratch=tmp_path
    )
    digest = hashlib.sha256(content).hexdigest()
    assert (upload.sha256, upload.size_bytes) == (digest, len(content))
    key = key_from_uri(upload.uri)
    assert key == f"uploads/{digest[:32]}/train.tar.gz"
    assert store.get_bytes(key) == content

    again = service.store_upload(
        store, filename="train.tar.gz", stream=io.BytesIO(content), scratch=tmp_path
    )
    assert again == upload
    assert store.list("uploads") == [key]


def test_store_upload_refuses_an_empty_file(store: LocalArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="file: the uploaded file is empty"):
        service.store_upload(store, filename="x.bin", stream=io.BytesIO(b""), scratch=tmp_path)
    assert store.list("uploads") == []
