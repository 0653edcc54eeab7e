"""Data-parallel script mode: ``resources.instance_count = N`` runs N ranks of a script.

The rank environment and CPU split as functions; the relay of the ranks' output in a job
process of its own; then real training jobs through REST (a PyTorch DDP script that
trains as one process does, a killed rank, a failing rank, a stop, the user's stop, the
job process's death), and the SDK and CLI.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import psutil
import pytest
from typer.testing import CliRunner

import shipyard
from shipyard.cli.main import app
from shipyard.core.errors import ValidationError
from shipyard.training.distributed import cpu_shares, describe_exit, rank_environment

ENV_NAMES = (
    "SHIPYARD_HOSTS", "SHIPYARD_CURRENT_HOST", "SHIPYARD_RANK", "SHIPYARD_WORLD_SIZE",
    "SHIPYARD_LOCAL_RANK", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
    "SHIPYARD_NUM_CPUS", "OMP_NUM_THREADS",
)  # fmt: skip
ENV_SCRIPT = textwrap.dedent(
    f"""
    import json
    import os

    import shipyard.training

    seen = {{name: os.environ.get(name) for name in {ENV_NAMES!r}}}
    seen["cpus"] = sorted(os.sched_getaffinity(0))
    print("env=" + json.dumps(seen), flush=True)
    shipyard.training.log_metric("rank", int(os.environ["SHIPYARD_RANK"]))
    """
)
# Each rank says its pid; then, by --mode: rank 1 exits 3 ("exit"); rank 0 stops the job
# once rank 1 is up ("stop"); or every rank waits to be ended ("wait").
CONTROL_SCRIPT = textwrap.dedent(
    """
    import argparse
    import os
    import sys
    import time
    from pathlib import Path

    from shipyard.compute.events import emit_stop

    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["exit", "stop", "wait"], required=True)
    mode = parser.parse_args().mode
    rank = int(os.environ["SHIPYARD_RANK"])
    output = Path(os.environ["SHIPYARD_OUTPUT_DIR"])
    print(f"pid={os.getpid()}", flush=True)
    if mode == "exit" and rank == 1:
        sys.exit(3)
    if mode == "stop" and rank == 0:
        while not (output / "rank-1.pid").exists():  # someone is there to be stopped
            time.sleep(0.01)
        emit_stop("StoppedEarly: rank 0 ended the job on purpose")
        (Path(os.environ["SHIPYARD_MODEL_DIR"]) / "model.txt").write_text("saved")
        sys.exit(0)
    (output / f"rank-{rank}.pid").write_text(str(os.getpid()))
    time.sleep(600)  # until the test, the runtime or the worker ends it
    """
)
# A small MLP classifier, trained data-parallel: DDP broadcasts rank 0's initial weights
# and averages the gradients; DistributedSampler gives each rank its shard of every
# global batch, so N ranks see the same batches, in the same order, as one process.
DDP_SCRIPT = textwrap.dedent(
    """
    import argparse
    import os
    from pathlib import Path

    import numpy as np
    import torch
    import torch.distributed as dist
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

    import shipyard.training

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--global-batch-size", type=int, required=True)
    args = parser.parse_args()

    dist.init_process_group("gloo")  # env://: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
    rank, world_size = dist.get_rank(), dist.get_world_size()

    def load(channel):
        (table,) = Path(os.environ[f"SHIPYARD_CHANNEL_{channel.upper()}"]).glob("*.csv")
        data = np.loadtxt(table, delimiter=",", skiprows=1, dtype=np.float32)
        return torch.from_numpy(data[:, :-1]), torch.from_numpy(data[:, -1]).long()

    train = TensorDataset(*load("train"))
    validation_x, validation_y = load("validation")
    torch.manual_seed(0)
    model = DistributedDataParallel(
        nn.Sequential(nn.Linear(validation_x.shape[1], 32), nn.ReLU(), nn.Linear(32, 3))
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sampler = DistributedSampler(train, shuffle=True, seed=1)
    loader = DataLoader(train, batch_size=args.global_batch_size // world_size, sampler=sampler)
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        seen = 0
        for x, y in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
            seen += len(y)
        if rank == 0:  # rank 0 reports, on the whole validation set
            with torch.no_grad():
                logits = model.module(validation_x)
            loss = nn.functional.cross_entropy(logits, validation_y).item()
            accuracy = (logits.argmax(1) == validation_y).float().mean().item()
            shipyard.training.log_metric("validation:loss", loss, step=epoch)
            shipyard.training.log_metric("validation:accuracy", accuracy, step=epoch)
    checksum = sum(p.double().sum().item() for p in model.parameters())
    print(f"rank {rank} of {world_size}: {seen} samples an epoch, checksum={checksum!r}")
    if rank == 0:
        torch.save(model.module.state_dict(), Path(os.environ["SHIPYARD_MODEL_DIR"]) / "model.pt")
    dist.destroy_process_group()
    """
)
T = TypeVar("T")
DOCS = Path(__file__).parents[2] / "docs" / "distributed-training.md"
PID_LINE = re.compile(r"(\[algo-2\] )?pid=(\d+)")
CHECKSUM_LINE = re.compile(
    r"(\[algo-2\] )?rank (\d) of (\d): (\d+) samples an epoch, checksum=(.+)"
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ---- the rank environment and the CPU split --------------------------------------------
def test_rank_environment_names_the_hosts_and_the_rendezvous():
    assert rank_environment(1, 3, 29500) == {
        "SHIPYARD_HOSTS": '["algo-1", "algo-2", "algo-3"]',
        "SHIPYARD_CURRENT_HOST": "algo-2",
        "SHIPYARD_RANK": "1",
        "SHIPYARD_WORLD_SIZE": "3",
        "SHIPYARD_LOCAL_RANK": "1",
        "RANK": "1",
        "WORLD_SIZE": "3",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "29500",
    }


def test_rank_environment_on_several_machines():
    env = rank_environment(5, 8, 29400, master_addr="10.0.0.7", local_rank=1)
    assert (env["RANK"], env["LOCAL_RANK"], env["SHIPYARD_LOCAL_RANK"]) == ("5", "1", "1")
    assert (env["MASTER_ADDR"], env["SHIPYARD_CURRENT_HOST"]) == ("10.0.0.7", "algo-6")


def test_each_rank_gets_its_share_of_the_cpus():
    assert cpu_shares([0, 1, 2, 3], 2, 2) == [[0, 1], [2, 3]]
    assert cpu_shares([4, 5, 6, 7, 8], 2, None) == [[4, 5], [6, 7]]  # an even split
    assert cpu_shares([0, 1, 2], 4, 1) == [[0], [1], [2], [0]]  # fewer than asked: shared
    assert cpu_shares([0, 1], 2, 4) == [[0, 1], [0, 1]]


def test_every_rank_variable_is_documented_and_the_example_compiles():
    page = DOCS.read_text()
    table = page.split("## The environment of a rank")[1].split("\n## ")[0]
    missing = [name for name in rank_environment(0, 2, 1) if f"`{name}`" not in table]
    assert missing == []
    example = page.split("```python\n")[2].split("```")[0]
    compile(example, "train_ddp.py", "exec")
    assert 'init_process_group("gloo")' in example and "DistributedDataParallel(" in example


def test_exits_are_described_with_their_signal():
    assert describe_exit(3) == "3"
    assert describe_exit(-9) == "-9 (SIGKILL)"


# ---- the relay, in a job process of its own --------------------------------------------
RELAY_SCRIPT = textwrap.dedent(
    r"""
    import os
    import sys
    import time

    rank = os.environ["SHIPYARD_RANK"]
    event = '##shipyard {"event": "%s", %s}'
    print(f"log of rank {rank}")
    print("")
    print(event % ("metric", '"name": "loss", "value": %s' % rank))
    print(event % ("record", '"kind": "tensors", "data": {}'))
    print(event % ("failure", '"reason": "failure of rank %s"' % rank))
    print(f"error of rank {rank}", file=sys.stderr, flush=True)
    if rank == "1" and sys.argv[1] == "stop":
        print(event % ("stop", '"reason": "rank 1 stops"'), flush=True)
        sys.exit(1)  # a stop decides the end, whatever the exit code
    if rank == "0" and sys.argv[1] == "stop":
        time.sleep(600)  # until the stop of rank 1 ends it
    sys.stdout.write(f"last words of rank {rank}")
    """
)


def run_ranks_in_a_job_process(tmp_path: Path, mode: str) -> subprocess.CompletedProcess[str]:
    """``run_ranks`` as the runtime calls it, in a fresh single-threaded process."""
    script = tmp_path / "relay.py"
    script.write_text(RELAY_SCRIPT)
    code = (
        "import os, sys\n"
        "from shipyard.training.distributed import run_ranks\n"
        f"run_ranks([sys.executable, {str(script)!r}, {mode!r}], dict(os.environ), "
        f"{str(tmp_path)!r}, 2, None)\n"
        "print('returned')\n"
    )
    env = os.environ | {"PYTHONUNBUFFERED": "1"}  # as the executor sets it for a job
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def split_by_rank(stdout: str) -> tuple[list[str], list[str]]:
    """The unprefixed lines, and rank 1's lines without their prefix."""
    rank_0: list[str] = []
    rank_1: list[str] = []
    for line in stdout.splitlines():
        if line.startswith("[algo-2] "):
            rank_1.append(line.removeprefix("[algo-2] "))
        else:
            rank_0.append(line)
    return rank_0, rank_1


def test_rank_0_passes_through_and_the_others_are_prefixed(tmp_path):
    completed = run_ranks_in_a_job_process(tmp_path, "finish")
    assert completed.returncode == 0, completed.stderr
    rank_0, rank_1 = split_by_rank(completed.stdout)
    forwarded = '##shipyard {"event": "failure", "reason": "failure of rank 1"}'
    assert rank_0.count(forwarded) == 1  # another rank's failure reaches the worker as is
    rank_0.remove(forwarded)
    assert rank_0 == [
        "log of rank 0",
        "",
        '##shipyard {"event": "metric", "name": "loss", "value": 0}',
        '##shipyard {"event": "record", "kind": "tensors", "data": {}}',
        '##shipyard {"event": "failure", "reason": "failure of rank 0"}',
        "error of rank 0",
        "last words of rank 0",  # a last line without its newline
        "returned",
    ]
    assert rank_1 == ["log of rank 1", "", "error of rank 1", "last words of rank 1"]


def test_a_stop_from_any_rank_ends_the_others_and_returns(tmp_path):
    completed = run_ranks_in_a_job_process(tmp_path, "stop")
    assert completed.returncode == 0, completed.stderr  # no failure, though rank 1 exited 1
    rank_0, rank_1 = split_by_rank(completed.stdout)
    assert '##shipyard {"event": "stop", "reason": "rank 1 stops"}' in rank_0  # forwarded
    assert rank_1 == ["log of rank 1", "", "error of rank 1"]
    assert "last words of rank 0" not in rank_0  # it was ended in its sleep
    assert rank_0[-1] == "returned"


# ---- training jobs through REST --------------------------------------------------------
def upload_script(api: Any, text: str) -> str:
    response = api.post(
        "/api/v1/uploads", files={"file": ("train.py", text.encode(), "text/x-python")}
    )
    assert response.status_code == 201, response.text
    return response.json()["uri"]


def start_job(api: Any, script: str, instance_count: int, **fields: Any) -> str:
    name = unique(f"ranks-{instance_count}")
    body = {
        "name": name,
        "entry_point": "train.py",
        "source_uri": upload_script(api, script),
        "channels": {},
        "resources": {"instance_count": instance_count},
        "stopping_condition": {"max_runtime_seconds": 120},
    } | fields
    created = api.post("/api/v1/training-jobs", json=body)
    assert created.status_code == 201, created.text
    return name


def log_lines(api: Any, name: str) -> list[str]:
    logs = api.get(f"/api/v1/training-jobs/{name}/logs").json()
    return [line["message"] for line in logs["lines"]]


def final_values(api: Any, name: str, metric: str) -> list[float]:
    points = api.get(f"/api/v1/training-jobs/{name}/metrics", params={"name": metric}).json()
    return [point["value"] for point in points["metrics"]]


def printed_env(lines: list[str]) -> dict[int, dict[str, Any]]:
    """What each rank printed as ``env=...``, by rank."""
    found = {}
    for line in lines:
        prefix, _, document = line.partition("env=")
        if document:
            seen = json.loads(document)
            assert prefix == ("" if seen["SHIPYARD_RANK"] == "0" else "[algo-2] ")
            found[int(seen["SHIPYARD_RANK"])] = seen
    return found


def rank_processes(api: Any, name: str) -> dict[int, psutil.Process]:
    """The rank processes of a running job, from the pids they printed."""

    def found() -> dict[int, psutil.Process] | None:
        pids = {}
        for line in log_lines(api, name):
            match = PID_LINE.fullmatch(line)
            if match:
                pids[1 if match.group(1) else 0] = psutil.Process(int(match.group(2)))
        return pids if len(pids) == 2 else None

    return poll(found, "both ranks to start")


def poll(fetch: Callable[[], T | None], what: str, timeout: float = 60) -> T:
    """``fetch()`` once it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (found := fetch()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return found


def is_gone(process: psutil.Process) -> bool:
    try:  # an orphan nobody reaps lingers as a zombie: as dead as it gets
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_ranks_get_their_environment_and_rank_0_reports(api):
    name = start_job(api, ENV_SCRIPT, 2, resources={"instance_count": 2, "cpu_count": 1})
    job = api.wait_for_job(name)
    assert job["status"] == "Completed", job["failure_reason"]
    lines = log_lines(api, name)
    ranks = printed_env(lines)
    assert sorted(ranks) == [0, 1]
    for rank, seen in ranks.items():
        assert json.loads(seen["SHIPYARD_HOSTS"]) == ["algo-1", "algo-2"]
        assert seen["SHIPYARD_CURRENT_HOST"] == f"algo-{rank + 1}"
        assert seen["RANK"] == seen["SHIPYARD_RANK"] == seen["LOCAL_RANK"] == str(rank)
        assert seen["WORLD_SIZE"] == seen["SHIPYARD_WORLD_SIZE"] == "2"
        assert seen["MASTER_ADDR"] == "127.0.0.1"
        assert seen["SHIPYARD_NUM_CPUS"] == seen["OMP_NUM_THREADS"] == "1"  # cpu_count each
        assert len(seen["cpus"]) == 1
    assert ranks[0]["MASTER_PORT"] == ranks[1]["MASTER_PORT"]
    if len(os.sched_getaffinity(0)) >= 2:
        assert ranks[0]["cpus"] != ranks[1]["cpus"]
    assert final_values(api, name, "rank") == [0.0]  # rank 1's metric is not rank 0's report
    assert job["final_metrics"] == {"rank": 0.0}
    assert not any("##shipyard" in line for line in lines)


def test_a_single_instance_script_is_rank_0_of_1(api):
    name = start_job(api, ENV_SCRIPT, 1)
    job = api.wait_for_job(name)
    assert job["status"] == "Completed", job["failure_reason"]
    (seen,) = printed_env(log_lines(api, name)).values()
    assert json.loads(seen["SHIPYARD_HOSTS"]) == ["algo-1"]
    assert (seen["RANK"], seen["WORLD_SIZE"], seen["MASTER_ADDR"]) == ("0", "1", "127.0.0.1")
    assert int(seen["MASTER_PORT"]) > 0


def write_classification_data(directory: Path) -> dict[str, str]:
    """Three classes from a fixed non-linear teacher: 2048 rows to train, 1024 to validate."""
    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(10, 3))
    channels = {}
    for channel, rows in (("train", 2048), ("validation", 1024)):
        x = rng.normal(size=(rows, 10))
        y = (np.tanh(x) @ teacher + 0.3 * rng.normal(size=(rows, 3))).argmax(axis=1)
        path = directory / channel / f"{channel}.csv"
        path.parent.mkdir(parents=True)
        header = ",".join([*(f"x{i}" for i in range(10)), "label"])
        np.savetxt(path, np.column_stack([x, y]), delimiter=",", header=header, comments="")
        channels[channel] = str(path)
    return channels


def checksums(lines: list[str]) -> dict[int, tuple[int, float]]:
    """Each rank's samples an epoch and the sum of its final weights, by rank."""
    found = {}
    for line in lines:
        match = CHECKSUM_LINE.fullmatch(line)
        if match:
            prefixed, rank, _, samples, checksum = match.groups()
            assert bool(prefixed) == (rank == "1")
            found[int(rank)] = (int(samples), float(checksum))
    return found


def test_two_ddp_ranks_train_as_one_process_does(api, tmp_path):
    pytest.importorskip("torch")
    channels = write_classification_data(tmp_path / "data")
    hyperparameters = {"epochs": 4, "global-batch-size": 64}
    names = {
        count: start_job(
            api,
            DDP_SCRIPT,
            count,
            channels=channels,
            hyperparameters=hyperparameters,
            resources={"instance_count": count, "cpu_count": 1},
        )
        for count in (1, 2)
    }
    for name in names.values():
        job = api.wait_for_job(name, timeout=300)
        assert job["status"] == "Completed", (job["failure_reason"], log_lines(api, name)[-20:])
    one, two = (final_values(api, names[n], "validation:accuracy") for n in (1, 2))
    assert len(one) == len(two) == 4
    assert one[-1] > 0.8  # it learned: chance is 1/3
    # The average of the two ranks' half-batch gradients is the whole batch's gradient; only
    # the order of float32 sums differs (weights agree to ~1e-7), which can flip no more
    # than a validation row lying on a decision boundary: 1/1024 each.
    assert two == pytest.approx(one, abs=2 / 1024)
    losses = [final_values(api, names[n], "validation:loss") for n in (1, 2)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)

    single, double = (checksums(log_lines(api, names[n])) for n in (1, 2))
    assert single[0][0] == 2048 and double[0][0] == double[1][0] == 1024  # a shard each
    assert double[0][1] == double[1][1]  # averaged gradients: the ranks' weights are one
    assert double[0][1] == pytest.approx(single[0][1], rel=1e-5)
    store = api.client.app.state.context.store
    assert store.exists(f"training-jobs/{names[2]}/model/model.pt")


def test_killing_a_rank_fails_the_job_naming_it(api):
    name = start_job(api, CONTROL_SCRIPT, 2, hyperparameters={"mode": "wait"})
    ranks = rank_processes(api, name)
    assert ranks[1].environ()["SHIPYARD_RANK"] == "1"
    job_process = ranks[0].parent()
    assert job_process is not None and ranks[1].ppid() == job_process.pid
    for rank in ranks.values():  # what kill() signals and memory_bytes() counts
        assert os.getpgid(rank.pid) == job_process.pid
        assert rank in job_process.children(recursive=True)

    ranks[1].send_signal(signal.SIGKILL)
    job = api.wait_for_job(name)
    assert job["status"] == "Failed"
    assert job["failure_reason"] == (
        "AlgorithmError: rank 1 (algo-2) exited with code -9 (SIGKILL); "
        "the other ranks were stopped"
    )
    assert is_gone(ranks[0])


def test_a_rank_that_exits_non_zero_fails_the_job(api):
    name = start_job(api, CONTROL_SCRIPT, 2, hyperparameters={"mode": "exit"})
    job = api.wait_for_job(name)
    assert job["status"] == "Failed"
    assert job["failure_reason"] == (
        "AlgorithmError: rank 1 (algo-2) exited with code 3; the other ranks were stopped"
    )
    assert "[algo-2] pid=" in "\n".join(log_lines(api, name))


def test_a_stop_from_rank_0_ends_the_job_stopped_and_the_other_ranks(api):
    name = start_job(api, CONTROL_SCRIPT, 2, hyperparameters={"mode": "stop"})
    job = api.wait_for_job(name)
    assert job["status"] == "Stopped", job["failure_reason"]
    assert job["failure_reason"] == "StoppedEarly: rank 0 ended the job on purpose"
    store = api.client.app.state.context.store
    pid = int(store.get_bytes(f"training-jobs/{name}/output/rank-1.pid"))
    assert not psutil.pid_exists(pid) or is_gone(psutil.Process(pid))
    assert store.get_bytes(f"training-jobs/{name}/model/model.txt") == b"saved"


def test_stopping_the_job_ends_every_rank(api):
    name = start_job(api, CONTROL_SCRIPT, 2, hyperparameters={"mode": "wait"})
    ranks = rank_processes(api, name)
    assert api.post(f"/api/v1/training-jobs/{name}/stop").status_code == 200
    job = api.wait_for_job(name)
    assert (job["status"], job["failure_reason"]) == ("Stopped", "Stopped by user")
    poll(lambda: all(is_gone(rank) for rank in ranks.values()), "the ranks to end")


def test_the_ranks_die_with_their_job_process(api):
    name = start_job(api, CONTROL_SCRIPT, 2, hyperparameters={"mode": "wait"})
    ranks = rank_processes(api, name)
    job_process = ranks[0].parent()
    assert job_process is not None
    job_process.send_signal(signal.SIGKILL)  # as when its worker dies: PR_SET_PDEATHSIG
    assert api.wait_for_job(name)["status"] == "Failed"
    poll(lambda: all(is_gone(rank) for rank in ranks.values()), "the ranks to die with it")


def test_a_builtin_algorithm_refuses_several_instances(api, tmp_path):
    table = tmp_path / "table.csv"
    table.write_text("x,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    response = api.post(
        "/api/v1/training-jobs",
        json={
            "name": unique("xgb-ranks"),
            "algorithm": "xgboost",
            "target": "label",
            "channels": {"train": str(table)},
            "resources": {"instance_count": 2},
        },
    )
    assert response.status_code == 400, response.text
    assert "resources.instance_count" in response.json()["error"]["message"]


def test_a_script_may_ask_for_up_to_64_instances(api):
    body = {
        "name": unique("too-many"),
        "entry_point": "train.py",
        "source_uri": upload_script(api, ENV_SCRIPT),
        "channels": {},
        "resources": {"instance_count": 65},
    }
    response = api.post("/api/v1/training-jobs", json=body)
    assert response.status_code == 400, response.text
    assert "instance_count" in response.json()["error"]["message"]


# ---- the SDK and the CLI ---------------------------------------------------------------
@pytest.fixture
def session(live_server) -> Any:
    with shipyard.Session(url=live_server.url, token=live_server.token) as session:
        yield session


def test_an_estimator_with_instance_count_runs_the_ranks(session, tmp_path, capsys):
    script = tmp_path / "train.py"
    script.write_text(ENV_SCRIPT)
    estimator = shipyard.Estimator(
        entry_point=str(script),
        instance_count=2,
        base_job_name=unique("sdk-ranks"),
        session=session,
    )
    estimator.fit({})
    assert estimator.describe()["resources"]["instance_count"] == 2
    printed = capsys.readouterr().out.splitlines()
    assert sorted(printed_env(printed)) == [0, 1]


def test_an_estimator_refuses_two_instance_counts(session):
    estimator = shipyard.Estimator(
        entry_point="train.py", instance_count=2, resources={"instance_count": 3}, session=session
    )
    with pytest.raises(ValidationError, match="instance_count"):
        estimator.fit({})


def test_the_cli_takes_an_instance_count(live_server, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(ENV_SCRIPT)
    table = live_server.home.parent / unique("cli-ranks") / "table.csv"  # in its data root
    table.parent.mkdir()
    table.write_text("x,y\n1,2\n")
    outcome = CliRunner().invoke(
        app,
        ["training", "create", "--entry-point", str(script), "--instance-count", "2"]
        + ["--channel", f"train={table}", "--json"],
        env=live_server.env,
    )
    assert outcome.exit_code == 0, outcome.output
    description = json.loads(outcome.stdout)
    assert description["status"] == "Completed"
    assert description["resources"]["instance_count"] == 2
