"""The platform's periodic duties, every room's, on one scheduler.

``shipyard up`` and ``shipyard worker`` each run one; every duty is safe to run in several
processes at once against one database (each takes the rows it acts on under a lock).
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from shipyard.compute import service as compute
from shipyard.compute.scheduler import Scheduler
from shipyard.core.artifacts import BaseArtifactStore
from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.debugger import notifications as debugger_notifications
from shipyard.monitoring.alarms import service as alarms
from shipyard.monitoring.logs import service as logs
from shipyard.monitoring.metrics import service as metrics
from shipyard.monitoring.topics import service as topics
from shipyard.pipelines import engine as pipelines
from shipyard.pipelines import schedules as pipeline_schedules
from shipyard.processing import service as processing
from shipyard.serving.autoscaling.scaler import Autoscaler
from shipyard.serving.batch import service as transform
from shipyard.serving.host import ModelHost
from shipyard.tuning import service as tuning

REAP_LOST_JOBS = "reap-lost-jobs"
RECONCILE_TUNING_JOBS = "tuning"
DELIVER_DEBUGGER_NOTIFICATIONS = "debugger-notifications"
RECONCILE_PROCESSING_JOBS = "processing"
RECONCILE_TRANSFORM_JOBS = "transform"
ADVANCE_PIPELINES = pipelines.DUTY_NAME
RUN_PIPELINE_SCHEDULES = "pipeline-schedules"
RUN_PIPELINE_TRIGGERS = "pipeline-triggers"
TUNING_SECONDS = 1.0
PROCESSING_SECONDS = 1.0
PIPELINES_SECONDS = 1.0
SCHEDULES_SECONDS = 1.0  # a cron expression may have a seconds field
TRIGGERS_SECONDS = 5.0
MAINTAIN_METRICS = "metrics"
EVALUATE_ALARMS = "alarms"
DELIVER_NOTIFICATIONS = "topics"
METRICS_SECONDS = 60.0
ALARMS_SECONDS = 1.0  # each alarm is evaluated when its own period says; this is the tick
TOPICS_SECONDS = 1.0
EXPIRE_LOGS = logs.EXPIRY_DUTY
LOGS_SECONDS = 600.0
DEPLOY_PENDING_ENDPOINTS = "deploy-pending-endpoints"
SYNC_STOPPED_ENDPOINTS = "sync-stopped-endpoints"
ENDPOINTS_SECONDS = 1.0
AUTOSCALE = "autoscaling"
TEND_SERVERLESS = "serverless"
ADVANCE_ROLLOUTS = "rollouts"
AUTOSCALING_SECONDS = 10.0  # the endpoint metrics' finest period


def after_job_end(scheduler: Scheduler) -> None:
    """Run now the duties a job's end may let go on: its tuning job, its processing or
    transform outputs, its pipeline."""
    for duty in (
        RECONCILE_TUNING_JOBS,
        RECONCILE_PROCESSING_JOBS,
        RECONCILE_TRANSFORM_JOBS,
        ADVANCE_PIPELINES,
    ):
        scheduler.trigger(duty)


def add_serving_duties(scheduler: Scheduler, host: ModelHost) -> None:
    """The duties of a process that serves endpoints: load the endpoints that a pipeline or
    another process created (or moved to a new config) through the service, scale their
    variants by their policies, and move their rollouts along."""
    scheduler.every(ENDPOINTS_SECONDS, DEPLOY_PENDING_ENDPOINTS, host.deploy_pending)
    scheduler.every(ENDPOINTS_SECONDS, SYNC_STOPPED_ENDPOINTS, host.sync_stopped)
    scheduler.every(AUTOSCALING_SECONDS, AUTOSCALE, Autoscaler(host.db, host).evaluate)
    scheduler.every(ENDPOINTS_SECONDS, TEND_SERVERLESS, host.tend)
    scheduler.every(ENDPOINTS_SECONDS, ADVANCE_ROLLOUTS, host.advance_rollouts)


def platform_scheduler(
    settings: Settings,
    db: Database,
    store: BaseArtifactStore,
    wake_workers: Callable[[], None] = lambda: None,
) -> Scheduler:
    """The duties of one process; `wake_workers` tells its job worker that jobs were queued."""
    scheduler = Scheduler()

    def reconcile_tuning_jobs() -> None:
        if tuning.reconcile_all(db, settings, store):
            wake_workers()

    def advance_pipelines() -> None:
        if pipelines.advance_all(db, settings, store):
            wake_workers()

    def run_schedules() -> None:
        if pipeline_schedules.run_due_schedules(db):
            scheduler.trigger(ADVANCE_PIPELINES)

    def run_triggers() -> None:
        if pipeline_schedules.run_triggers(db, settings, store):
            scheduler.trigger(ADVANCE_PIPELINES)

    hostname = socket.gethostname()
    scheduler.every(
        max(settings.heartbeat_seconds * 5, 5.0),
        REAP_LOST_JOBS,
        lambda: compute.reap_lost_jobs(db, hostname, settings.heartbeat_timeout_seconds),
    )
    scheduler.every(TUNING_SECONDS, RECONCILE_TUNING_JOBS, reconcile_tuning_jobs)
    scheduler.every(
        PROCESSING_SECONDS,
        RECONCILE_PROCESSING_JOBS,
        lambda: processing.reconcile_all(db, store),
    )
    scheduler.every(
        PROCESSING_SECONDS,
        RECONCILE_TRANSFORM_JOBS,
        lambda: transform.reconcile_all(db, store),
    )
    scheduler.every(PIPELINES_SECONDS, ADVANCE_PIPELINES, advance_pipelines)
    scheduler.every(SCHEDULES_SECONDS, RUN_PIPELINE_SCHEDULES, run_schedules)
    scheduler.every(METRICS_SECONDS, MAINTAIN_METRICS, lambda: metrics.maintain(db))
    scheduler.every(
        ALARMS_SECONDS, EVALUATE_ALARMS, lambda: alarms.evaluate_all(db, settings, store)
    )
    scheduler.every(TOPICS_SECONDS, DELIVER_NOTIFICATIONS, lambda: topics.deliver_due(db, settings))
    scheduler.every(TRIGGERS_SECONDS, RUN_PIPELINE_TRIGGERS, run_triggers)
    scheduler.every(LOGS_SECONDS, EXPIRE_LOGS, lambda: logs.expire_all(db))
    scheduler.every(
        debugger_notifications.NOTIFICATIONS_SECONDS,
        DELIVER_DEBUGGER_NOTIFICATIONS,
        lambda: debugger_notifications.run_notifications(db, settings),
    )
    return scheduler
