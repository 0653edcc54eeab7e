"""Registering a completed job's outputs, on SQLite and PostgreSQL: several reconcilers at
once register each output once, and a job that did not complete registers nothing."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import select

from shipyard.compute import service as compute
from shipyard.compute.service import EventRecord
from shipyard.core.artifacts import BaseArtifactStore, open_store
from shipyard.core.clock import utcnow
from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.core.names import srn
from shipyard.data.models import Dataset
from shipyard.lineage.models import LineageEdge
from shipyard.processing import service
from shipyard.processing.schemas import ProcessingJobIn

TABLE_SHA = "ab" * 32


def queue_script_job(database: Database, tmp_path: Path, name: str) -> BaseArtifactStore:
    """Queue a processing job of a script, with two outputs; the store it reads."""
    settings = Settings(home=tmp_path / "home", load_quickstart=False)
    store = open_store(str(tmp_path / "artifacts"))
    store.put_bytes("uploads/abc/run.py", b"print(1)\n")
    request = ProcessingJobIn.model_validate(
        {
            "name": name,
            "entry_point": "run.py",
            "source_uri": "shipyard://uploads/abc/run.py",
            "processing_outputs": [{"output_name": "table"}, {"output_name": "notes"}],
        }
    )
    with database.session_scope() as session:
        service.create_processing_job(session, settings, store, request, "me")
    return store


def end_job(db: Database, name: str, status: str) -> None:
    """What a worker would do: claim the job, record its outputs, finish it."""
    with db.session_scope() as session:
        job_id = service.job_id_of(session, name)
    claimed = compute.claim_next_job(db, "w-1")
    assert claimed is not None and claimed.id == job_id
    now = utcnow()
    prefix = f"shipyard://processing-jobs/{name}/output"
    records = [
        EventRecord(
            "processing-output",
            None,
            {
                "output_name": "table",
                "uri": f"{prefix}/table",
                "sha256": "cd" * 32,
                "table": {
                    "uri": f"{prefix}/table/table.csv",
                    "format": "csv",
                    "columns": ["a", "b"],
                    "sha256": TABLE_SHA,
                    "size_bytes": 12,
                    "rows": 2,
                },
            },
            now,
        ),
        EventRecord(
            "processing-output",
            None,
            {"output_name": "notes", "uri": f"{prefix}/notes", "sha256": "ef" * 32, "table": None},
            now,
        ),
    ]
    compute.append_output(db, job_id, [], [], records)
    compute.finish_job(db, job_id, status=status, failure_reason=None, exit_code=0)


def test_racing_reconcilers_register_each_output_once(database: Database, tmp_path: Path) -> None:
    store = queue_script_job(database, tmp_path, "done")
    end_job(database, "done", "Completed")

    others = [Database(database.url) for _ in range(3)]
    barrier = threading.Barrier(len(others))
    errors: list[BaseException] = []

    def reconcile(db: Database) -> None:
        try:
            barrier.wait()
            service.reconcile_all(db, store)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=reconcile, args=(db,)) for db in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for db in others:
        db.dispose()
    assert errors == []

    with database.session_scope() as session:
        described = service.describe_processing_job(session, "done")
        datasets = session.scalars(select(Dataset)).all()
        edges = {
            (e.source_id, e.target_id, e.relation) for e in session.scalars(select(LineageEdge))
        }
    table, notes = described.processing_outputs
    assert table.dataset_name == "done-table" and table.rows == 2
    assert notes.dataset_name is None and notes.registration_error is not None
    assert [(d.name, d.sha256, d.owner) for d in datasets] == [("done-table", TABLE_SHA, "me")]
    job = srn("processing-job", "done")
    assert (job, srn("dataset", f"sha256-{TABLE_SHA}"), "Produced") in edges
    assert (job, srn("dataset", f"sha256-{'ef' * 32}"), "Produced") in edges
    assert service.reconcile_all(database, store) is False  # nothing left to do


def test_a_job_that_failed_registers_nothing(database: Database, tmp_path: Path) -> None:
    store = queue_script_job(database, tmp_path, "failed")
    assert service.reconcile_all(database, store) is False  # still Pending: nothing yet
    end_job(database, "failed", "Failed")
    assert service.reconcile_all(database, store) is True
    with database.session_scope() as session:
        assert session.scalars(select(Dataset)).all() == []
        outputs = service.describe_processing_job(session, "failed").processing_outputs
    assert [o.dataset_name for o in outputs] == [None, None]
