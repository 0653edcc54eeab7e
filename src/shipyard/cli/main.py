"""The ``shipyard`` command. ``up``, ``worker`` and ``migrate`` run server code; the rest
speak HTTP through the SDK."""

from __future__ import annotations

import gc
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli import (
    alarms,
    datasets,
    endpoints,
    lineage,
    logs,
    metrics,
    models,
    pipelines,
    processing,
    registry,
    topics,
    training,
    transform,
    tuning,
)
from shipyard.cli.common import TokenOption, UrlOption, console, handle_errors, session
from shipyard.core.config import Settings

if TYPE_CHECKING:
    from shipyard.core.db import Database

app = typer.Typer(
    name="shipyard",
    help="Shipyard: train, deploy and monitor models on your own machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(datasets.app, name="datasets")
app.add_typer(processing.app, name="processing")
app.add_typer(training.app, name="training")
app.add_typer(tuning.app, name="tuning")
app.add_typer(models.app, name="models")
app.add_typer(endpoints.app, name="endpoints")
app.add_typer(transform.app, name="transform")
app.add_typer(registry.app, name="registry")
app.add_typer(pipelines.app, name="pipelines")
app.command(name="lineage")(lineage.lineage)
app.add_typer(metrics.app, name="metrics")
app.add_typer(alarms.app, name="alarms")
app.add_typer(topics.app, name="topics")
app.add_typer(logs.app, name="logs")

GC_THRESHOLDS = (50_000, 20, 100)
"""The server's collector: a young collection every 50,000 new objects rather than 700.
At 700, the objects of the requests in flight live through two young collections and
reach the oldest generation, whose growth starts a full collection about every second
under load: 50 ms that stall every request in flight (the p99 at concurrency 64 was 69 ms,
and 20 ms with these). What dies young still goes by its reference count at once."""

HostOption = Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")]
PortOption = Annotated[int | None, typer.Option(help="Port to bind (default 8080).")]
HomeOption = Annotated[Path | None, typer.Option(help="Shipyard home (default ~/.shipyard).")]


def _migrated_database(settings: Settings) -> Database:
    """The server's database, brought up to date: for the commands that run server code."""
    from shipyard.core.db import Database

    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    db.migrate()
    return db


def _settings(
    host: str | None = None, port: int | None = None, home: Path | None = None
) -> Settings:
    overrides: dict[str, Any] = {"host": host, "port": port, "home": home}
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


@app.command()
def up(host: HostOption = None, port: PortOption = None, home: HomeOption = None) -> None:
    """Start the platform: API, console, job worker and scheduler, in the foreground."""
    import uvicorn

    from shipyard.security.service import bootstrap_admin
    from shipyard.server import build_context, create_app

    settings = _settings(host, port, home)
    context = build_context(settings)
    admin_key = bootstrap_admin(context.db)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, context),
            host=settings.host,
            port=settings.port,
            log_level="warning",
        )
    )
    say(f"Shipyard is starting on {settings.base_url} (home: {settings.home})")
    if admin_key is not None:
        say(f"Admin API key (shown once, keep it safe): {admin_key}")
        say(f"Console: {settings.base_url}/console/")
        exports = f"SHIPYARD_URL={settings.base_url} SHIPYARD_TOKEN={admin_key}"
        say(f"Use it from a shell: export {exports}")
        if settings.load_quickstart:
            threading.Thread(
                target=_load_quickstart, args=(server, settings, admin_key), daemon=True
            ).start()
    # What was imported to get here (pandas, the ML libraries, the app) lives as long as the
    # process: out of the collector's sight, a full collection no longer walks it, and no
    # longer stalls every request in flight for a quarter of a second.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    server.run()


def say(line: str) -> None:
    """Plain, unwrapped output: keys and URLs must stay on one line to be copied."""
    print(line, flush=True)


def _load_quickstart(server: object, settings: Settings, token: str) -> None:
    from shipyard.quickstart import run_quickstart
    from shipyard.sdk.client import Session

    while not getattr(server, "started", False):
        time.sleep(0.1)
    try:
        with Session(url=settings.base_url, token=token) as client:
            run_quickstart(client, say=lambda line: say(f"quickstart: {line}"))
    except Exception as exc:
        say(f"quickstart: could not load the example: {exc}")


@app.command()
def worker(home: HomeOption = None) -> None:
    """Run a job worker (and the scheduler) without the API, until stopped."""
    from shipyard.compute.executors import make_executor
    from shipyard.compute.worker import JobWorker
    from shipyard.core.artifacts import open_store
    from shipyard.duties import after_job_end, platform_scheduler
    from shipyard.monitoring.metrics.buffer import MetricBuffer
    from shipyard.monitoring.metrics.builtin import watch_worker

    settings = _settings(home=home)
    db = _migrated_database(settings)
    store = open_store(settings.resolved_artifact_uri, settings.s3_endpoint_url)
    job_worker = JobWorker(settings, db, make_executor(settings))
    metrics = MetricBuffer(db)  # the jobs' metrics and CPU and memory samples
    watch_worker(job_worker, metrics)
    scheduler = platform_scheduler(settings, db, store, job_worker.wake)
    job_worker.job_end_listeners.append(lambda _job: after_job_end(scheduler))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    metrics.start()
    job_worker.start()
    scheduler.start()
    say(f"worker {job_worker.worker_id} is running; Ctrl-C stops it")
    stopped.wait()
    scheduler.stop()
    job_worker.stop()
    metrics.stop()


@app.command()
def migrate(home: HomeOption = None) -> None:
    """Apply database migrations (``up`` and ``worker`` also do this on start)."""
    _migrated_database(_settings(home=home))
    console.print("database is up to date")


@app.command("admin-key")
def admin_key(home: HomeOption = None) -> None:
    """Create a new API key for the admin user (on the server's machine: it opens the DB)."""
    from shipyard.security.service import issue_admin_key

    db = _migrated_database(_settings(home=home))
    say(issue_admin_key(db, "created by `shipyard admin-key`"))


@app.command()
@handle_errors
def quickstart(url: UrlOption = None, token: TokenOption = None) -> None:
    """Walk the life cycle on a generated fraud dataset against a running server."""
    from shipyard.quickstart import run_quickstart

    run_quickstart(session(url, token), say=lambda line: console.print(line, highlight=False))


if __name__ == "__main__":
    app()
