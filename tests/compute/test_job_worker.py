"""A real JobWorker with the LocalExecutor: output, metrics, failures, limits, stops."""

from __future__ import annotations

import pytest
from compute_testing import Jobs, wait_for
from sqlalchemy import delete

from shipyard.compute import service
from shipyard.compute.models import Job, Worker
from shipyard.compute.worker import JobWorker


def test_a_job_completes_with_its_log_in_order_and_its_final_metrics(
    worker: JobWorker, jobs: Jobs
) -> None:
    job_id = jobs.create({"behaviour": "report", "lines": 1200})  # several flush batches
    worker.wake()

    job = jobs.wait_until_done(job_id)
    assert (job.status, job.exit_code, job.failure_reason) == ("Completed", 0, None)
    assert job.final_metrics["loss"] == 0.25
    log = jobs.log(job_id)
    assert log[:1200] == [f"line {i}" for i in range(1200)]
    assert log[1200:] == [f"validation accuracy={a}" for a in (0.5, 0.625, 0.75)]
    assert not any(line.startswith("##shipyard") for line in log)
    assert [(p.step, p.value) for p in jobs.metrics(job_id, "loss")] == [
        (0, 1.0),
        (1, 0.5),
        (2, 1 / 3),
        (3, 0.25),
    ]
    assert [h["status"] for h in job.status_history] == ["Pending", "InProgress", "Completed"]


def test_metric_definitions_read_values_from_the_log(worker: JobWorker, jobs: Jobs) -> None:
    job_id = jobs.create(
        {"behaviour": "report"},
        metric_definitions=[{"name": "validation:accuracy", "regex": r"accuracy=([0-9.]+)"}],
    )
    worker.wake()

    job = jobs.wait_until_done(job_id)
    assert job.status == "Completed"
    assert job.final_metrics["validation:accuracy"] == 0.75
    points = jobs.metrics(job_id, "validation:accuracy")
    assert [(p.step, p.value) for p in points] == [(0, 0.5), (1, 0.625), (2, 0.75)]


def test_a_job_that_raises_fails_with_the_exception_message(worker: JobWorker, jobs: Jobs) -> None:
    job_id = jobs.create({"behaviour": "fail"})
    worker.wake()

    job = jobs.wait_until_done(job_id)
    assert (job.status, job.exit_code) == ("Failed", 1)
    assert job.failure_reason == "ValueError: the data is bad"
    assert any("Traceback" in line for line in jobs.log(job_id))


@pytest.mark.parametrize("exit_code", [0, 3])
def test_a_job_that_stops_itself_is_stopped_with_its_reason_and_keeps_its_records(
    worker: JobWorker, jobs: Jobs, exit_code: int
) -> None:
    job_id = jobs.create({"behaviour": "give_up", "exit_code": exit_code})
    worker.wake()

    job = jobs.wait_until_done(job_id)
    assert (job.status, job.exit_code) == ("Stopped", exit_code)
    assert job.failure_reason == "GaveUp: the loss stopped falling at step 5"
    with jobs.db.session_scope() as session:
        records = service.read_events(session, job_id, "sample.verdict")
        assert service.read_events(session, job_id, "other.kind") == []
    assert [(r.step, r.data["status"]) for r in records] == [(0, "InProgress"), (5, "IssuesFound")]
    assert not any(line.startswith("##shipyard") for line in jobs.log(job_id))


def test_a_job_past_its_max_runtime_is_stopped(worker: JobWorker, jobs: Jobs) -> None:
    job_id = jobs.create({"behaviour": "sleep"}, max_runtime_seconds=1)
    worker.wake()

    job = jobs.wait_until_done(job_id)
    assert job.status == "Stopped"
    assert job.failure_reason is not None
    assert job.failure_reason.startswith("MaxRuntimeExceeded")


def test_a_running_job_stops_when_asked(worker: JobWorker, jobs: Jobs) -> None:
    job_id = jobs.create({"behaviour": "sleep"})
    worker.wake()
    wait_for(lambda: "sleeping" in jobs.log(job_id), "the job to start sleeping")

    with jobs.db.session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        service.request_stop(session, job)

    job = jobs.wait_until_done(job_id)
    assert (job.status, job.failure_reason) == ("Stopped", "Stopped by user")
    assert job.stop_requested


