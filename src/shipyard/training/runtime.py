"""What runs inside a training job's process: fetch the channels, train, upload the model.

Built-in algorithms train in this process; a script runs as a child process that gets
its hyperparameters as ``--name value`` arguments and in ``SHIPYARD_HPS``, and its
channels, model and output directories as ``SHIPYARD_*`` variables, the way SageMaker
passes ``SM_*`` variables. With ``instance_count`` > 1 it runs as that many ranks, one
process each, data-parallel (:mod:`shipyard.training.distributed`).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from shipyard.compute.events import emit_metric, emit_status, emit_stop
from shipyard.core.artifacts import BaseArtifactStore, key_from_uri, open_store
from shipyard.core.errors import ValidationError
from shipyard.training.distributed import free_port, rank_environment, run_ranks


def main(payload: dict[str, Any]) -> None:
    workdir = Path.cwd()
    store = open_store(payload["store"]["uri"], payload["store"].get("endpoint_url"))
    emit_status("Downloading")
    channels = {
        name: materialize(channel["uri"], store, workdir / "input" / name)
        for name, channel in payload["channels"].items()
    }
    model_dir = workdir / "model"
    output_dir = workdir / "output"
    model_dir.mkdir()
    output_dir.mkdir()
    emit_status("Training")
    stopped_early = None
    if payload["algorithm"]:
        stopped_early = train_builtin(payload, channels, model_dir)
    else:
        run_script(payload, store, channels, model_dir, output_dir, workdir)
    emit_status("Uploading")
    store.put_directory(payload["model_prefix"], model_dir)
    store.put_directory(payload["output_prefix"], output_dir)
    if stopped_early is not None:  # the model is the one of the step it stopped at
        emit_stop(stopped_early)


def materialize(uri: str, store: BaseArtifactStore, directory: Path) -> Path:
    """Make the channel's file available under ``directory`` (a link when it is local)."""
    directory.mkdir(parents=True, exist_ok=True)
    if uri.startswith("file://"):
        source = Path(url2pathname(urlparse(uri).path))
    else:
        key = key_from_uri(uri)
        local = store.local_path(key)
        if local is None:
            target = directory / Path(key).name
            store.get_file(key, target)
            return target
        source = local
    target = directory / source.name
    target.symlink_to(source)
    return target


def train_builtin(
    payload: dict[str, Any], channels: dict[str, Path], model_dir: Path
) -> str | None:
    """Fit the built-in algorithm; why it stopped early (a tuning pruner said so), or None."""
    from shipyard.data.tables import read_table
    from shipyard.training.algorithms import get_algorithm
    from shipyard.tuning.pruning import pruner_from_payload

    formats = {name: channel["format"] for name, channel in payload["channels"].items()}
    train = read_table(channels["train"], formats["train"])
    validation = (
        read_table(channels["validation"], formats["validation"])
        if "validation" in channels
        else None
    )
    algorithm = get_algorithm(payload["algorithm"])
    pruner = pruner_from_payload(payload.get("pruning"))
    print(f"Training {payload['algorithm']} on {len(train)} rows", flush=True)
    algorithm.fit(
        train,
        validation,
        payload["target"],
        payload["hyperparameters"],
        model_dir,
        emit_metric,
        cpu_count=payload.get("cpu_count"),
        should_stop=pruner,
    )
    if pruner is not None and pruner.reason is not None:
        print(pruner.reason, flush=True)
        return pruner.reason
    return None


def run_script(
    payload: dict[str, Any],
    store: BaseArtifactStore,
    channels: dict[str, Path],
    model_dir: Path,
    output_dir: Path,
    workdir: Path,
) -> None:
    code_dir, entry = fetch_script(store, payload["source_uri"], payload["entry_point"], workdir)
    hyperparameters = payload["hyperparameters"]
    argv = [sys.executable, str(entry)]
    for key, value in hyperparameters.items():
        argv += [f"--{key}", json.dumps(value) if isinstance(value, bool) else str(value)]
    env = dict(os.environ)
    env.update(script_environment(payload, channels, model_dir, output_dir))
    env["PYTHONPATH"] = python_path_with(code_dir, env)
    print(f"Running {payload['entry_point']}", flush=True)
    world_size = payload.get("instance_count", 1)
    if world_size > 1:
        run_ranks(argv, env, str(code_dir), world_size, payload.get("cpu_count"))
        return
    env.update(rank_environment(0, 1, free_port()))  # one rank: its output goes straight out
    completed = subprocess.run(argv, cwd=code_dir, env=env, preexec_fn=_die_with_parent)
    if completed.returncode != 0:
        raise RuntimeError(
            f"AlgorithmError: {payload['entry_point']} exited with code {completed.returncode}"
        )


def fetch_script(
    store: BaseArtifactStore, source_uri: str, entry_point: str, workdir: Path
) -> tuple[Path, Path]:
    """The source unpacked in ``workdir/code``, and its entry point there."""
    code_dir = workdir / "code"
    unpack_source(store, source_uri, code_dir)
    entry = code_dir / entry_point
    if not entry.is_file():
        raise ValidationError(f"{entry_point} is not in the source", "entry_point")
    return code_dir, entry


def python_path_with(code_dir: Path, env: dict[str, str]) -> str:
    """``PYTHONPATH`` with the script's code first, so its own modules import."""
    return os.pathsep.join(p for p in (str(code_dir), env.get("PYTHONPATH")) if p)


def script_environment(
    payload: dict[str, Any], channels: dict[str, Path], model_dir: Path, output_dir: Path
) -> dict[str, str]:
    env = {
        "SHIPYARD_TRAINING_JOB_NAME": payload["name"],
        "SHIPYARD_HPS": json.dumps(payload["hyperparameters"]),
        "SHIPYARD_CHANNELS": json.dumps(sorted(channels)),
        "SHIPYARD_MODEL_DIR": str(model_dir),
        "SHIPYARD_OUTPUT_DIR": str(output_dir),
        "SHIPYARD_NUM_CPUS": str(payload.get("cpu_count") or len(os.sched_getaffinity(0))),
    }
    for name, path in channels.items():
        env[f"SHIPYARD_CHANNEL_{name.upper()}"] = str(path.parent)
    if payload.get("target"):
        env["SHIPYARD_TARGET"] = payload["target"]
    if payload.get("pruning"):
        env["SHIPYARD_PRUNING"] = json.dumps(payload["pruning"])
    if payload.get("debugger"):  # read by shipyard.debugger.Hook
        env["SHIPYARD_DEBUGGER_CONFIG"] = json.dumps(payload["debugger"])
    return env


def unpack_source(store: BaseArtifactStore, source_uri: str, code_dir: Path) -> None:
    """A single ``.py`` file is copied; a ``.tar.gz`` is extracted with the safe filter."""
    code_dir.mkdir(parents=True)
    key = key_from_uri(source_uri)
    if key.endswith(".py"):
        store.get_file(key, code_dir / Path(key).name)
        return
    archive = code_dir.parent / "source.tar.gz"
    store.get_file(key, archive)
    try:
        with tarfile.open(archive) as bundle:
            bundle.extractall(code_dir, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ValidationError(
            f"the source is not a readable .tar.gz ({exc})", "source_uri"
        ) from None


def _die_with_parent() -> None:
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)
