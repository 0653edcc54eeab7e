"""Serving latency and throughput: Shipyard's endpoint against a hand-written Starlette
service, BentoML and MLflow, all serving one LightGBM model, with the in-process prediction
and a bare asyncio server as the floors.

One run, one machine, one model: a LightGBM binary classifier (100 trees of 31 leaves) on 30
numeric features, trained here on generated data and saved once as LightGBM's text model,
from which each contestant loads the same booster in its own format. Every request is one
row, the same JSON body for every contestant: ``{"instances": [[30 numbers]]}``.

Contestants: (1) ``Booster.predict`` on that row in this process, no HTTP: the floor;
(1b) a hand-parsed HTTP/1.1 server on bare asyncio around the same call
(serving_peers/bare_asyncio.py): the floor of a Python HTTP server on this machine (what it
adds over (1) is the machine's loopback round trip, not anyone's framework); (2) Shipyard: a
real ``shipyard up`` in a temporary home, the model file registered as a model package
(format ``lightgbm``), approved and deployed as an endpoint, invoked at ``POST
/api/v1/endpoints/{name}/invocations`` with the admin's bearer key; (3) uvicorn +
Starlette by hand (serving_peers/starlette_app.py), from the project's environment;
(4) BentoML (serving_peers/bentoml_service.py) and (5) ``mlflow models serve``, each from a
virtual environment of its own under benchmarks/.venv/ (ignored by git; created once with
pip, their pins conflict with the project's), the model saved in each one's native format;
a peer whose install or start fails is skipped with the reason. Access logs are off
everywhere.

Shipyard's server also serves two more endpoints of the same model: one whose variant has
micro-batching on (``batching``: up to 32 rows, no wait) and one with a shadow variant
that gets a copy of every request (``sampling_percentage`` 100). Each is compared with the
plain endpoint in rounds that alternate between the two (so that a change of the machine's
load falls on both alike): batched against unbatched at concurrency 64 (throughput, no
5xx) and 1 (p99), and with against without the shadow at concurrency 1 (p50: each round's
difference, with shadow less without, over their standard error: a t statistic, so that
"unchanged within noise" means a difference the rounds cannot tell from none).

Every server runs pinned to one core (Shipyard's model instances too: they are its
processes, and inherit its core, so that it competes with one core as every peer does), the
load generator (this process: asyncio over
keep-alive connections, one request in flight per connection) to the other. Per
concurrency level (1, 32, 64): a warm-up, then a fixed duration; p50/p99 latency,
requests/s, non-2xx answers and transport errors (a figure is fair only when both are
zero), and how busy each core was (a load generator near 100 % means the figure is the
client's ceiling, not the server's). Each contestant starts once both cores are quiet;
a level during which another program used either core is reported as not clean. Then
Shipyard's invocation path is timed stage by stage and profiled with cProfile, in-process.

Run ``.venv/bin/python benchmarks/serving.py``: about ten minutes, plus one or two the
first time for pip (``--only shipyard,starlette`` runs some contestants only, for a quick
look; the JSON is then written next to the full one, as serving-partial.json). Prints a
table with the ratios against the peers and writes every figure to
benchmarks/results/serving.json. Goals: at concurrency 1, Shipyard's overhead over the
floor <= 0.3 ms at p50 and <= 1 ms at p99; at concurrency 32, requests/s >= 0.8x
Starlette's, >= 4x BentoML's with a p99 <= 0.2x BentoML's, and >= MLflow's; micro-batching
>= 1.5x the unbatched requests/s at concurrency 64 with no 5xx, and a p99 at concurrency 1
<= 1.1x the unbatched one; a 100 % shadow leaves the p50 at concurrency 1 unchanged
within noise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from serving_peers.environments import (
    PeerEnvironment,
    peer_env,
    peer_environments,
    prepare_environments,
    versions_in,
)
from serving_peers.inprocess import measure_floor, profile_shipyard
from serving_peers.load import Sample, drive
from serving_peers.processes import (
    Server,
    ServerPool,
    core_busy,
    core_ticks,
    cpu_seconds,
    free_port,
    wait_for,
    wait_for_quiet_cores,
    wait_until_idle,
)

from shipyard.sdk.client import Session
from shipyard.sdk.registry import ModelPackageGroup
from shipyard.sdk.serving import Predictor

# lightgbm and Shipyard's server are imported only inside functions that run once this
# process is pinned to its core: OpenMP sizes its thread team from the affinity at load,
# and the floor must predict with one thread, as the pinned servers do.

ROWS = 20_000
FEATURES = 30
FEATURE_NAMES = [f"f{i}" for i in range(FEATURES)]
TREES = 100
LEAVES = 31
LEVELS = (1, 32, 64)
WARMUP_SECONDS = 2.0
MEASURE_SECONDS = 5.0
START_TIMEOUT_SECONDS = 180.0
ENDPOINT = "serving-bench"
BATCHED_ENDPOINT = "serving-bench-batched"
SHADOW_ENDPOINT = "serving-bench-shadow"
BATCHING = {"max_batch_size": 32, "max_wait_ms": 0}
ROUNDS = 6
ROUND_SECONDS = 2.0
"""The alternating comparisons: each side ROUNDS stretches of ROUND_SECONDS."""
CONTESTANTS = ("bare", "shipyard", "starlette", "bentoml", "mlflow")
HERE = Path(__file__).parent
PEERS = HERE / "serving_peers"
RESULTS = HERE / "results" / "serving.json"
PARTIAL_RESULTS = HERE / "results" / "serving-partial.json"
KEY_PATTERN = re.compile(r"sy_[0-9a-f]{16}_[A-Za-z0-9_-]+")

GOALS = {
    "p50_overhead_c1_ms": ("<=", 0.3),
    "p99_overhead_c1_ms": ("<=", 1.0),
    "rps_c32_over_starlette": (">=", 0.8),
    "rps_c32_over_bentoml": (">=", 4.0),
    "p99_c32_over_bentoml": ("<=", 0.2),
    "rps_c32_over_mlflow": (">=", 1.0),
    "rps_c64_batched_over_unbatched": (">=", 1.5),
    "http_5xx_c64_batched": ("<=", 0),
    "p99_c1_batched_over_unbatched": ("<=", 1.1),
    "p50_c1_shadow_change_t": ("<=", 2.0),
}
GOAL_LABELS = {
    "p50_overhead_c1_ms": "p50 overhead over raw predict, c1 (ms)",
    "p99_overhead_c1_ms": "p99 overhead over raw predict, c1 (ms)",
    "rps_c32_over_starlette": "rps c32 / Starlette rps c32",
    "rps_c32_over_bentoml": "rps c32 / BentoML rps c32",
    "p99_c32_over_bentoml": "p99 c32 / BentoML p99 c32",
    "rps_c32_over_mlflow": "rps c32 / MLflow rps c32",
    "rps_c64_batched_over_unbatched": "rps c64 batched / unbatched",
    "http_5xx_c64_batched": "5xx answers, batched c64",
    "p99_c1_batched_over_unbatched": "p99 c1 batched / unbatched",
    "p50_c1_shadow_change_t": "p50 c1 with shadow - without, t of rounds",
}


# ---- the model ----------------------------------------------------------------------------
def train_model(directory: Path) -> tuple[Path, list[float]]:
    """The booster's text model file, and the row every request sends."""
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, FEATURES)).astype(np.float32)
    logits = x @ rng.normal(scale=0.5, size=FEATURES) + x[:, 0] * x[:, 1] + rng.normal(size=ROWS)
    params = {
        "objective": "binary",
        "num_leaves": LEAVES,
        "learning_rate": 0.1,
        "num_threads": 1,
        "deterministic": True,
        "seed": 0,
        "verbose": -1,
    }
    data = lgb.Dataset(x, label=(logits > 0).astype(int), feature_name=FEATURE_NAMES)
    booster = lgb.train(params, data, num_boost_round=TREES)
    path = directory / "model.txt"
    booster.save_model(path)
    # multiples of 1/1024: exact in float32 and float64, so every server predicts on the
    # same numbers whichever type it parses them into
    row = (np.round(rng.normal(size=FEATURES) * 1024) / 1024).tolist()
    return path, row