def test_a_job_that_ignores_sigterm_is_killed_and_ends_stopped(
    worker: JobWorker, jobs: Jobs
) -> None:
    # long enough for a cold start on a busy machine to reach its SIG_IGN before the SIGTERM
    job_id = jobs.create({"behaviour": "stubborn"}, max_runtime_seconds=5)
    worker.wake()

    job = jobs.wait_until_done(job_id)
    assert job.status == "Stopped"
    assert job.failure_reason is not None and job.failure_reason.startswith("MaxRuntimeExceeded")
    assert job.exit_code == -9


def test_a_job_over_its_memory_limit_fails(worker: JobWorker, jobs: Jobs) -> None:
    job_id = jobs.create({"behaviour": "hog", "megabytes": 256}, resources={"memory_limit_mb": 64})
    worker.wake()

    job = jobs.wait_until_done(job_id)
    assert job.status == "Failed"
    assert job.failure_reason is not None
    assert job.failure_reason.startswith("MemoryLimitExceeded")


def test_cpu_count_pins_the_job_to_that_many_cpus(worker: JobWorker, jobs: Jobs) -> None:
    job_id = jobs.create({"behaviour": "report"}, resources={"cpu_count": 1})
    worker.wake()

    job = jobs.wait_until_done(job_id)
    assert job.status == "Completed"
    assert job.final_metrics["cpus"] == 1
    assert job.final_metrics["omp_threads"] == 1


def test_a_job_with_an_unknown_entrypoint_fails(worker: JobWorker, jobs: Jobs) -> None:
    job_id = jobs.create({}, entrypoint="no_such_module_for_shipyard")
    worker.wake()

    job = jobs.wait_until_done(job_id)
    assert job.status == "Failed"
    assert job.failure_reason is not None and "no_such_module_for_shipyard" in job.failure_reason


@pytest.mark.parametrize(
    "event",
    [
        '{"event": "metric", "name": "loss"}',
        '{"event": "metric", "name": "loss", "value": "high"}',
        '{"event": "metric", "name": "loss", "value": 1, "step": "one"}',
        '{"event": "status"}',
        '{"event": "telepathy"}',
    ],
)
def test_a_malformed_event_is_kept_as_a_log_line(worker: JobWorker, jobs: Jobs, event: str) -> None:
    job_id = jobs.create({"behaviour": "report"}, env={"SAMPLE_JOB_EVENT": f"##shipyard {event}"})
    worker.wake()

    job = jobs.wait_until_done(job_id)
    assert job.status == "Completed"
    assert f"##shipyard {event}" in jobs.log(job_id)


def test_a_job_with_an_unreadable_spec_fails_instead_of_hanging(
    worker: JobWorker, jobs: Jobs
) -> None:
    job_id = jobs.create({"behaviour": "report"}, raw_spec={"payload": "not even an entrypoint"})
    worker.wake()

    job = jobs.wait_until_done(job_id)
    assert job.status == "Failed"
    assert job.failure_reason is not None and job.failure_reason.startswith("InvalidJobSpec")


def test_stopping_the_worker_requeues_a_job_with_attempts_left(
    worker: JobWorker, jobs: Jobs
) -> None:
    job_id = jobs.create({"behaviour": "sleep"}, max_attempts=2)
    worker.wake()
    wait_for(lambda: "sleeping" in jobs.log(job_id), "the job to start sleeping")

    worker.stop()

    job = jobs.get(job_id)
    assert (job.status, job.worker_id) == ("Pending", None)
    assert job.failure_reason is not None and job.failure_reason.startswith("WorkerShutdown")


def test_a_worker_reaped_while_alive_drops_its_jobs_and_rejoins(
    worker: JobWorker, jobs: Jobs
) -> None:
    job_id = jobs.create({"behaviour": "sleep"})
    worker.wake()
    wait_for(lambda: "sleeping" in jobs.log(job_id), "the job to start sleeping")

    with jobs.db.session_scope() as session:  # as a reaper does after a long silence
        session.execute(delete(Worker).where(Worker.id == worker.worker_id))
    service.reap_lost_jobs(jobs.db, "another-host", timeout_seconds=3600)
    assert jobs.get(job_id).status == "Failed"

    wait_for(lambda: not worker.runs, "the worker to stop the job it lost")
    wait_for(lambda: _registered(jobs, worker.worker_id), "the worker to register again")
    next_id = jobs.create({"behaviour": "report"})
    worker.wake()
    assert jobs.wait_until_done(next_id).status == "Completed"
    assert jobs.get(job_id).failure_reason.startswith("WorkerLost")


def _registered(jobs: Jobs, worker_id: str) -> bool:
    with jobs.db.session_scope() as session:
        return session.get(Worker, worker_id) is not None
