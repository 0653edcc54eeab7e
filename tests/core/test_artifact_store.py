"""The artifact store contract, on a local directory and on S3 (moto)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipyard.core import artifacts
from shipyard.core.artifacts import (
    BaseArtifactStore,
    LocalArtifactStore,
    check_key,
    key_from_uri,
    uri_for,
)
from shipyard.core.errors import NotFound, ValidationError

BAD_KEYS = [
    "",
    "/etc/passwd",
    "a//b",
    "a/",
    "../secrets",
    "models/../../etc",
    "a/./b",
    ".hidden",
    ".tmp-123",
    "a b",
    "a\\b",
    "a:b",
    "a?b",
    "a*b",
    "~root",
    "caf\u00e9",
    "a\x00b",
    "a\nb",
    "x" * 201,
]


def test_bytes_round_trip(store: BaseArtifactStore) -> None:
    store.put_bytes("models/m1/model.bin", b"\x00weights\xff")
    assert store.get_bytes("models/m1/model.bin") == b"\x00weights\xff"
    assert store.exists("models/m1/model.bin")
    assert store.size("models/m1/model.bin") == 9
    with store.open_read("models/m1/model.bin") as handle:
        assert handle.read() == b"\x00weights\xff"


def test_a_put_replaces_the_object(store: BaseArtifactStore) -> None:
    store.put_bytes("a/b", b"old")
    store.put_bytes("a/b", b"new")
    assert store.get_bytes("a/b") == b"new"


def test_file_round_trip(store: BaseArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "source.csv"
    source.write_bytes(b"a,b\n1,2\n" * 1000)
    store.put_file("datasets/d1/data.csv", source)
    destination = tmp_path / "out" / "deep" / "data.csv"
    store.get_file("datasets/d1/data.csv", destination)
    assert destination.read_bytes() == source.read_bytes()
    assert store.size("datasets/d1/data.csv") == source.stat().st_size


def test_a_missing_key_is_not_found(store: BaseArtifactStore, tmp_path: Path) -> None:
    store.put_bytes("present/x", b"1")
    assert not store.exists("absent/x")
    assert not store.exists("present")  # a prefix is not an object
    with pytest.raises(NotFound, match="shipyard://absent/x"):
        store.get_bytes("absent/x")
    with pytest.raises(NotFound):
        store.get_file("absent/x", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(NotFound):
        store.open_read("absent/x")
    with pytest.raises(NotFound):
        store.size("absent/x")


def test_list_is_sorted_and_stays_below_the_prefix(store: BaseArtifactStore) -> None:
    for key in ("run/b/2", "run/a", "run/b/1", "runner/x", "other/y"):
        store.put_bytes(key, key.encode())
    assert store.list("run") == ["run/a", "run/b/1", "run/b/2"]
    assert store.list("run/b") == ["run/b/1", "run/b/2"]
    assert store.list("run/a") == ["run/a"]
    assert store.list("nothing") == []


def test_delete_prefix(store: BaseArtifactStore) -> None:
    for key in ("run/a", "run/b/1", "runner/x"):
        store.put_bytes(key, b"1")
    store.delete_prefix("run")
    assert store.list("run") == []
    assert not store.exists("run/a")
    assert store.list("runner") == ["runner/x"]
    store.delete_prefix("run")  # nothing left: a no-op
    store.delete_prefix("runner/x")  # a single object
    assert not store.exists("runner/x")


def test_directory_round_trip(store: BaseArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "model"
    (source / "sub" / "deeper").mkdir(parents=True)
    files = {
        "model.json": b"{}",
        "sub/weights.bin": b"\x01\x02",
        "sub/deeper/notes.txt": b"hello",
    }
    for relative, content in files.items():
        (source / relative).write_bytes(content)

    keys = store.put_directory("jobs/j1/output", source)
    assert sorted(keys) == sorted(f"jobs/j1/output/{r}" for r in files)
    assert store.list("jobs/j1/output") == sorted(keys)

    destination = tmp_path / "copy"
    paths = store.get_directory("jobs/j1/output", destination)
    assert sorted(p.relative_to(destination).as_posix() for p in paths) == sorted(files)
    for relative, content in files.items():
        assert (destination / relative).read_bytes() == content


def test_a_directory_with_an_unsafe_file_name_is_refused(
    store: BaseArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "model"
    source.mkdir()
    (source / "has space.bin").write_bytes(b"1")
    with pytest.raises(ValidationError):
        store.put_directory("jobs/j1/output", source)


@pytest.mark.parametrize("key", BAD_KEYS)
def test_unsafe_keys_are_refused(store: BaseArtifactStore, key: str, tmp_path: Path) -> None:
    source = tmp_path / "f"
    source.write_bytes(b"1")
    with pytest.raises(ValidationError, match="not a valid artifact key"):
        store.put_bytes(key, b"1")
    with pytest.raises(ValidationError):
        store.put_file(key, source)
    with pytest.raises(ValidationError):
        store.get_bytes(key)
    with pytest.raises(ValidationError):
        store.list(key)
    with pytest.raises(ValidationError):
        store.delete_prefix(key)


@pytest.mark.parametrize(
    "key", ["a", "models/m-1/v=2/model_file.tar.gz", "_x/a..b", "A/" + "x" * 200]
)
def test_safe_keys_are_accepted(key: str) -> None:
    assert check_key(key) == key
    assert key_from_uri(uri_for(key)) == key


@pytest.mark.parametrize("uri", ["s3://bucket/key", "models/m1", "shipyard://../x"])
def test_only_shipyard_uris_name_artifacts(uri: str) -> None:
    with pytest.raises(ValidationError, match="uri"):
        key_from_uri(uri)


# ---- local directory: atomic writes ---------------------------------------------------
def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def test_a_local_file_write_that_fails_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    store.put_bytes("data/kept", b"old")
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * 100_000)

    def copy_half_then_fail(src: Path, dst: Path) -> None:
        Path(dst).write_bytes(Path(src).read_bytes()[:50_000])
        raise OSError("disk full")

    monkeypatch.setattr(artifacts.shutil, "copyfile", copy_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        store.put_file("data/new", source)
    with pytest.raises(OSError, match="disk full"):
        store.put_file("data/kept", source)

    assert not store.exists("data/new")
    assert store.get_bytes("data/kept") == b"old"
    assert _leftovers(store.root) == ["kept"]


def test_a_local_bytes_write_that_fails_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    store.put_bytes("data/kept", b"old")

    def fail(_fd: int) -> None:
        raise OSError("I/O error")

    monkeypatch.setattr(artifacts.os, "fsync", fail)
    with pytest.raises(OSError, match="I/O error"):
        store.put_bytes("data/kept", b"new content")
    monkeypatch.undo()

    assert store.get_bytes("data/kept") == b"old"
    assert _leftovers(store.root) == ["kept"]


def test_local_list_skips_writes_in_flight(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    store.put_bytes("data/a", b"1")
    (store.root / "data" / f"{artifacts.TEMP_PREFIX}abc").write_bytes(b"partial")
    assert store.list("data") == ["data/a"]


def test_local_store_keeps_to_its_root(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    store.put_bytes("a/b", b"1")
    assert store.local_path("a/b") == store.root / "a" / "b"
    assert os.listdir(tmp_path) == ["artifacts"]