# ---- the contestants ----------------------------------------------------------------------
@dataclass
class Target:
    """A started server and how to ask it for a prediction."""

    name: str
    server: Server
    port: int
    path: str
    headers: dict[str, str]
    probability: Callable[[Any], float]
    """P(class 1) read from one of its answers."""
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def at(self, name: str, path: str) -> Target:
        """Another endpoint of the same server."""
        return dataclasses.replace(self, name=name, path=path, notes={})

    def request(self, body: bytes) -> bytes:
        lines = [
            f"POST {self.path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Content-Type: application/json",
            "Accept: application/json",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in self.headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def answer(self, body: bytes) -> dict[str, Any] | None:
        """Its answer to ``body``, or None while it does not answer 200."""
        headers = {"Content-Type": "application/json", **self.headers}
        try:
            response = httpx.post(self.url, content=body, headers=headers, timeout=5)
        except httpx.TransportError:
            return None
        return response.json() if response.status_code == 200 else None


def start_shipyard(pool: ServerPool, home: Path, model_file: Path) -> Target:
    """``shipyard up`` in ``home``; the model registered, approved and deployed through the
    SDK, as a user would."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env |= {
        "SHIPYARD_HOME": str(home),
        "SHIPYARD_HOST": "127.0.0.1",
        "SHIPYARD_PORT": str(port),
        "SHIPYARD_LOAD_QUICKSTART": "false",
    }
    command = [sys.executable, "-m", "shipyard.cli.main", "up"]
    # run from the home's folder: no shipyard.toml of the caller's applies
    server = pool.start("shipyard", command, env, cwd=home.parent)
    token = wait_for(
        lambda: (m := KEY_PATTERN.search(server.log.read_text(errors="replace"))) and m.group(0),
        "admin key in its output",
        server,
        START_TIMEOUT_SECONDS,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(f"{url}/api/v1/openapi.json"), "answer", server, 60)
    with Session(url, token, timeout=120) as session:
        group = ModelPackageGroup.create(ENDPOINT, session=session)
        package = group.register(
            model_data=model_file,
            model_format="lightgbm",
            feature_names=FEATURE_NAMES,
            problem_type="binary_classification",
            classes=[0, 1],
            inference_spec={"framework": "lightgbm"},
            approval_status="Approved",
        )
        package.deploy(ENDPOINT)  # waits until InService
        deploy_comparisons(session)
    return Target(
        "shipyard",
        server,
        port,
        invocations_path(ENDPOINT),
        {"Authorization": f"Bearer {token}"},
        lambda answer: answer["probabilities"][0][1],
        {
            "server": "shipyard up: API, console, job worker and scheduler in one process",
            "access_log": "off: shipyard up runs uvicorn at log level warning",
            "auth": "the admin's bearer API key",
        },
    )


def invocations_path(endpoint: str) -> str:
    return f"/api/v1/endpoints/{endpoint}/invocations"


def deploy_comparisons(session: Session) -> None:
    """The batched and the shadowed endpoints, of the model the plain one serves."""
    described = session.get(f"/api/v1/endpoint-configs/{ENDPOINT}")
    model = described["production_variants"][0]["model_name"]
    configs = {
        BATCHED_ENDPOINT: {
            "production_variants": [
                {"variant_name": "AllTraffic", "model_name": model, "batching": BATCHING}
            ]
        },
        SHADOW_ENDPOINT: {
            "production_variants": [{"variant_name": "AllTraffic", "model_name": model}],
            "shadow_production_variants": [
                {"variant_name": "Shadow", "model_name": model, "sampling_percentage": 100}
            ],
        },
    }
    for name, config in configs.items():
        session.post("/api/v1/endpoint-configs", json={"name": name, **config})
        session.post("/api/v1/endpoints", json={"name": name, "endpoint_config_name": name})
    for name in configs:
        Predictor(name, session=session).wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def start_starlette(pool: ServerPool, model_file: Path) -> Target:
    port = free_port()
    env = {**os.environ, "SERVING_BENCH_MODEL": str(model_file)}
    command = [sys.executable, "-m", "uvicorn", "starlette_app:app", "--app-dir", str(PEERS)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    server = pool.start("starlette", [*command, "--log-level", "warning"], env)
    notes = {"server": "uvicorn, one process", "access_log": "off: --no-access-log"}
    return Target(
        "starlette", server, port, "/invocations", {}, lambda a: a["probabilities"][0][1], notes
    )


def start_bare(pool: ServerPool, model_file: Path) -> Target:
    port = free_port()
    env = {**os.environ, "SERVING_BENCH_MODEL": str(model_file)}
    server = pool.start("bare", [sys.executable, str(PEERS / "bare_asyncio.py"), str(port)], env)
    notes = {"server": "hand-parsed HTTP/1.1 on asyncio, one process", "access_log": "none"}
    probability = lambda a: a["probabilities"][0][1]  # noqa: E731
    return Target("bare", server, port, "/invocations", {}, probability, notes)


def start_bentoml(
    pool: ServerPool, env: PeerEnvironment, scratch: Path, model_file: Path
) -> Target:
    variables = peer_env(env, BENTOML_HOME=str(scratch / "bentoml"), BENTOML_DO_NOT_TRACK="True")
    subprocess.run(
        [str(env.python), str(PEERS / "bentoml_service.py"), str(model_file)],
        env=variables,
        cwd=PEERS,
        check=True,
        capture_output=True,
        timeout=300,
    )
    port = free_port()
    command = [str(env.venv / "bin" / "bentoml"), "serve", "bentoml_service:LightGBMClassifier"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--working-dir", str(PEERS)]
    server = pool.start("bentoml", command, variables, cwd=PEERS)
    notes = {
        "server": "bentoml serve, one worker",
        "access_log": "off: logging.access.enabled false in the service's config",
    }
    return Target(
        "bentoml", server, port, "/invocations", {}, lambda a: a["probabilities"][0][1], notes
    )


def start_mlflow(pool: ServerPool, env: PeerEnvironment, scratch: Path, model_file: Path) -> Target:
    model_dir = scratch / "mlflow-model"
    variables = peer_env(
        env, MLFLOW_TRACKING_URI=(scratch / "mlruns").as_uri(), UVICORN_ACCESS_LOG="false"
    )
    subprocess.run(
        [str(env.python), str(PEERS / "mlflow_model.py"), str(model_file), str(model_dir)],
        env=variables,
        check=True,
        capture_output=True,
        timeout=300,
    )
    port = free_port()
    command = [str(env.venv / "bin" / "mlflow"), "models", "serve", "-m", str(model_dir)]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    server = pool.start("mlflow", command, variables)
    notes = {
        "server": "mlflow models serve --env-manager local -w 1 (uvicorn, one worker)",
        "access_log": "off: UVICORN_ACCESS_LOG=false",
    }
    return Target("mlflow", server, port, "/invocations", {}, lambda a: a["predictions"][0], notes)


# ---- the measurement ----------------------------------------------------------------------
@dataclass
class Measured:
    """What one or more timed stretches against one target gave, pooled."""

    sample: Sample = field(default_factory=Sample)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    core_busy_seconds: dict[int, float] = field(default_factory=dict)
    round_p50_ms: list[float] = field(default_factory=list)


def timed_stretch(
    target: Target, request: bytes, concurrency: int, seconds: float, into: Measured
) -> None:
    """``seconds`` of load on ``target``, added to ``into`` with the CPU it cost."""
    pids = target.server.tree()
    server_before, client_before = cpu_seconds(pids), time.process_time()
    cores_before = core_ticks()
    sample = asyncio.run(drive(target.port, request, concurrency, seconds))
    busy = core_busy(cores_before, core_ticks())
    into.server_cpu += cpu_seconds(pids) - server_before
    into.client_cpu += time.process_time() - client_before
    for core, share in busy.items():
        spent = into.core_busy_seconds.get(core, 0.0)
        into.core_busy_seconds[core] = spent + share * sample.seconds
    pooled = into.sample
    pooled.latencies.extend(sample.latencies)
    pooled.statuses.update(sample.statuses)
    pooled.transport_errors += sample.transport_errors
    pooled.seconds += sample.seconds
    if sample.latencies:
        into.round_p50_ms.append(round(float(np.percentile(sample.latencies, 50)) * 1000, 3))


def level_row(concurrency: int, measured: Measured, cores: tuple[int, int]) -> dict[str, Any]:
    sample = measured.sample
    server_busy = measured.server_cpu / sample.seconds
    client_busy = measured.client_cpu / sample.seconds
    busy = {core: spent / sample.seconds for core, spent in measured.core_busy_seconds.items()}
    latencies = np.array(sample.latencies) * 1000
    ok = sum(n for status, n in sample.statuses.items() if 200 <= status < 300)
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "seconds": round(sample.seconds, 3),
        "rps": round(len(latencies) / sample.seconds, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 3) if len(latencies) else None,
        "p99_ms": round(float(np.percentile(latencies, 99)), 3) if len(latencies) else None,
        "mean_ms": round(float(latencies.mean()), 3) if len(latencies) else None,
        "max_ms": round(float(latencies.max()), 3) if len(latencies) else None,
        "non_2xx": len(latencies) - ok,
        "statuses": {str(k): v for k, v in sorted(sample.statuses.items())},
        "transport_errors": sample.transport_errors,
        "server_core_busy": round(server_busy, 3),
        "client_core_busy": round(client_busy, 3),
        # what else ran on each core meanwhile (another program on the machine): a figure
        # taken while it is well above zero is not clean
        "other_load_server_core": round(max(0.0, busy[cores[0]] - server_busy), 3),
        "other_load_client_core": round(max(0.0, busy[cores[1]] - client_busy), 3),
    }


def measure_level(
    target: Target, request: bytes, concurrency: int, cores: tuple[int, int]
) -> dict[str, Any]:
    asyncio.run(drive(target.port, request, concurrency, WARMUP_SECONDS))
    measured = Measured()
    timed_stretch(target, request, concurrency, MEASURE_SECONDS, measured)
    return level_row(concurrency, measured, cores)


def measure_alternating(
    targets: list[Target], body: bytes, concurrency: int, cores: tuple[int, int]
) -> dict[str, dict[str, Any]]:
    """Each target warmed up, then ROUNDS rounds of ROUND_SECONDS on each in turn: a change
    of the machine's load in the meantime falls on all of them alike. Each one's row (as
    :func:`measure_level`'s) with its per-round p50s."""
    for target in targets:
        asyncio.run(drive(target.port, target.request(body), concurrency, WARMUP_SECONDS))
    measured = {target.name: Measured() for target in targets}
    for _ in range(ROUNDS):
        for target in targets:
            request = target.request(body)
            timed_stretch(target, request, concurrency, ROUND_SECONDS, measured[target.name])
    rows = {}
    for target in targets:
        rows[target.name] = row = level_row(concurrency, measured[target.name], cores)
        row["round_p50_ms"] = measured[target.name].round_p50_ms
        print(
            f"  {target.name:<18} c{concurrency:<3} {row['rps']:>8.1f} req/s  "
            f"p50 {row['p50_ms']:.3f} ms  p99 {row['p99_ms']:.3f} ms  "
            f"non-2xx {row['non_2xx']}  errors {row['transport_errors']}  "
            f"rounds' p50 {row['round_p50_ms']}"
        )
    return rows


def compare_shipyard(
    target: Target, body: bytes, expected: float, cores: tuple[int, int]
) -> dict[str, Any]:
    """Micro-batching and a 100 % shadow against the plain endpoint, in alternating rounds."""
    plain = target.at("unbatched", target.path)
    batched = target.at("batched", invocations_path(BATCHED_ENDPOINT))
    shadowed = target.at("with_shadow", invocations_path(SHADOW_ENDPOINT))
    for other in (batched, shadowed):
        ask = functools.partial(other.answer, body)
        answer = wait_for(ask, "200 answer", target.server, START_TIMEOUT_SECONDS)
        served = float(target.probability(answer))
        if abs(served - expected) > 1e-6:
            raise RuntimeError(f"{other.name} answered P(1) = {served}, not {expected}")
    wait_until_idle(target.server)
    print("shipyard: micro-batching against none, alternating")
    batching = {f"c{c}": measure_alternating([plain, batched], body, c, cores) for c in (64, 1)}
    print("shipyard: a 100 % shadow against none, alternating")
    without = target.at("without_shadow", target.path)
    shadow = {"c1": measure_alternating([without, shadowed], body, 1, cores)}
    return {
        "batching": {"config": BATCHING, "levels": batching},
        "shadow": {
            "sampling_percentage": 100,
            "levels": shadow,
            "shadow_report": shadow_report(target),
        },
        "rounds": ROUNDS,
        "round_seconds": ROUND_SECONDS,
    }


def shadow_report(target: Target) -> dict[str, Any]:
    """The shadow endpoint's report once its tallies are written (about once a second):
    proof that the shadow answered the copies, and how many."""
    token = target.headers["Authorization"].split()[1]
    with Session(f"http://127.0.0.1:{target.port}", token, timeout=30) as session:
        report: dict[str, Any] = {}
        for _ in range(20):
            report = session.get(f"/api/v1/endpoints/{SHADOW_ENDPOINT}/shadow-report")
            if report["shadows"]:
                break
            time.sleep(0.5)
        return report


def measure_target(
    target: Target, body: bytes, expected: float, cores: tuple[int, int]
) -> dict[str, Any]:
    """Check that it serves the model (its P(class 1) is the booster's), let it settle, then
    every level."""
    answer = wait_for(
        lambda: target.answer(body), "200 answer", target.server, START_TIMEOUT_SECONDS
    )
    served = float(target.probability(answer))
    if abs(served - expected) > 1e-6:
        raise RuntimeError(f"{target.name} answered P(1) = {served}, the booster says {expected}")
    settled = wait_until_idle(target.server)
    waited, quiet = wait_for_quiet_cores(cores)
    if not quiet:
        print(f"  the cores did not get quiet in {waited:.0f} s: measuring {target.name} anyway")
    request = target.request(body)
    levels = {}
    for concurrency in LEVELS:
        levels[f"c{concurrency}"] = row = measure_level(target, request, concurrency, cores)
        print(
            f"  {target.name:<10} c{concurrency:<3} {row['rps']:>8.1f} req/s  "
            f"p50 {row['p50_ms']:.3f} ms  p99 {row['p99_ms']:.3f} ms  "
            f"non-2xx {row['non_2xx']}  errors {row['transport_errors']}  "
            f"cores busy: server {row['server_core_busy']:.0%}, "
            f"client {row['client_core_busy']:.0%}, "
            f"others {row['other_load_server_core']:.0%} / {row['other_load_client_core']:.0%}"
        )
    return {
        "levels": levels,
        "answer": answer,
        "settle_seconds": settled,
        "waited_for_quiet_cores_seconds": waited,
        "cores_were_quiet": quiet,
        "processes": len(target.server.tree()),
        "affinity": target.server.affinity(),
        "request_bytes": len(request),
    }


# ---- in process: the floor, Shipyard's stages and its profile -----------------------------
# ---- the report ---------------------------------------------------------------------------
def figure(results: dict[str, Any], name: str, level: str, key: str) -> float | None:
    contestant = results.get(name)
    return None if contestant is None else contestant["levels"][level][key]


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else round(a / b, 3)


def goal_figures(floor: dict[str, Any], results: dict[str, Any]) -> dict[str, float | None]:
    p50 = figure(results, "shipyard", "c1", "p50_ms")
    p99 = figure(results, "shipyard", "c1", "p99_ms")
    rps = figure(results, "shipyard", "c32", "rps")
    return {
        "p50_overhead_c1_ms": None if p50 is None else round(p50 - floor["p50_ms"], 3),
        "p99_overhead_c1_ms": None if p99 is None else round(p99 - floor["p99_ms"], 3),
        "rps_c32_over_starlette": ratio(rps, figure(results, "starlette", "c32", "rps")),
        "rps_c32_over_bentoml": ratio(rps, figure(results, "bentoml", "c32", "rps")),
        "p99_c32_over_bentoml": ratio(
            figure(results, "shipyard", "c32", "p99_ms"),
            figure(results, "bentoml", "c32", "p99_ms"),
        ),
        "rps_c32_over_mlflow": ratio(rps, figure(results, "mlflow", "c32", "rps")),
        **comparison_figures(results),
    }


def comparison_figures(results: dict[str, Any]) -> dict[str, float | None]:
    """The batching and shadow goals' figures, from the alternating rounds."""
    comparisons = results.get("shipyard", {}).get("comparisons")
    if comparisons is None:
        return dict.fromkeys(list(GOALS)[-4:])
    c64, c1 = (comparisons["batching"]["levels"][level] for level in ("c64", "c1"))
    shadow = comparisons["shadow"]["levels"]["c1"]
    plain, shadowed = shadow["without_shadow"], shadow["with_shadow"]
    changes = np.array(shadowed["round_p50_ms"]) - np.array(plain["round_p50_ms"])
    error = float(changes.std(ddof=1)) / np.sqrt(len(changes)) if len(changes) > 1 else 0.0
    return {
        "rps_c64_batched_over_unbatched": ratio(c64["batched"]["rps"], c64["unbatched"]["rps"]),
        "http_5xx_c64_batched": sum(
            n for status, n in c64["batched"]["statuses"].items() if int(status) >= 500
        ),
        "p99_c1_batched_over_unbatched": ratio(c1["batched"]["p99_ms"], c1["unbatched"]["p99_ms"]),
        "p50_c1_shadow_change_t": round(float(changes.mean()) / max(error, 0.001), 3),
    }


def machine_figures(floor: dict[str, Any], results: dict[str, Any]) -> dict[str, float | None]:
    """What the bare asyncio server adds over the in-process call (the machine's share of
    any server's latency), and Shipyard's figures over the bare server's (its own)."""

    def over(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(a - b, 3)

    bare50, bare99 = (figure(results, "bare", "c1", key) for key in ("p50_ms", "p99_ms"))
    ours50, ours99 = (figure(results, "shipyard", "c1", key) for key in ("p50_ms", "p99_ms"))
    return {
        "bare_p50_c1_over_raw_ms": over(bare50, floor["p50_ms"]),
        "bare_p99_c1_over_raw_ms": over(bare99, floor["p99_ms"]),
        "shipyard_p50_c1_over_bare_ms": over(ours50, bare50),
        "shipyard_p99_c1_over_bare_ms": over(ours99, bare99),
        "shipyard_rps_c32_over_bare": ratio(
            figure(results, "shipyard", "c32", "rps"), figure(results, "bare", "c32", "rps")
        ),
    }


def goal_met(key: str, value: float | None) -> bool | None:
    if value is None:
        return None
    sense, bound = GOALS[key]
    return value <= bound if sense == "<=" else value >= bound


def unfair(results: dict[str, Any]) -> dict[str, list[str]]:
    """For each contestant, the levels with a non-2xx answer or a transport error."""
    return {
        name: [
            level
            for level, row in result["levels"].items()
            if row["non_2xx"] or row["transport_errors"]
        ]
        for name, result in results.items()
    }


def contended(results: dict[str, Any]) -> dict[str, list[str]]:
    """For each contestant, the levels during which something else used over 10 % of
    either core."""
    return {
        name: [
            level
            for level, row in result["levels"].items()
            if max(row["other_load_server_core"], row["other_load_client_core"]) > 0.10
        ]
        for name, result in results.items()
    }


def print_report(
    floor: dict[str, Any],
    results: dict[str, Any],
    skipped: dict[str, str],
    goals: dict[str, float | None],
    profile: dict[str, Any] | None,
    machine: dict[str, float | None],
) -> None:
    print()
    header = f"{'contestant':<22}{'p50 c1':>8}{'p99 c1':>8}{'rps c32':>9}{'p99 c32':>9}"
    header += f"{'rps c64':>9}{'p99 c64':>9}{'bad':>6}{'+p50 c1':>9}{'+p99 c1':>9}"
    print(header + "   (ms; bad = non-2xx + transport errors; +: over raw predict)")
    print(
        f"{'raw predict (floor)':<22}{floor['p50_ms']:>8.3f}{floor['p99_ms']:>8.3f}"
        + "        —" * 4
    )
    for name in CONTESTANTS:
        label = "bare asyncio" if name == "bare" else name
        if name not in results:
            print(f"{label:<22}skipped: {skipped.get(name, 'not run')}")
            continue
        levels = results[name]["levels"]
        c1, c32, c64 = levels["c1"], levels["c32"], levels["c64"]
        bad = sum(row["non_2xx"] + row["transport_errors"] for row in levels.values())
        print(
            f"{label:<22}{c1['p50_ms']:>8.3f}{c1['p99_ms']:>8.3f}{c32['rps']:>9.0f}"
            f"{c32['p99_ms']:>9.2f}{c64['rps']:>9.0f}{c64['p99_ms']:>9.2f}{bad:>6}"
            f"{c1['p50_ms'] - floor['p50_ms']:>9.3f}{c1['p99_ms'] - floor['p99_ms']:>9.3f}"
        )
    print(
        f"raw predict: {floor['calls_per_second']} calls/s on one core, the ceiling of any server"
    )
    if machine["bare_p50_c1_over_raw_ms"] is not None:
        print(
            f"the machine's share (bare asyncio over raw predict, c1): "
            f"{machine['bare_p50_c1_over_raw_ms']:+.3f} ms p50, "
            f"{machine['bare_p99_c1_over_raw_ms']:+.3f} ms p99"
        )
    if machine["shipyard_p50_c1_over_bare_ms"] is not None:
        print(
            f"Shipyard's own share (over bare asyncio, c1): "
            f"{machine['shipyard_p50_c1_over_bare_ms']:+.3f} ms p50, "
            f"{machine['shipyard_p99_c1_over_bare_ms']:+.3f} ms p99; "
            f"rps c32 {machine['shipyard_rps_c32_over_bare']:.2f}x bare asyncio's"
        )
    comparisons = results.get("shipyard", {}).get("comparisons")
    if comparisons:
        print_comparisons(comparisons)
    print()
    title = "core busy: server / client / others on the server core"
    print(f"{title:<56}" + "".join(f"{'c' + str(c):>16}" for c in LEVELS))
    for name, result in results.items():
        cells = "".join(
            f"{row['server_core_busy']:>6.0%} /{row['client_core_busy']:>4.0%} /"
            f"{row['other_load_server_core']:>4.0%}"
            for row in result["levels"].values()
        )
        print(f"{name:<56}{cells}")
    print()
    print(f"{'Shipyard goal':<42}{'measured':>10}{'goal':>10}  met")
    for key, value in goals.items():
        sense, bound = GOALS[key]
        met = goal_met(key, value)
        shown = "n/a" if value is None else f"{value:.3f}"
        verdict = "n/a" if met is None else ("yes" if met else "no")
        print(f"{GOAL_LABELS[key]:<42}{shown:>10}{sense + ' ' + str(bound):>10}  {verdict}")
    for name, levels in unfair(results).items():
        if levels:
            print(f"not a fair figure: {name} had non-2xx answers or errors at {', '.join(levels)}")
    for name, levels in contended(results).items():
        if levels:
            print(f"not a clean figure: other programs used a core during {name} at {levels}")
    if profile:
        print()
        print("Shipyard in process, on the server core (p50, microseconds):")
        for stage, micros in profile["stages_p50_us"].items():
            print(f"  {stage:<40}{micros:>9.1f}")
        print(f"  thread hops per invocation: {profile['thread_hops_per_invocation']}")
        print(f"top own time per invocation (cProfile, {profile['profile_requests']} invocations):")
        print_costs(profile["top_by_own_time"][:15])
        print("Shipyard's own functions by cumulative time per invocation (cProfile):")
        print_costs(profile["shipyard_by_cumulative_time"][:10])
        print("  (cProfile slows Python calls several times over: read shares, not durations)")


def print_comparisons(comparisons: dict[str, Any]) -> None:
    print()
    print(
        f"Shipyard, alternating rounds ({comparisons['rounds']} x "
        f"{comparisons['round_seconds']:g} s each side):"
    )
    print(f"{'':<30}{'rps':>9}{'p50':>9}{'p99':>9}{'5xx':>6}{'bad':>6}  rounds' p50 (ms)")
    sections = [
        (f"batching {level}", rows) for level, rows in comparisons["batching"]["levels"].items()
    ] + [(f"shadow {level}", rows) for level, rows in comparisons["shadow"]["levels"].items()]
    for title, rows in sections:
        for name, row in rows.items():
            errors = sum(n for status, n in row["statuses"].items() if int(status) >= 500)
            bad = row["non_2xx"] + row["transport_errors"]
            print(
                f"{title + ': ' + name:<30}{row['rps']:>9.0f}{row['p50_ms']:>9.3f}"
                f"{row['p99_ms']:>9.3f}{errors:>6}{bad:>6}  {row['round_p50_ms']}"
            )
    for shadow in comparisons["shadow"]["shadow_report"].get("shadows", []):
        print(
            f"shadow '{shadow['shadow_variant']}': {shadow['requests']} copies answered, "
            f"{shadow['shadow_errors']} errors, agreement {shadow['agreement_rate']}"
        )


def print_costs(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        print(
            f"  {row['own_us_per_request']:>7.1f} us own "
            f"{row['cumulative_us_per_request']:>8.1f} us cum"
            f" {row['calls_per_request']:>6.1f}x  {row['function']}"
        )


def write_results(figures: dict[str, Any], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    partial.replace(path)


# ---- the run ------------------------------------------------------------------------------
def _interrupted(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def choose_cores() -> tuple[int, int]:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit(
            f"this benchmark pins the servers and the load generator to two different cores; "
            f"this process may use only {cores}"
        )
    return cores[0], cores[1]


def run_contestant(
    start: Callable[[], Target], body: bytes, expected: float, cores: tuple[int, int]
) -> dict[str, Any]:
    target = start()
    try:
        print(f"{target.name}: started, checking its answer and letting it settle")
        measured = measure_target(target, body, expected, cores)
        measured["notes"] = target.notes
        if target.name == "shipyard":
            measured["comparisons"] = compare_shipyard(target, body, expected, cores)
        return measured
    finally:
        target.server.stop()


def run_contestants(
    pool: ServerPool,
    scratch: Path,
    environments: list[PeerEnvironment],
    skipped: dict[str, str],
    cores: tuple[int, int],
    only: tuple[str, ...] = CONTESTANTS,
    profiling: bool = True,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None, str]:
    """The floor, each contestant's figures (skipped ones added to ``skipped``) and
    Shipyard's in-process profile; the request body."""
    model_file, row = train_model(scratch)
    body = json.dumps({"instances": [row]}).encode()
    floor = measure_floor(model_file, row, cores[0])
    print(f"raw predict: p50 {floor['p50_ms']:.4f} ms, p99 {floor['p99_ms']:.4f} ms")
    by_name = {env.name: env for env in environments}
    starts: dict[str, Callable[[], Target]] = {
        "bare": lambda: start_bare(pool, model_file),
        "shipyard": lambda: start_shipyard(pool, scratch / "shipyard-home", model_file),
        "starlette": lambda: start_starlette(pool, model_file),
        "bentoml": lambda: start_bentoml(pool, by_name["bentoml"], scratch, model_file),
        "mlflow": lambda: start_mlflow(pool, by_name["mlflow"], scratch, model_file),
    }
    results: dict[str, Any] = {}
    for name, start in starts.items():
        if name not in only:
            skipped[name] = "not asked for (--only)"
            continue
        if name in skipped:
            print(f"{name}: skipped: {skipped[name]}")
            continue
        try:
            results[name] = run_contestant(start, body, floor["probability"], cores)
        except (RuntimeError, OSError, subprocess.SubprocessError, httpx.HTTPError) as exc:
            skipped[name] = _reason(exc)
            print(f"{name}: skipped: {skipped[name]}")
        pool.stop_all()  # also one that failed half-way: the next has the core to itself
    token = _token_of(scratch / "shipyard.log")
    profile = None
    if profiling and "shipyard" in results and token is not None:
        print("profiling Shipyard's invocation path in process")
        profile = profile_shipyard(scratch / "shipyard-home", ENDPOINT, token, body, row, cores[0])
    return floor, results, profile, body.decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        default=",".join(CONTESTANTS),
        help=f"comma-separated contestants to run, of {', '.join(CONTESTANTS)} (default all)",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process profile")
    options = parser.parse_args()
    only = tuple(name.strip() for name in options.only.split(",") if name.strip())
    unknown = sorted(set(only) - set(CONTESTANTS))
    if unknown:
        parser.error(f"--only: no contestant {', '.join(unknown)}")
    begun = time.perf_counter()
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGHUP, _interrupted)
    cores = choose_cores()
    load_at_start = list(os.getloadavg())
    if load_at_start[0] > 0.5:
        print(
            f"the machine is not idle (load average {load_at_start[0]:.2f}): figures may be noisy"
        )
    environments = [env for env in peer_environments() if env.name in only]
    installing = time.perf_counter()
    skipped = prepare_environments(environments)  # on every core: pip is slow
    install_seconds = round(time.perf_counter() - installing, 1)
    os.sched_setaffinity(0, {cores[1]})
    versions: dict[str, Any] = {
        "project": versions_in(sys.executable, ["shipyard"]) | source_state(),
        "machine": {"platform": platform.platform(), "cpu": _cpu_model(), "cpus": os.cpu_count()},
    }
    for env in environments:
        if env.name not in skipped:
            versions[env.name] = versions_in(env.python, [env.name])
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as directory:
        pool = ServerPool(cores[0], Path(directory))
        try:
            floor, results, profile, payload = run_contestants(
                pool, Path(directory), environments, skipped, cores, only, not options.no_profile
            )
        finally:
            pool.stop_all()
    goals = goal_figures(floor, results)
    machine = machine_figures(floor, results)
    print_report(floor, results, skipped, goals, profile, machine)
    figures = {
        "model": {
            "library": "lightgbm",
            "objective": "binary",
            "trees": TREES,
            "leaves": LEAVES,
            "features": FEATURES,
            "training_rows": ROWS,
        },
        "payload": payload,
        "payload_bytes": len(payload),
        "levels": list(LEVELS),
        "warmup_seconds": WARMUP_SECONDS,
        "measure_seconds": MEASURE_SECONDS,
        "cpu": {
            "server_core": cores[0],
            "client_core": cores[1],
            "load_generator_affinity": sorted(os.sched_getaffinity(0)),
            "servers": {name: result["affinity"] for name, result in results.items()},
            "shipyard_instances": "child processes of its server: on the server core with it",
        },
        "versions": versions,
        "floor": floor,
        "contestants": results,
        "skipped": skipped,
        "not_fair": {name: levels for name, levels in unfair(results).items() if levels},
        "contended": {name: levels for name, levels in contended(results).items() if levels},
        "load_average_at_start": load_at_start,
        "load_average_at_end": list(os.getloadavg()),
        "goal_figures": goals,
        "machine_figures": machine,
        "goals": {key: f"{sense} {bound}" for key, (sense, bound) in GOALS.items()},
        "goals_met": {key: goal_met(key, value) for key, value in goals.items()},
        "profile": profile,
        "seconds_installing_peers": install_seconds,
        "seconds_total": round(time.perf_counter() - begun, 1),
    }
    written = RESULTS if set(only) == set(CONTESTANTS) else PARTIAL_RESULTS
    write_results(figures, written)
    print(f"\nwrote {written} in {figures['seconds_total']:.0f} s")


def source_state() -> dict[str, Any]:
    """The commit measured, and the files under src/ that differ from it (read-only git)."""
    root = HERE.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "src")
    return {"git_commit": git("rev-parse", "HEAD"), "src_uncommitted": changed.splitlines()}


def _token_of(log: Path) -> str | None:
    match = KEY_PATTERN.search(log.read_text(errors="replace")) if log.exists() else None
    return match.group(0) if match else None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        output = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-5:]
        return f"{' '.join(map(str, exc.cmd[:3]))} ... failed ({exc.returncode}): " + " | ".join(
            output
        )
    return f"{type(exc).__name__}: {exc}"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: every server this run started is stopped")
