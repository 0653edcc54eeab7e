"""The failed records a transform job page lists, read from an output's ``.out.errors``."""

from __future__ import annotations

import json

from shipyard.console import transform
from shipyard.core.artifacts import LocalArtifactStore, uri_for
from shipyard.serving.batch.schemas import TransformFileOut

KEY = "transform-jobs/bt/output/rows.csv.out"


def output(failed: int) -> TransformFileOut:
    return TransformFileOut(
        input_uri="file:///data/rows.csv",
        output_uri=uri_for(KEY),
        records=100,
        records_failed=failed,
        errors_uri=uri_for(KEY + ".errors"),
    )


def test_the_first_failures_are_listed_and_an_odd_line_is_shown_as_is(tmp_path) -> None:
    store = LocalArtifactStore(tmp_path)
    lines = [json.dumps({"record": n, "reason": f"bad {n}"}) for n in range(1, 31)]
    lines.insert(1, "not json")
    store.put_bytes(KEY + ".errors", ("\n".join(lines) + "\n").encode())

    found = transform.failed_records(store, output(30))

    assert found.unreadable is None
    assert len(found.records) == transform.FAILURES_SHOWN
    assert found.records[:3] == [(1, "bad 1"), ("?", "not json"), (2, "bad 2")]


def test_a_long_errors_file_is_read_only_as_far_as_needed(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(transform, "FAILURES_READ_BYTES", 50)
    store = LocalArtifactStore(tmp_path)
    lines = [json.dumps({"record": n, "reason": "x" * 10}) for n in range(1, 1000)]
    store.put_bytes(KEY + ".errors", "\n".join(lines).encode())

    found = transform.failed_records(store, output(999))

    assert found.records == [(1, "x" * 10)]  # the second line was cut at 50 bytes: left out


def test_a_missing_errors_file_is_said(tmp_path) -> None:
    found = transform.failed_records(LocalArtifactStore(tmp_path), output(3))

    assert found.records == [] and found.unreadable is not None
    assert "could not be read" in found.unreadable
