"""The model host: runs each endpoint's variants as fleets of instance processes and
answers invocations through them.

The invocation path touches no database: deployments live in a dict guarded by a lock,
and a request goes as bytes to an instance of the chosen variant (see
:mod:`shipyard.serving.fleet`). Deploying happens in the background: every instance of the
new config is started (each checks that its model directory hashes to what its model
recorded, and deserializes a pickle only when the model's row says it may) before the new
config takes the traffic; the old config's instances serve until then and stop after. The
endpoint's row moves to InService, or to Failed with why.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool

from shipyard.core import logstore
from shipyard.core.clock import utcnow
from shipyard.core.db import Database
from shipyard.core.errors import InvalidState, ShipyardError, ValidationError
from shipyard.core.logbuffer import LogBuffer
from shipyard.monitoring.metrics.buffer import MetricBuffer
from shipyard.monitoring.metrics.builtin import record_cold_start, record_invocation
from shipyard.serving import service, wire
from shipyard.serving.capture import CaptureWriter
from shipyard.serving.fleet import (
    INVOCATION_TIMEOUT_SECONDS,
    InstanceLauncher,
    InstanceSpec,
    InstanceStartError,
    NoInstanceAnswers,
    VariantFleet,
)
from shipyard.serving.invocation import Invocation
from shipyard.serving.loading import ModelSource
from shipyard.serving.rollouts import service as rollouts
from shipyard.serving.schemas import DataCaptureConfig, ServerlessConfig, VariantStatus
from shipyard.serving.shadow import ShadowRunner, ShadowTask

log = logging.getLogger(__name__)
TARGET_VARIANT_HEADER = "X-Shipyard-Target-Variant"
DEPLOYMENTS_STREAM = "deployments"
"""The stream of an endpoint's log group that tells its loads and stops; each variant's
own stream (named after it) tells its instances and failed invocations, and each
instance's output goes to ``<variant>/<instance id>``."""


@dataclass(frozen=True)
class ServedVariant:
    name: str
    weight: float
    fleet: VariantFleet


@dataclass(frozen=True)
class ServedShadow:
    name: str
    sampling_percentage: float
    fleet: VariantFleet


@dataclass(frozen=True)
class Call:
    """How a blocking invocation goes: the variant asked for, each instance's time to
    answer, and when it started (for the latency metrics)."""

    target_variant: str | None
    timeout: float
    started: float


@dataclass(frozen=True)
class HostRollout:
    """An update going on here: the new config's fleets and their share of the traffic."""

    rollout_id: str
    green: Deployment
    share: float
    """0 to 1."""


@dataclass(frozen=True)
class Deployment:
    """What one endpoint serves here: its config's variants, shadows and capture, and
    during a rollout the new config's deployment next to them."""

    config_name: str
    variants: list[ServedVariant]
    shadows: list[ServedShadow]
    capture: DataCaptureConfig | None
    rollout: HostRollout | None = None

    def fleets(self) -> list[VariantFleet]:
        """Its own fleets and, during a rollout, the new config's."""
        own = [v.fleet for v in self.variants] + [s.fleet for s in self.shadows]
        return own + (self.rollout.green.fleets() if self.rollout is not None else [])

    def stop(self) -> None:
        for fleet in self.fleets():
            fleet.stop()

    def has_shadows(self) -> bool:
        """Whether it, or the new config of its rollout, has a shadow."""
        green = self.rollout.green if self.rollout is not None else None
        return bool(self.shadows) or (green is not None and green.has_shadows())

    def serves(self, config_name: str) -> bool:
        """Whether ``config_name``'s fleets run here (as the config or a rollout's)."""
        green = self.rollout.green if self.rollout is not None else None
        return config_name == self.config_name or (
            green is not None and green.config_name == config_name
        )

    def has(self, variant_name: str) -> bool:
        return any(v.name == variant_name for v in self.variants)

    def side(self, target_variant: str | None, chance: random.Random) -> Deployment:
        """The config that answers: during a rollout the new one for its share of the
        traffic (or when only it has the variant asked for), else this one."""
        rollout = self.rollout
        if rollout is None:
            return self
        if target_variant is not None:
            in_green, in_blue = rollout.green.has(target_variant), self.has(target_variant)
            if in_green != in_blue:
                return rollout.green if in_green else self
        return rollout.green if chance.random() < rollout.share else self

    def choose(self, target_variant: str | None, chance: random.Random) -> ServedVariant:
        """The variant that answers: the one asked for, else one by weight."""
        if target_variant is not None:
            for variant in self.variants:
                if variant.name == target_variant:
                    return variant
            raise ValidationError(
                f"this endpoint has no variant '{target_variant}'", TARGET_VARIANT_HEADER
            )
        if len(self.variants) == 1:
            return self.variants[0]
        return chance.choices(self.variants, weights=[v.weight for v in self.variants])[0]


