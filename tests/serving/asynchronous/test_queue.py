"""The queue of async requests on each DB backend, without a server: two processes never
hold one request; a lapsed lease, a dead process's request, a retry and a release each put
it back where a claim finds it; an end is recorded only by the worker that holds it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from shipyard.core.artifacts import BaseArtifactStore, key_from_uri, open_store
from shipyard.core.clock import utcnow
from shipyard.core.db import Database
from shipyard.core.errors import (
    InvalidState,
    NotFound,
    ShipyardError,
    Throttled,
    ValidationError,
)
from shipyard.serving.asynchronous import outcomes, queue
from shipyard.serving.asynchronous.models import AsyncInference
from shipyard.serving.asynchronous.outcomes import Failure
from shipyard.serving.asynchronous.queue import MAX_ATTEMPTS, WorkerIdentity
from shipyard.serving.fleet import InvocationTimeout, NoInstanceAnswers
from shipyard.serving.host import RemoteError
from shipyard.serving.invocation import Invocation

ENDPOINT = "queue-ep"
LEASE = 30.0


@pytest.fixture
def store(tmp_path: Path) -> BaseArtifactStore:
    return open_store(str(tmp_path / "artifacts"))


def add_requests(db: Database, count: int, endpoint: str = ENDPOINT) -> list[str]:
    start = utcnow() - timedelta(seconds=count)
    ids = [f"req-{index:03d}" for index in range(count)]
    with db.session_scope() as session:
        for index, inference_id in enumerate(ids):
            at = start + timedelta(seconds=index)
            session.add(
                AsyncInference(
                    inference_id=inference_id,
                    endpoint_name=endpoint,
                    status="Queued",
                    input_location=f"shipyard://inputs/{inference_id}",
                    fingerprint="0" * 64,
                    content_type="application/json",
                    accept="application/json",
                    output_location=f"shipyard://outputs/{inference_id}.out",
                    failure_location=f"shipyard://outputs/{inference_id}.error.json",
                    attempts=0,
                    request_ttl_seconds=3600,
                    invocation_timeout_seconds=60,
                    owner="tester",
                    created_at=at,
                    expires_at=at + timedelta(hours=1),
                    next_attempt_at=at,
                )
            )
    return ids


def row(db: Database, inference_id: str) -> AsyncInference:
    with db.session_scope() as session:
        found = session.get(AsyncInference, inference_id)
        assert found is not None
        return found


def worker(name: str, pid: int | None = None) -> WorkerIdentity:
    return WorkerIdentity(name, pid=pid if pid is not None else os.getpid())


def test_two_processes_never_hold_one_request(database: Database) -> None:
    ids = add_requests(database, 60)
    engines = [database, Database(database.url)]  # a second process: an engine of its own
    taken: list[list[str]] = []
    errors: list[BaseException] = []

    def drain(db: Database, identity: WorkerIdentity) -> None:
        mine: list[str] = []
        try:
            while claimed := queue.claim(db, ENDPOINT, identity, 4, utcnow(), LEASE):
                mine += [item.inference_id for item in claimed]
        except BaseException as exc:  # reported below
            errors.append(exc)
        taken.append(mine)

    threads = [
        threading.Thread(target=drain, args=(engines[i % 2], worker(f"worker-{i}")))
        for i in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    engines[1].dispose()
    assert errors == []
    every = [inference_id for mine in taken for inference_id in mine]
    assert sorted(every) == ids  # each once: none twice, none left
    with database.session_scope() as session:
        assert queue.endpoints_with_work(session, utcnow()) == []


def test_oldest_first_and_only_the_endpoint_asked_for(database: Database) -> None:
    ids = add_requests(database, 3)
    add_requests_elsewhere = add_requests(database, 0, "other-ep")
    assert add_requests_elsewhere == []
    claimed = queue.claim(database, ENDPOINT, worker("w"), 2, utcnow(), LEASE)
    assert [item.inference_id for item in claimed] == ids[:2]
    assert claimed[0].attempts == 1 and claimed[0].input_location == "shipyard://inputs/req-000"
    assert queue.claim(database, "other-ep", worker("w"), 5, utcnow(), LEASE) == []


def test_a_lapsed_lease_is_taken_again_and_only_its_holder_ends_it(
    database: Database, store: BaseArtifactStore
) -> None:
    (inference_id,) = add_requests(database, 1)
    now = utcnow()
    first, second = worker("first"), worker("second")
    assert len(queue.claim(database, ENDPOINT, first, 1, now, LEASE)) == 1
    assert queue.claim(database, ENDPOINT, second, 1, now + timedelta(seconds=10), LEASE) == []
    assert queue.renew(database, first.worker_id, [inference_id], now, LEASE) == 1

    later = now + timedelta(seconds=LEASE + 1)
    (retaken,) = queue.claim(database, ENDPOINT, second, 1, later, LEASE)
    assert retaken.attempts == 2 and row(database, inference_id).worker_id == "second"
    assert queue.renew(database, first.worker_id, [inference_id], later, LEASE) == 0
    answer = Invocation("AllTraffic", b'{"predictions": [1]}', "application/json")
    assert not outcomes.complete(database, store, first.worker_id, inference_id, answer, later)
    assert outcomes.complete(database, store, second.worker_id, inference_id, answer, later)
    ended = row(database, inference_id)
    assert ended.status == "Completed" and ended.variant_name == "AllTraffic"
    assert store.get_bytes(key_from_uri(ended.output_location)) == answer.body


def test_a_retry_backs_off_until_the_attempts_run_out(
    database: Database, store: BaseArtifactStore
) -> None:
    (inference_id,) = add_requests(database, 1)
    identity = worker("w")
    now = utcnow()
    failure = Failure("InvalidState", "InvalidState: endpoint 'queue-ep' is Updating")
    for attempt in range(1, MAX_ATTEMPTS):
        (item,) = queue.claim(database, ENDPOINT, identity, 1, now, LEASE)
        assert item.attempts == attempt
        assert outcomes.retry(database, store, "w", inference_id, failure, now) == "Queued"
        queued = row(database, inference_id)
        assert queued.status == "Queued" and queued.last_error == failure.reason
        delay = outcomes.retry_delay(attempt)
        assert delay == min(60.0, 2.0**attempt)
        too_soon = now + timedelta(seconds=delay - 0.5)
        assert queue.claim(database, ENDPOINT, identity, 1, too_soon, LEASE) == []
        now += timedelta(seconds=delay)
    queue.claim(database, ENDPOINT, identity, 1, now, LEASE)
    assert outcomes.retry(database, store, "w", inference_id, failure, now) == "Failed"
    failed = row(database, inference_id)
    assert failed.status == "Failed" and failed.attempts == MAX_ATTEMPTS
    assert failed.failure_reason == f"{failure.reason} (after {MAX_ATTEMPTS} attempts)"
    document = json.loads(store.get_bytes(key_from_uri(failed.failure_location)))
    assert document["error_code"] == "InvalidState" and document["attempts"] == MAX_ATTEMPTS


def test_a_release_gives_a_request_back_without_counting_the_attempt(database: Database) -> None:
    (inference_id,) = add_requests(database, 1)
    now = utcnow()
    queue.claim(database, ENDPOINT, worker("stopping"), 1, now, LEASE)
    assert queue.release(database, "someone-else", [inference_id], now) == 0
    assert queue.release(database, "stopping", [inference_id], now) == 1
    released = row(database, inference_id)
    assert released.status == "Queued" and released.attempts == 0
    assert released.worker_id is None and released.lease_expires_at is None
    (again,) = queue.claim(database, ENDPOINT, worker("next"), 1, now, LEASE)
    assert again.attempts == 1


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_requests_of_a_dead_process_of_this_host_are_taken_at_once(
    database: Database,
) -> None:
    dead, alive, abroad = add_requests(database, 3)
    now = utcnow()
    gone = worker("gone", pid=dead_pid())
    for identity, inference_id in (
        (gone, dead),
        (worker("alive"), alive),  # this very process
        (WorkerIdentity("abroad", host="another-host", pid=1), abroad),
    ):
        (claimed,) = queue.claim(database, ENDPOINT, identity, 1, now, 300)  # oldest first
        assert claimed.inference_id == inference_id
    me = worker("me")
    assert queue.recover_dead(database, me, now) == 1
    assert [item.inference_id for item in queue.claim(database, ENDPOINT, me, 5, now, LEASE)] == [
        dead
    ]
    assert row(database, alive).worker_id == "alive"
    assert row(database, abroad).worker_id == "abroad"  # its lease lapses in its own time


def test_expired_and_exhausted_requests_end_with_why(
    database: Database, store: BaseArtifactStore
) -> None:
    waiting, crashing = add_requests(database, 2)
    now = utcnow()
    with database.session_scope() as session:
        session.get(AsyncInference, waiting).expires_at = now - timedelta(seconds=1)
        held = session.get(AsyncInference, crashing)
        held.status, held.attempts = "InProgress", MAX_ATTEMPTS
        held.worker_id, held.lease_expires_at = "crashed", now - timedelta(seconds=1)
    with database.session_scope() as session:
        assert queue.expired(session, now) == [waiting]
        assert queue.lapsed_without_attempts(session, now) == [crashing]
        assert queue.endpoints_with_work(session, now) == []  # neither may be claimed
    assert outcomes.expire(database, store, waiting, now)
    assert not outcomes.expire(database, store, waiting, now)
    expired = row(database, waiting)
    assert expired.status == "Expired" and expired.failure_reason.startswith("RequestExpired")
    assert outcomes.fail(database, store, crashing, Failure("WorkerLost", "WorkerLost: x"), now)
    assert row(database, crashing).status == "Failed"
    for inference_id in (waiting, crashing):
        assert store.exists(key_from_uri(row(database, inference_id).failure_location))


MODEL_RAISED = "ModelError: variant 'v' failed on this input (RuntimeError)"
MODEL_TIMED_OUT = "ModelError: instance i-1 did not answer within 60 s"
NONE_UP = "ModelError: variant 'v' has no instance that answers"


@pytest.mark.parametrize(
    ("error", "code", "again"),
    [
        (ShipyardError(MODEL_RAISED), "ModelError", False),
        (InvocationTimeout(MODEL_TIMED_OUT), "ModelError", False),
        (ValidationError("not valid JSON", "body"), "ValidationError", False),
        (RemoteError(415, "ValidationError", "unsupported"), "ValidationError", False),
        (NotFound("endpoint 'e' not found"), "NotFound", False),
        (NoInstanceAnswers(NONE_UP), "ModelError", True),
        (InvalidState("endpoint 'e' is Updating, not InService"), "InvalidState", True),
        (Throttled("slow down"), "Throttled", True),
        (RemoteError(500, "InternalError", "the instance broke"), "InternalError", True),
    ],
)  # fmt: skip
def test_what_is_tried_again(error: ShipyardError, code: str, again: bool) -> None:
    failure = outcomes.failure_of(error)
    assert (failure.code, failure.retryable) == (code, again)
    assert error.message in failure.reason
