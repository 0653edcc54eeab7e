"""In the benchmark's own process: the floor (``Booster.predict`` on one row), and
Shipyard's invocation path stage by stage and under cProfile, through its ASGI app with no
HTTP (uvicorn's share is the live figure less these)."""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from serving_peers.processes import pinned

FLOOR_CALLS = 5_000
STAGE_CALLS = 2_000
PROFILE_REQUESTS = 3_000
THIS_FILE = os.path.abspath(__file__)


def timed_calls(call: Callable[[], Any], calls: int) -> np.ndarray:
    for _ in range(min(500, calls)):
        call()
    times = np.empty(calls)
    for i in range(calls):
        started = time.perf_counter_ns()
        call()
        times[i] = time.perf_counter_ns() - started
    return times / 1e6  # ms


def measure_floor(model_file: Path, row: list[float], core: int) -> dict[str, Any]:
    import lightgbm as lgb

    booster = lgb.Booster(model_file=str(model_file))
    matrix = np.asarray([row], dtype=np.float32)
    with pinned(core):
        times = timed_calls(lambda: booster.predict(matrix), FLOOR_CALLS)
    return {
        "calls": FLOOR_CALLS,
        "p50_ms": round(float(np.percentile(times, 50)), 4),
        "p99_ms": round(float(np.percentile(times, 99)), 4),
        "mean_ms": round(float(times.mean()), 4),
        "calls_per_second": round(1000 / float(times.mean())),
        "probability": float(booster.predict(matrix)[0]),
    }


def asgi_caller(app: Any, path: str, body: bytes, token: str) -> Callable[[], Any]:
    """An awaitable factory: one invocation through the whole ASGI app (middleware,
    routing, auth, the route), no HTTP; raises unless it answers 200."""
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"accept", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"authorization", f"Bearer {token}".encode()),
    ]

    async def call() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        received = False
        status = [0]

        async def receive() -> dict[str, Any]:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never hangs up
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]

        await app(scope, receive, send)
        if status[0] != 200:
            raise RuntimeError(f"the in-process invocation answered {status[0]}")

    return call


def async_timed(call: Callable[[], Any], calls: int) -> np.ndarray:
    async def run() -> np.ndarray:
        for _ in range(min(200, calls)):
            await call()
        times = np.empty(calls)
        for i in range(calls):
            started = time.perf_counter_ns()
            await call()
            times[i] = time.perf_counter_ns() - started
        return times / 1e6

    return asyncio.run(run())


@contextlib.contextmanager
def thread_hops(mode: str) -> Iterator[list[int]]:
    """Every ``anyio.to_thread.run_sync`` (Starlette's and FastAPI's ``run_in_threadpool``:
    the route's own hop and one per sync dependency) counted (``"count"``) or run inline on
    the event loop (``"inline"``), so that a profiler of this thread sees their work."""
    import anyio.to_thread

    real = anyio.to_thread.run_sync
    hops = [0]

    async def counted(function: Callable[..., Any], *args: Any, **options: Any) -> Any:
        hops[0] += 1
        return await real(function, *args, **options)

    async def inline(function: Callable[..., Any], *args: Any, **_: Any) -> Any:
        return function(*args)

    anyio.to_thread.run_sync = counted if mode == "count" else inline  # type: ignore[assignment]
    try:
        yield hops
    finally:
        anyio.to_thread.run_sync = real