class ModelHost:
    def __init__(
        self,
        db: Database,
        launcher: InstanceLauncher,
        logs: LogBuffer | None = None,
        shadows: ShadowRunner | None = None,
        captures: CaptureWriter | None = None,
        metrics: MetricBuffer | None = None,
    ) -> None:
        self.db = db
        self.launcher = launcher
        self.logs = logs
        self.shadow_runner = shadows
        self.capture_writer = captures
        self.metrics = metrics
        self._deployments: dict[str, Deployment] = {}
        self._loading: set[str] = set()
        self._lock = threading.Lock()
        self._deploy_locks: dict[str, threading.Lock] = {}
        self._rollout_lock = threading.Lock()
        self._closed = threading.Event()
        self._random = random.Random()

    # ---- deployment ----------------------------------------------------------------
    def deploy_in_background(self, name: str) -> threading.Thread:
        with self._lock:
            self._loading.add(name)
        thread = threading.Thread(
            target=self._deploy_then_done, args=(name,), name=f"deploy-{name}", daemon=True
        )
        thread.start()
        return thread

    def deploy_pending(self) -> list[str]:
        """Deploy, in the background and once each, every endpoint waiting to be loaded
        (Creating, or Updating to a config not served here) that this host is not loading
        already: endpoints another process created through the service. Their names."""
        with self.db.session_scope() as session:
            waiting = service.endpoints_to_deploy(session)
        started = []
        for name, config in waiting:
            with self._lock:
                served = self._deployments.get(name)
                if name in self._loading or (served is not None and served.serves(config)):
                    continue
            self.deploy_in_background(name)
            started.append(name)
        return started

    def sync_stopped(self) -> list[str]:
        """Stop serving, here, every endpoint that was stopped (``OutOfService``) or deleted
        through the service, by this process or another (a duty); their names."""
        with self._lock:
            served = sorted(self._deployments)
        if not served:
            return []
        with self.db.session_scope() as session:
            stopped = service.stopped_endpoints(session, served)
        for name in stopped:
            self.undeploy(name)
        return stopped

    def _deploy_then_done(self, name: str) -> None:
        try:
            self.deploy(name)
        finally:
            with self._lock:
                self._loading.discard(name)

    def deploy(self, name: str) -> None:
        """Start every instance of ``name``'s config, then move its traffic to them and
        mark it InService (or Failed, with why, still serving what it served)."""
        with self._lock:
            deploy_lock = self._deploy_locks.setdefault(name, threading.Lock())
        with deploy_lock:
            self._deploy(name)

    def _deploy(self, name: str) -> None:
        self.advance_rollout(name)  # a rollout here that ended elsewhere is let go first
        rollout_id: str | None = None
        try:
            with self.db.session_scope() as session:
                wanted = service.deployment_of(session, name)
                rollout_id = rollouts.rollout_to(session, name, wanted.endpoint_config_name)
            if rollout_id is None and self._serves_alone(name, wanted.endpoint_config_name):
                return  # already served (a cold lookup's deploy and a restore's, say)
            self.log(name, f"loading endpoint config '{wanted.endpoint_config_name}'")
            deployment = self._start(name, wanted)
        except Exception as exc:
            if self._closed.is_set():  # the server stops: the endpoint is loaded at its start
                log.info("endpoint %s: deploy cut short by the server's stop", name)
                return
            reason = exc.args[0] if isinstance(exc, InstanceStartError) else failure_of(exc)
            log.warning("endpoint %s failed to deploy: %s", name, reason)
            self.log(name, f"failed to deploy: {reason}")
            with self.db.session_scope() as session:
                if rollout_id is not None:
                    rollouts.fail(session, rollout_id, reason)
                else:
                    service.set_endpoint_status(session, name, "Failed", reason)
            return
        if self._closed.is_set():
            deployment.stop()
            return
        if rollout_id is not None and self._begin_rollout(name, rollout_id, deployment):
            self.advance_rollout(name)
            return
        self._replace(name, deployment, rollout_id)

    def _serves_alone(self, name: str, config_name: str) -> bool:
        current = self.deployment(name)
        return (
            current is not None and current.rollout is None and current.config_name == (config_name)
        )

    def _replace(self, name: str, deployment: Deployment, rollout_id: str | None) -> None:
        """Serve ``deployment`` alone at once (nothing was served here to shift from)."""
        with self._lock:
            replaced = self._deployments.get(name)
            self._deployments[name] = deployment
        if replaced is not None:
            self._retire(replaced)
        for variant in deployment.variants:
            self.log(name, f"variant '{variant.name}' serves, weight {variant.weight:g}")
        for shadow in deployment.shadows:
            self.log(name, f"shadow '{shadow.name}' gets {shadow.sampling_percentage:g}% of copies")
        with self.db.session_scope() as session:
            if rollout_id is not None:
                rollouts.complete(session, rollout_id, "deployed at once: nothing served here")
            service.set_endpoint_status(session, name, "InService")
            still_wanted = service.is_live(session, name)
        if not still_wanted:  # deleted while its instances were starting: serve nothing
            self.undeploy(name)

    # ---- rollouts -------------------------------------------------------------------
    def _begin_rollout(self, name: str, rollout_id: str, green: Deployment) -> bool:
        """Serve ``green`` next to what ``name`` serves, with none of its traffic yet;
        False when nothing is served here to shift from."""
        with self._lock:
            current = self._deployments.get(name)
            if current is None or current.rollout is not None:
                return False
            self._deployments[name] = replace(current, rollout=HostRollout(rollout_id, green, 0.0))
        return True

    def advance_rollouts(self, now: datetime | None = None) -> list[str]:
        """Move every rollout going on here along its plan (a duty); their endpoints."""
        with self._lock:
            rolling = sorted(n for n, d in self._deployments.items() if d.rollout is not None)
        for name in rolling:
            self.advance_rollout(name, now)
        return rolling

    def advance_rollout(self, name: str, now: datetime | None = None) -> None:
        """Do what ``name``'s rollout calls for now: shift its traffic, complete it (the
        old fleet stops) or roll it back (the new one stops)."""
        with self._rollout_lock:
            deployment = self.deployment(name)
            if deployment is None or deployment.rollout is None:
                return
            rollout_id = deployment.rollout.rollout_id
            with self.db.session_scope() as session:
                move = rollouts.advance(session, rollout_id, now or utcnow())
            for message in move.messages:
                self.log(name, message)
            retired = self._apply(name, rollout_id, move)
        if retired is not None:
            self._retire(retired)

    def _apply(self, name: str, rollout_id: str, move: rollouts.Move) -> Deployment | None:
        """``move`` applied to what ``name`` serves; the deployment it retires, if any."""
        with self._lock:
            current = self._deployments.get(name)
            if current is None or current.rollout is None:
                return None
            rollout = current.rollout
            if rollout.rollout_id != rollout_id:
                return None
            if move.outcome == "Shift":
                shifted = replace(rollout, share=move.traffic_percent / 100)
                self._deployments[name] = replace(current, rollout=shifted)
                return None
            if move.outcome == "Complete":
                self._deployments[name] = rollout.green
                return replace(current, rollout=None)
            self._deployments[name] = replace(current, rollout=None)
            return rollout.green

    def _start(self, name: str, wanted: service.Deployment) -> Deployment:
        """Every fleet of ``wanted``, up; none of them left running when one cannot start."""
        started: list[VariantFleet] = []
        try:
            variants = []
            for variant, source in wanted.variants:
                batching = variant.batching.model_dump() if variant.batching else None
                fleet = self._fleet(
                    name, variant.variant_name, source, batching, variant.serverless_config
                )
                started.append(fleet)
                fleet.start(variant.initial_instance_count)  # serverless: 1, till it idles
                variants.append(ServedVariant(variant.variant_name, variant.initial_weight, fleet))
            shadows = []
            for shadow, source in wanted.shadows:
                fleet = self._fleet(name, shadow.variant_name, source, None, idle_priority=True)
                started.append(fleet)
                fleet.start(shadow.initial_instance_count)
                shadows.append(ServedShadow(shadow.variant_name, shadow.sampling_percentage, fleet))
        except BaseException:
            for running in started:
                running.stop()
            raise
        capture = wanted.data_capture
        return Deployment(
            wanted.endpoint_config_name,
            variants,
            shadows,
            capture if capture is not None and capture.enable_capture else None,
        )

    def _fleet(
        self,
        name: str,
        variant: str,
        source: ModelSource,
        batching: dict[str, Any] | None,
        serverless: ServerlessConfig | None = None,
        idle_priority: bool = False,
    ) -> VariantFleet:
        def log_line(stream: str, line: str) -> None:
            self.log(name, line, stream)

        def cold_start(seconds: float) -> None:
            if self.metrics is not None:
                record_cold_start(self.metrics, name, variant, seconds * 1e6)

        spec = InstanceSpec(name, variant, source, batching, idle_priority)
        return VariantFleet(self.launcher, spec, log_line, serverless, cold_start)

    def tend(self) -> None:
        """The serverless variants' upkeep (a duty): scale idle ones to zero."""
        with self._lock:
            served = list(self._deployments.values())
        for deployment in served:
            for fleet in deployment.fleets():
                fleet.tend()

    def restore(self) -> list[threading.Thread]:
        """After a restart: bring back every endpoint that was live."""
        with self.db.session_scope() as session:
            abandoned = rollouts.abandon_in_progress(session)
            names = service.live_endpoint_names(session)
        for name in abandoned:
            self.log(name, "the server stopped during a rollout: it was rolled back")
        return [self.deploy_in_background(name) for name in names]

    def undeploy(self, name: str) -> None:
        with self._lock:
            served = self._deployments.pop(name, None)
        if served is not None:
            self._retire(served)
            self.log(name, "stopped serving here")

    def _retire(self, deployment: Deployment) -> None:
        """Stop a deployment no request reaches any more; its shadows first hand over the
        tallies of the copies they got."""
        if deployment.has_shadows() and self.shadow_runner is not None:
            self.shadow_runner.drain()
        deployment.stop()

    def close(self) -> None:
        """Stop every instance (the server is shutting down); a deploy still going on
        ends without a status change, so that the next start loads the endpoint."""
        self._closed.set()
        with self._lock:
            served, self._deployments = list(self._deployments.values()), {}
        for deployment in served:
            deployment.stop()
        self.launcher.close()

    def close_connections(self) -> None:
        """Close every connection to every instance (an event loop that used them is
        about to end; the next call opens new ones)."""
        with self._lock:
            served = list(self._deployments.values())
        for deployment in served:
            for fleet in deployment.fleets():
                for instance in list(fleet.instances):
                    instance.close_connections()

    def served_endpoints(self) -> list[str]:
        with self._lock:
            return sorted(self._deployments)

    def deployment(self, name: str) -> Deployment | None:
        """What ``name`` serves here now, if anything (every request asks: a dict read,
        atomic, while the writers replace whole entries under the lock)."""
        return self._deployments.get(name)

    def variant_status(self, name: str) -> list[VariantStatus]:
        """The instances of each variant and shadow of ``name`` served here (of both
        configs during a rollout, each weight times its config's share)."""
        deployment = self.deployment(name)
        if deployment is None:
            return []
        rollout = deployment.rollout
        if rollout is None:
            return _status_of(deployment, 1.0)
        blue = _status_of(deployment, 1.0 - rollout.share)
        return blue + _status_of(rollout.green, rollout.share)

    def log(self, endpoint: str, message: str, stream: str = DEPLOYMENTS_STREAM) -> None:
        """A line in the endpoint's log group (written in the background)."""
        if self.logs is not None:
            self.logs.add(logstore.endpoint_group(endpoint), stream, message)

    # ---- invocation ----------------------------------------------------------------
    async def invoke(
        self,
        name: str,
        body: bytes,
        content_type: str,
        accept: str,
        target_variant: str | None = None,
    ) -> Invocation:
        """Answer one request to endpoint ``name``: the variant asked for, else one by
        weight. Counted in the metrics, copied to the shadows and kept for data capture;
        a failure is a ShipyardError (a ``ModelError`` 500 when the model raised)."""
        started = time.perf_counter()
        deployment = self.deployment(name)
        if deployment is None:
            deployment = await run_in_threadpool(self._cold_lookup, name)
        request = (body, content_type, accept)
        side = deployment.side(target_variant, self._random)
        if side is not deployment:  # a rollout's new config: the old one answers its failures
            try:
                return await self._invoke_on(name, side, request, target_variant, started)
            except ShipyardError:
                started = time.perf_counter()
        return await self._invoke_on(name, deployment, request, target_variant, started)

    async def _invoke_on(
        self,
        name: str,
        deployment: Deployment,
        request: tuple[bytes, str, str],
        target_variant: str | None,
        started: float,
    ) -> Invocation:
        body, content_type, accept = request
        variant = deployment.choose(target_variant, self._random)
        try:
            try:
                reply = await variant.fleet.call(content_type, accept, body)
            except NoInstanceAnswers:
                newer = self._replaced(name, deployment)
                if newer is None:
                    raise
                deployment, variant = newer, newer.choose(target_variant, self._random)
                reply = await variant.fleet.call(content_type, accept, body)
        except ShipyardError as exc:
            self._unanswered(name, variant.name, exc, started)
            raise
        return self._answered(name, deployment, variant, request, reply, started)

    def invoke_blocking(
        self,
        name: str,
        body: bytes,
        content_type: str,
        accept: str,
        target_variant: str | None = None,
        timeout: float = INVOCATION_TIMEOUT_SECONDS,
    ) -> Invocation:
        """:meth:`invoke` for a thread that is not on an event loop, each instance given
        ``timeout`` seconds to answer (an async request's invocation timeout)."""
        started = time.perf_counter()
        deployment = self.deployment(name) or self._cold_lookup(name)
        request = (body, content_type, accept)
        call = Call(target_variant, timeout, started)
        side = deployment.side(target_variant, self._random)
        if side is not deployment:
            try:
                return self._invoke_on_blocking(name, side, request, call)
            except ShipyardError:
                call = replace(call, started=time.perf_counter())
        return self._invoke_on_blocking(name, deployment, request, call)

    def _invoke_on_blocking(
        self,
        name: str,
        deployment: Deployment,
        request: tuple[bytes, str, str],
        call: Call,
    ) -> Invocation:
        body, content_type, accept = request
        variant = deployment.choose(call.target_variant, self._random)
        try:
            try:
                reply = variant.fleet.call_blocking(content_type, accept, body, call.timeout)
            except NoInstanceAnswers:
                newer = self._replaced(name, deployment)
                if newer is None:
                    raise
                deployment, variant = newer, newer.choose(call.target_variant, self._random)
                reply = variant.fleet.call_blocking(content_type, accept, body, call.timeout)
        except ShipyardError as exc:
            self._unanswered(name, variant.name, exc, call.started)
            raise
        return self._answered(name, deployment, variant, request, reply, call.started)

    def _replaced(self, name: str, deployment: Deployment) -> Deployment | None:
        """The deployment that took ``name`` over from ``deployment`` while a request was
        with one of its instances (which stopped): the request goes to it instead."""
        current = self.deployment(name)
        return current if current is not None and current is not deployment else None

    def _answered(
        self,
        name: str,
        deployment: Deployment,
        variant: ServedVariant,
        request: tuple[bytes, str, str],
        reply: wire.Reply,
        started: float,
    ) -> Invocation:
        body, content_type, accept = request
        self._count(name, variant.name, reply.model_latency_us, reply.status, started)
        if reply.status != 200:
            raise self._failure(name, variant.name, reply)
        if deployment.shadows:
            self._copy_to_shadows(name, deployment, variant.name, request, reply)
        if deployment.capture is not None:
            self._capture(name, deployment.capture, variant.name, (body, content_type), reply)
        return Invocation(variant.name, reply.body, reply.content_type, reply.model_latency_us)

    def _unanswered(self, name: str, variant: str, exc: ShipyardError, started: float) -> None:
        self._count(name, variant, None, exc.status_code, started)
        self.log(name, f"{exc.status_code} {exc.code}: {exc.message}", variant)

    def _failure(self, name: str, variant: str, reply: wire.Reply) -> ShipyardError:
        error = reply.error()
        if error["code"] == "ModelError":  # the model raised: its traceback goes to the log
            self.log(name, f"500 ModelError: {error.get('traceback') or error['message']}", variant)
            return ShipyardError(
                f"ModelError: variant '{variant}' failed on this input "
                f"({error['message'].partition(':')[0]}); the log group "
                f"{logstore.endpoint_group(name)} has the details"
            )
        self.log(name, f"{reply.status} {error['code']}: {error['message']}", variant)
        return RemoteError(reply.status, error["code"], error["message"])

    def _count(
        self, name: str, variant: str, model_us: float | None, status_code: int, started: float
    ) -> None:
        if self.metrics is None:
            return
        total_us = (time.perf_counter() - started) * 1e6
        record_invocation(
            self.metrics,
            name,
            variant,
            model_latency_us=model_us,
            overhead_latency_us=max(0.0, total_us - (model_us or 0.0)),
            status_code=status_code,
        )

    def _copy_to_shadows(
        self,
        name: str,
        deployment: Deployment,
        variant: str,
        request: tuple[bytes, str, str],
        reply: wire.Reply,
    ) -> None:
        """Give each shadow its sampled share of this answered request (queued: the
        caller's answer is not held up)."""
        runner = self.shadow_runner
        if runner is None:
            return
        body, content_type, accept = request
        at = time.time()
        for shadow in deployment.shadows:
            if self._random.random() * 100 < shadow.sampling_percentage:
                runner.submit(
                    ShadowTask(
                        endpoint=name,
                        production_variant=variant,
                        shadow_variant=shadow.name,
                        fleet=shadow.fleet,
                        request=(content_type, accept, body),
                        production=(reply.body, reply.content_type),
                        production_latency_us=reply.model_latency_us or 0.0,
                        at=at,
                    )
                )

    def _capture(
        self,
        name: str,
        config: DataCaptureConfig,
        variant: str,
        request: tuple[bytes, str],
        reply: wire.Reply,
    ) -> None:
        """Keep this invocation for data capture if it is sampled (written in the
        background: never holds up or fails the request)."""
        writer = self.capture_writer
        if writer is not None and self._random.random() * 100 < config.initial_sampling_percentage:
            writer.add(
                name,
                variant,
                config,
                request=request,
                response=(reply.body, reply.content_type),
                model_latency_us=reply.model_latency_us,
            )

    def _cold_lookup(self, name: str) -> Deployment:
        """Not served here: tell why, or deploy it if it is in service (another process
        made it)."""
        with self.db.session_scope() as session:
            endpoint = service.get_endpoint(session, name)
            status = endpoint.status
        if status != "InService":
            raise InvalidState(f"endpoint '{name}' is {status}, not InService")
        self.deploy(name)
        deployment = self.deployment(name)
        if deployment is None:
            with self.db.session_scope() as session:
                reason = service.get_endpoint(session, name).failure_reason
            raise InvalidState(f"endpoint '{name}' could not be loaded: {reason}")
        return deployment


def _status_of(deployment: Deployment, share: float) -> list[VariantStatus]:
    weights = {v.name: v.weight * share for v in deployment.variants}
    fleets = [v.fleet for v in deployment.variants] + [s.fleet for s in deployment.shadows]
    return [
        VariantStatus(
            variant_name=fleet.name,
            endpoint_config_name=deployment.config_name,
            current_instance_count=fleet.current,
            desired_instance_count=fleet.desired,
            current_weight=weights.get(fleet.name, 0.0),
        )
        for fleet in fleets
    ]


class RemoteError(ShipyardError):
    """An error an instance answered with (a bad body, a bad Accept): its status and code."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code


def failure_of(exc: Exception) -> str:
    """The failure reason of a deploy that failed before any instance started."""
    reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
    return f"ModelLoadError: {reason}"
