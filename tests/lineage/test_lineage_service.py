"""The lineage service on every DB backend and artifact store: resolving what a user
types to one entity, and the cache of content hashes."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from shipyard.core.errors import NotFound, ValidationError
from shipyard.data import service as data
from shipyard.lineage import service as lineage
from shipyard.lineage.service import Entity

SHA_A = "a" * 12 + hashlib.sha256(b"a").hexdigest()[12:]
SHA_B = "a" * 12 + hashlib.sha256(b"b").hexdigest()[12:]  # shares A's first 12 digits
SHA_C = hashlib.sha256(b"c").hexdigest()


def record_world(database) -> None:
    """One name, ``fraud``, for an endpoint, a model and a training job; a package; two
    datasets whose hashes share a 12-digit prefix; two jobs of different kinds named twin."""
    with database.session_scope() as session:
        train = lineage.dataset(SHA_A, "shipyard://datasets/fraud-data/x/train.csv", "fraud-data")
        job = Entity("training-job", "fraud")
        lineage.record(session, train, job)
        lineage.record(session, lineage.dataset(SHA_B, "file:///data/b.csv"), job)
        lineage.record(session, lineage.dataset(SHA_C, "file:///data/c.csv"), job)
        lineage.record(session, job, Entity("model", "fraud"), "Produced")
        lineage.record(session, Entity("model", "fraud"), Entity("endpoint", "fraud"), "DeployedAs")
        lineage.record(session, job, Entity("model", "solo"), "Produced")
        lineage.record(
            session,
            Entity("model", "fraud"),
            Entity("model-package", "fraud-group/3"),
            "Registered",
        )
        lineage.record(session, train, Entity("training-job", "twin"))
        lineage.record(session, train, Entity("processing-job", "twin"))
        lineage.record(session, Entity("tuning-job", "sweep"), job, "Ran")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("fraud", "srn:shipyard:endpoint/fraud"),  # an endpoint before the model and the job
        ("fraud-group/3", "srn:shipyard:model-package/fraud-group/3"),
        ("fraud-data", f"srn:shipyard:dataset/sha256-{SHA_A}"),
        ("solo", "srn:shipyard:model/solo"),
        ("sweep", "srn:shipyard:tuning-job/sweep"),
        (SHA_C, f"srn:shipyard:dataset/sha256-{SHA_C}"),
        (SHA_C[:12], f"srn:shipyard:dataset/sha256-{SHA_C}"),
        (f"sha256-{SHA_C[:20]}", f"srn:shipyard:dataset/sha256-{SHA_C}"),
        (SHA_C[:16].upper(), f"srn:shipyard:dataset/sha256-{SHA_C}"),
        (SHA_A[:13], f"srn:shipyard:dataset/sha256-{SHA_A}"),
        ("srn:shipyard:training-job/fraud", "srn:shipyard:training-job/fraud"),
        ("srn:shipyard:model/fraud", "srn:shipyard:model/fraud"),
    ],
)
def test_a_reference_resolves_in_order(database, ref, expected):
    record_world(database)
    with database.session_scope() as session:
        assert lineage.resolve(session, ref) == expected


@pytest.mark.parametrize(
    ("ref", "candidates"),
    [
        ("twin", ["srn:shipyard:training-job/twin", "srn:shipyard:processing-job/twin"]),
        (SHA_A[:12], [f"srn:shipyard:dataset/sha256-{h}" for h in sorted((SHA_A, SHA_B))]),
    ],
)
def test_an_ambiguous_reference_lists_the_candidates(database, ref, candidates):
    record_world(database)
    with database.session_scope() as session, pytest.raises(ValidationError) as raised:
        lineage.resolve(session, ref)
    assert raised.value.field == "entity"
    assert "ambiguous" in raised.value.message
    for candidate in candidates:
        assert candidate in raised.value.message


@pytest.mark.parametrize(
    "ref",
    ["nothing-here", SHA_C[:11], "srn:shipyard:endpoint/nothing-here", "fraud-group/4", "a" * 64],
)
def test_an_unknown_reference_is_not_found_and_named(database, ref):
    record_world(database)
    with database.session_scope() as session, pytest.raises(NotFound) as raised:
        lineage.resolve(session, ref)
    assert ref in raised.value.message


@pytest.mark.parametrize("ref", ["", "   ", "x" * 256])
def test_an_empty_or_overlong_reference_is_refused(database, ref):
    with database.session_scope() as session, pytest.raises(ValidationError) as raised:
        lineage.resolve(session, ref)
    assert raised.value.field == "entity"


def test_a_dataset_name_given_twice_resolves_to_what_it_holds_now(database, tmp_path):
    store_dir = tmp_path / "artifacts"
    from shipyard.core.artifacts import open_store

    store = open_store(str(store_dir))
    with database.session_scope() as session:
        current = data.create_dataset(
            session,
            store,
            name="churn",
            filename="churn.csv",
            stream=io.BytesIO(b"a,b\n1,2\n"),
            declared_format=None,
            owner="admin",
            scratch=tmp_path / "scratch",
        )
        job = Entity("training-job", "j")
        lineage.record(session, lineage.dataset(SHA_C, "shipyard://old", "churn"), job)
        lineage.record(session, lineage.dataset(current.sha256, current.uri, "churn"), job)
    with database.session_scope() as session:
        assert lineage.resolve(session, "churn") == f"srn:shipyard:dataset/sha256-{current.sha256}"
        data.delete_dataset(session, store, "churn")
    with database.session_scope() as session, pytest.raises(ValidationError, match="ambiguous"):
        lineage.resolve(session, "churn")


def test_walk_goes_upstream_and_downstream_within_the_depth(database):
    record_world(database)
    with database.session_scope() as session:
        up = lineage.to_out(lineage.walk(session, "srn:shipyard:endpoint/fraud", "upstream"))
        one = lineage.to_out(lineage.walk(session, "srn:shipyard:endpoint/fraud", "upstream", 1))
        down = lineage.to_out(lineage.walk(session, "srn:shipyard:tuning-job/sweep", "downstream"))
    assert up.root == "srn:shipyard:endpoint/fraud"
    kinds = sorted(e.kind for e in up.entities)
    assert kinds == [
        "dataset",
        "dataset",
        "dataset",
        "endpoint",
        "model",
        "training-job",
        "tuning-job",
    ]
    assert [(e.source, e.target, e.relation) for e in one.edges] == [
        ("srn:shipyard:model/fraud", "srn:shipyard:endpoint/fraud", "DeployedAs")
    ]
    assert {e.id for e in down.entities} == {
        "srn:shipyard:tuning-job/sweep",
        "srn:shipyard:training-job/fraud",
        "srn:shipyard:model/fraud",
        "srn:shipyard:model/solo",
        "srn:shipyard:endpoint/fraud",
        "srn:shipyard:model-package/fraud-group/3",
    }


# ---- the hash cache --------------------------------------------------------------------
class Counting:
    def __init__(self, function):
        self.function, self.calls = function, 0

    def __call__(self, *args):
        self.calls += 1
        return self.function(*args)


def test_a_stored_object_is_hashed_once_until_it_changes(store, monkeypatch):
    counting = Counting(lineage.object_sha256)
    monkeypatch.setattr(lineage, "object_sha256", counting)
    store.put_bytes("datasets/x/train.csv", b"a,b\n1,2\n")
    uri = "shipyard://datasets/x/train.csv"

    first = lineage.content_sha256(store, uri)
    assert first == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert lineage.content_sha256(store, uri) == first
    assert counting.calls == 1

    store.put_bytes("datasets/x/train.csv", b"a,b\n3,4\n")  # the same size, new bytes
    assert lineage.content_sha256(store, uri) == hashlib.sha256(b"a,b\n3,4\n").hexdigest()
    assert counting.calls == 2


def test_a_local_file_is_hashed_once_until_it_changes(tmp_path: Path, monkeypatch):
    counting = Counting(lineage.file_sha256)
    monkeypatch.setattr(lineage, "file_sha256", counting)
    path = tmp_path / "train.csv"
    path.write_bytes(b"x\n1\n")
    uri = path.as_uri()

    assert lineage.content_sha256(None, uri) == hashlib.sha256(b"x\n1\n").hexdigest()  # type: ignore[arg-type]
    assert lineage.content_sha256(None, uri) == hashlib.sha256(b"x\n1\n").hexdigest()  # type: ignore[arg-type]
    assert counting.calls == 1
    path.write_bytes(b"x\n2\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert lineage.content_sha256(None, uri) == hashlib.sha256(b"x\n2\n").hexdigest()  # type: ignore[arg-type]
    assert counting.calls == 2


def test_the_cache_forgets_the_least_recently_used():
    cache = lineage.HashCache(capacity=2)
    computed: list[str] = []

    def compute(value: str):
        return lambda: computed.append(value) or value

    for key in ("a", "b", "a", "c", "a", "b"):
        cache.get_or_compute(lambda key=key: key, compute(key))
    assert computed == ["a", "b", "c", "b"]  # "b" was the oldest when "c" came
    assert len(cache) == 2


def test_bytes_without_a_version_or_changed_while_hashed_are_not_cached():
    cache = lineage.HashCache()
    assert cache.get_or_compute(lambda: None, lambda: "h1") == "h1"
    assert len(cache) == 0
    versions = iter(["v1", "v2"])
    assert cache.get_or_compute(lambda: next(versions), lambda: "h2") == "h2"
    assert len(cache) == 0
