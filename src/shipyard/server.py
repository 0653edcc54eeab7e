"""``create_app(settings)``: assembles every room's router, auth, errors and background work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from shipyard import __version__
from shipyard.compute.executors import make_executor
from shipyard.compute.worker import JobWorker
from shipyard.console import routes as console_routes
from shipyard.console.rendering import http_error_page
from shipyard.core.artifacts import open_store
from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.core.errors import ShipyardError
from shipyard.core.flusher import Flusher
from shipyard.core.logbuffer import LogBuffer
from shipyard.core.web import (
    AuthenticationMiddleware,
    Context,
    http_error_handler,
    internal_error_handler,
    request_validation_handler,
    shipyard_error_handler,
)
from shipyard.data import routes as data_routes
from shipyard.debugger import routes as debugger_routes
from shipyard.duties import add_serving_duties, after_job_end, platform_scheduler
from shipyard.lineage import routes as lineage_routes
from shipyard.monitoring.alarms import routes as alarms_routes
from shipyard.monitoring.logs import routes as logs_routes
from shipyard.monitoring.metrics import routes as metrics_routes
from shipyard.monitoring.metrics.buffer import MetricBuffer
from shipyard.monitoring.metrics.builtin import watch_worker
from shipyard.monitoring.topics import routes as topics_routes
from shipyard.pipelines import routes as pipelines_routes
from shipyard.processing import routes as processing_routes
from shipyard.registry import routes as registry_routes
from shipyard.security.service import Authenticator
from shipyard.serving import routes as serving_routes
from shipyard.serving.asynchronous import routes as async_inference_routes
from shipyard.serving.asynchronous.worker import AsyncInferenceWorker
from shipyard.serving.autoscaling import routes as autoscaling_routes
from shipyard.serving.batch import routes as transform_routes
from shipyard.serving.capture import CaptureWriter
from shipyard.serving.fastpath import InvocationFastPath
from shipyard.serving.fleet import InstanceLauncher
from shipyard.serving.host import ModelHost
from shipyard.serving.shadow import ShadowRunner
from shipyard.training import routes as training_routes
from shipyard.tuning import routes as tuning_routes

ROUTERS = (
    data_routes.router,
    processing_routes.router,
    training_routes.router,
    debugger_routes.router,
    tuning_routes.router,
    registry_routes.router,
    serving_routes.router,
    autoscaling_routes.router,
    async_inference_routes.router,
    transform_routes.router,
    pipelines_routes.router,
    lineage_routes.router,
    metrics_routes.router,
    logs_routes.router,
    alarms_routes.router,
    topics_routes.router,
    console_routes.router,
)


def build_context(settings: Settings) -> Context:
    """Open the DB (migrated), the artifact store and the model host of one process."""
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    db.migrate()
    store = open_store(settings.resolved_artifact_uri, settings.s3_endpoint_url)
    logs = LogBuffer(db)
    metrics = MetricBuffer(db)
    shadows = ShadowRunner(db, metrics)
    captures = CaptureWriter(store)
    host = ModelHost(db, InstanceLauncher(settings), logs, shadows, captures, metrics)
    return Context(
        settings=settings,
        db=db,
        store=store,
        authenticator=Authenticator(db),
        extras={
            "model_host": host,
            "metrics": metrics,
            "logs": logs,
            "shadows": shadows,
            "captures": captures,
        },
    )


def create_app(settings: Settings, context: Context | None = None) -> FastAPI:
    context = context or build_context(settings)
    worker = (
        JobWorker(settings, context.db, make_executor(settings)) if settings.run_worker else None
    )
    metrics: MetricBuffer = context.extras.setdefault("metrics", MetricBuffer(context.db))
    # stopped in this order: shadows and captures first, then what they write to
    background: list[Flusher] = [
        context.extras[key]
        for key in ("shadows", "captures", "metrics", "logs")
        if context.extras.get(key) is not None
    ]
    if worker is not None:
        context.wake_workers = worker.wake
        watch_worker(worker, metrics)
    scheduler = (
        platform_scheduler(settings, context.db, context.store, context.wake_workers)
        if settings.run_scheduler
        else None
    )
    if scheduler is not None:
        add_serving_duties(scheduler, context.extras["model_host"])
        context.run_soon = scheduler.trigger
        if worker is not None:  # a job that ends may let a tuning job or a pipeline go on
            worker.job_end_listeners.append(lambda _job: after_job_end(scheduler))
    if settings.run_worker:  # async requests are answered where jobs run
        context.extras[async_inference_routes.WORKER] = AsyncInferenceWorker(context)
    async_inference: AsyncInferenceWorker | None = context.extras.get(async_inference_routes.WORKER)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        context.extras["model_host"].restore()
        for flusher in background:
            flusher.start()
        if worker is not None:
            worker.start()
        if scheduler is not None:
            scheduler.start()
        if async_inference is not None:
            async_inference.start()
        try:
            yield
        finally:
            if async_inference is not None:  # what is in flight goes back to the queue
                async_inference.stop()
            if scheduler is not None:
                scheduler.stop()
            if worker is not None:
                worker.stop()
            for flusher in background:  # shadows first: their copies go to instances
                flusher.stop()
            context.extras["model_host"].close()

    app = FastAPI(
        title="Shipyard",
        version=__version__,
        description="A self-hosted machine-learning platform.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.context = context
    app.add_exception_handler(ShipyardError, shipyard_error_handler)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    app.add_exception_handler(HTTPException, routing_error_handler)
    app.add_exception_handler(Exception, internal_error_handler)
    app.add_middleware(InvocationFastPath)  # inside the authentication: it runs after it
    app.add_middleware(AuthenticationMiddleware, authenticator=context.authenticator)
    for router in ROUTERS:
        app.include_router(router)
    console_routes.mount_static(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    return app


async def routing_error_handler(request: Request, exc: Exception) -> Response:
    """No such path, a wrong method: a console page under ``/console``, JSON elsewhere."""
    if console_routes.owns(request.url.path):
        return http_error_page(request, exc)
    return await http_error_handler(request, exc)
