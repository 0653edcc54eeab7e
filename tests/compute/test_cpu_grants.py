"""The local executor spreads jobs that state a CPU count over the least busy CPUs."""

from __future__ import annotations

from pathlib import Path

from shipyard.compute.executors.local import LocalExecutor
from shipyard.core.config import Settings


def _executor(tmp_path: Path, cpus: list[int]) -> LocalExecutor:
    executor = LocalExecutor(Settings(home=tmp_path, job_preload_modules=[]))
    executor._cpus = cpus  # the machine's CPUs, as the executor saw them at start
    return executor


def test_one_cpu_jobs_get_different_cpus_until_all_are_busy(tmp_path: Path) -> None:
    executor = _executor(tmp_path, [0, 1, 2, 3])
    grants = [executor._grant_cpus(f"job-{i}", 1) for i in range(5)]
    assert grants == [[0], [1], [2], [3], [0]]


def test_a_job_without_a_cpu_count_gets_every_cpu_and_a_freed_cpu_is_reused(tmp_path: Path) -> None:
    executor = _executor(tmp_path, [0, 1])
    assert executor._grant_cpus("small", 1) == [0]
    assert executor._grant_cpus("any", None) == [0, 1]
    executor.cleanup("small")
    executor.cleanup("any")
    assert executor._grant_cpus("next", 2) == [0, 1]


def test_idle_openmp_threads_sleep_unless_the_user_says_otherwise(monkeypatch) -> None:
    from shipyard.compute.executors.local import _job_environment
    from shipyard.compute.schemas import JobSpec

    spec = JobSpec(entrypoint="shipyard_sample_job")
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert _job_environment(spec, Path("/tmp"), None)["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert _job_environment(spec, Path("/tmp"), None)["OMP_WAIT_POLICY"] == "ACTIVE"