def profile_shipyard(
    home: Path, endpoint: str, token: str, body: bytes, row: list[float], core: int
) -> dict[str, Any]:
    """Shipyard's invocation path in this process, on the server core, on the endpoint the
    live server left in ``home``: each stage's median, the thread hops of one invocation,
    and cProfile's top costs over PROFILE_REQUESTS invocations through the ASGI app (every
    hop made inline, so that the profiler sees all the work of this process; the instance
    that predicts is another). No HTTP: uvicorn's share is the live figure less these."""
    from fastapi.concurrency import run_in_threadpool

    from shipyard.core.config import Settings
    from shipyard.server import build_context, create_app
    from shipyard.serving.loading import load_verified
    from shipyard.serving.payloads import parse_body, render

    settings = Settings(
        home=home,
        database_url=None,
        artifact_uri=None,
        run_worker=False,
        run_scheduler=False,
        load_quickstart=False,
    )
    context = build_context(settings)
    app = create_app(settings, context)
    host = context.extras["model_host"]
    host.deploy(endpoint)
    # the model answers in an instance process; its stages are timed on a copy loaded here
    source = host.deployment(endpoint).variants[0].fleet.spec.source
    model = load_verified(context.store, source, home / "profile-model")
    matrix = np.asarray([row], dtype=np.float32)
    frame = parse_body(body, "application/json")
    result = model.predict(frame)
    call = asgi_caller(app, f"/api/v1/endpoints/{endpoint}/invocations", body, token)

    async def hop() -> None:
        await run_in_threadpool(int)

    stages: dict[str, np.ndarray] = {}
    with pinned(core):
        stages["booster.predict (the floor)"] = timed_calls(
            lambda: model.booster.predict(matrix), STAGE_CALLS
        )
        stages["json.loads + np.asarray (Starlette's way)"] = timed_calls(
            lambda: np.asarray(json.loads(body)["instances"], dtype=np.float32), STAGE_CALLS
        )
        stages["parse_body: JSON to DataFrame"] = timed_calls(
            lambda: parse_body(body, "application/json"), STAGE_CALLS
        )
        stages["model.predict(DataFrame)"] = timed_calls(lambda: model.predict(frame), STAGE_CALLS)
        stages["  of which feature_matrix"] = timed_calls(
            lambda: model.model_input(frame), STAGE_CALLS
        )
        stages["render: result to JSON"] = timed_calls(
            lambda: render(result, "application/json"), STAGE_CALLS
        )
        stages["one thread pool hop (run_in_threadpool)"] = async_timed(hop, STAGE_CALLS)
        stages["ASGI app, whole invocation"] = async_timed(call, STAGE_CALLS)
        with thread_hops("count") as hops:
            asyncio.run(call())
        with thread_hops("inline"):
            stages["ASGI app, every thread hop inline"] = async_timed(call, STAGE_CALLS)
            profiler = cProfile.Profile()

            async def many() -> None:
                for _ in range(PROFILE_REQUESTS):
                    await call()

            profiler.enable()
            asyncio.run(many())
            profiler.disable()
    host.close()
    context.db.dispose()
    return {
        "stages_p50_us": {
            k: round(float(np.percentile(v, 50)) * 1000, 1) for k, v in stages.items()
        },
        "thread_hops_per_invocation": hops[0],
        "profile_requests": PROFILE_REQUESTS,
        "top_by_own_time": top_costs(profiler, "tottime"),
        "top_by_cumulative_time": top_costs(profiler, "cumulative"),
        "shipyard_by_cumulative_time": [
            row
            for row in top_costs(profiler, "cumulative", count=10_000)
            if row["function"].startswith("shipyard/")
        ][:15],
    }


def top_costs(profiler: cProfile.Profile, key: str, count: int = 25) -> list[dict[str, Any]]:
    """The profile's top functions per invocation, this module's own left out. A
    coroutine's calls count each time it resumes."""
    table = pstats.Stats(profiler).stats  # type: ignore[attr-defined]  # not in typeshed
    rows = []
    for (path, line, function), (_, calls, own, cumulative, _) in table.items():
        if os.path.abspath(path) == THIS_FILE:
            continue
        rows.append(
            {
                "function": f"{_short(path)}:{line}({function})",
                "calls_per_request": round(calls / PROFILE_REQUESTS, 2),
                "own_us_per_request": round(own / PROFILE_REQUESTS * 1e6, 1),
                "cumulative_us_per_request": round(cumulative / PROFILE_REQUESTS * 1e6, 1),
            }
        )
    sort_key = "own_us_per_request" if key == "tottime" else "cumulative_us_per_request"
    return sorted(rows, key=lambda r: r[sort_key], reverse=True)[:count]


def _short(path: str) -> str:
    for marker in ("site-packages/", "src/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path
