"""The model host: loads each endpoint's variants into memory and answers invocations.

The invocation path touches no database: endpoints live in a dict guarded by a lock.
Loading happens in the background, and the endpoint's row moves to InService or Failed.
Every load first checks that the model directory hashes to what its model recorded at
create (``ModelIntegrityError`` otherwise), and deserializes a pickle only when the
model's row says it may.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from starlette.concurrency import run_in_threadpool

from shipyard.core import logstore
from shipyard.core.artifacts import BaseArtifactStore
from shipyard.core.clock import utcnow
from shipyard.core.db import Database
from shipyard.core.errors import InvalidState, ShipyardError, ValidationError
from shipyard.core.logbuffer import LogBuffer
from shipyard.monitoring.metrics.buffer import MetricBuffer
from shipyard.monitoring.metrics.builtin import record_invocation
from shipyard.serving import service
from shipyard.serving.capture import CaptureWriter
from shipyard.serving.invocation import Invocation
from shipyard.serving.loading import ModelIntegrityError, ModelSource, load_verified
from shipyard.serving.payloads import parse_body, render
from shipyard.serving.schemas import DataCaptureConfig
from shipyard.serving.shadow import ShadowRunner, ShadowTask
from shipyard.training.algorithms import LoadedModel, UntrustedModelError

log = logging.getLogger(__name__)
TARGET_VARIANT_HEADER = "X-Shipyard-Target-Variant"
DEPLOYMENTS_STREAM = "deployments"
"""The stream of an endpoint's log group that tells its loads and stops; each variant's
own stream (named after it) tells its failed invocations."""


@dataclass(frozen=True)
class LoadedVariant:
    name: str
    weight: float
    model: LoadedModel


@dataclass(frozen=True)
class LoadedShadow:
    name: str
    sampling_percentage: float
    model: LoadedModel


class ModelHost:
    def __init__(
        self,
        db: Database,
        store: BaseArtifactStore,
        cache_dir: Path,
        logs: LogBuffer | None = None,
        shadows: ShadowRunner | None = None,
        captures: CaptureWriter | None = None,
        metrics: MetricBuffer | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.cache_dir = cache_dir
        self.logs = logs
        self.shadow_runner = shadows
        self.capture_writer = captures
        self.metrics = metrics
        self._endpoints: dict[str, list[LoadedVariant]] = {}
        self._captures: dict[str, DataCaptureConfig] = {}
        self._shadows: dict[str, list[LoadedShadow]] = {}
        self._configs: dict[str, str] = {}  # the endpoint config each endpoint serves here
        self._loading: set[str] = set()
        self._lock = threading.Lock()
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
                if name in self._loading or self._configs.get(name) == config:
                    continue
            self.deploy_in_background(name)
            started.append(name)
        return started

    def sync_stopped(self) -> list[str]:
        """Stop serving, here, every endpoint that was stopped (``OutOfService``) or deleted
        through the service, by this process or another (a duty); their names."""
        with self._lock:
            served = sorted(self._endpoints)
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
        """Load every variant of ``name``, then mark it InService (or Failed, with why)."""
        try:
            with self.db.session_scope() as session:
                deployment = service.deployment_of(session, name)
            self.log(name, f"loading endpoint config '{deployment.endpoint_config_name}'")
            loaded = [
                LoadedVariant(v.variant_name, v.initial_weight, self._load(source))
                for v, source in deployment.variants
            ]
            shadows = [
                LoadedShadow(v.variant_name, v.sampling_percentage, self._load(source))
                for v, source in deployment.shadows
            ]
        except Exception as exc:
            log.exception("endpoint %s failed to deploy", name)
            self.log(name, f"failed to deploy: {failure_reason(exc)}")
            with self.db.session_scope() as session:
                service.set_endpoint_status(session, name, "Failed", failure_reason(exc))
            return
        with self._lock:
            self._endpoints[name] = loaded
            self._shadows[name] = shadows
            self._configs[name] = deployment.endpoint_config_name
            capture = deployment.data_capture
            if capture is not None and capture.enable_capture:
                self._captures[name] = capture
            else:
                self._captures.pop(name, None)
        for variant in loaded:
            self.log(name, f"variant '{variant.name}' serves, weight {variant.weight:g}")
        for shadow in shadows:
            self.log(name, f"shadow '{shadow.name}' gets {shadow.sampling_percentage:g}% of copies")
        with self.db.session_scope() as session:
            service.set_endpoint_status(session, name, "InService")
            still_wanted = service.is_live(session, name)
        if not still_wanted:  # deleted while its models were loading: serve nothing stale
            self.undeploy(name)

    def restore(self) -> list[threading.Thread]:
        """After a restart: bring back every endpoint that was live."""
        with self.db.session_scope() as session:
            names = service.live_endpoint_names(session)
        return [self.deploy_in_background(name) for name in names]

    def undeploy(self, name: str) -> None:
        with self._lock:
            served = self._endpoints.pop(name, None)
            self._shadows.pop(name, None)
            self._captures.pop(name, None)
            self._configs.pop(name, None)
        if served is not None:
            self.log(name, "stopped serving here")

    def log(self, endpoint: str, message: str, stream: str = DEPLOYMENTS_STREAM) -> None:
        """A line in the endpoint's log group (written in the background)."""
        if self.logs is not None:
            self.logs.add(logstore.endpoint_group(endpoint), stream, message)

    def _load(self, source: ModelSource) -> LoadedModel:
        return load_verified(self.store, source, self.cache_dir)

    # ---- invocation ----------------------------------------------------------------
    async def invoke(
        self,
        name: str,
        body: bytes,
        content_type: str,
        accept: str,
        target_variant: str | None = None,
    ) -> Invocation:
        """:meth:`invoke_blocking` from the event loop."""
        return await run_in_threadpool(
            self.invoke_blocking, name, body, content_type, accept, target_variant
        )

    def invoke_blocking(
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
        variant = self.choose_variant(name, target_variant)
        model_us: float | None = None
        status_code = 500
        try:
            frame = parse_body(body, content_type)
            predicting = time.perf_counter()
            try:
                result = variant.model.predict(frame)
            finally:
                model_us = (time.perf_counter() - predicting) * 1e6
            rendered, media_type = render(result, accept)
            status_code = 200
            self.copy_to_shadows(name, variant.name, frame, result, model_us)
            self.capture(name, variant.name, (body, content_type), (rendered, media_type), model_us)
            return Invocation(variant.name, rendered, media_type, model_us)
        except ShipyardError as exc:
            status_code = exc.status_code
            self.log(name, f"{status_code} {exc.code}: {exc.message}", variant.name)
            raise
        except Exception as exc:  # the model raised: a 5XX that the metrics count
            log.exception("endpoint %s variant %s failed to predict", name, variant.name)
            self.log(name, f"500 ModelError: {traceback.format_exc().rstrip()}", variant.name)
            raise ShipyardError(
                f"ModelError: variant '{variant.name}' failed on this input "
                f"({type(exc).__name__}); the log group "
                f"{logstore.endpoint_group(name)} has the details"
            ) from exc
        finally:
            if self.metrics is not None:
                total_us = (time.perf_counter() - started) * 1e6
                record_invocation(
                    self.metrics,
                    name,
                    variant.name,
                    model_latency_us=model_us,
                    overhead_latency_us=max(0.0, total_us - (model_us or 0.0)),
                    status_code=status_code,
                )

    def copy_to_shadows(
        self,
        name: str,
        variant: str,
        frame: pd.DataFrame,
        result: dict[str, Any],
        latency_us: float,
    ) -> None:
        """Give each shadow of ``name`` its sampled share of this answered request (queued:
        the caller's answer is not held up)."""
        runner = self.shadow_runner
        with self._lock:
            shadows = self._shadows.get(name)
        if not shadows or runner is None:
            return
        at = utcnow()
        for shadow in shadows:
            if self._random.random() * 100 < shadow.sampling_percentage:
                runner.submit(
                    ShadowTask(
                        name, variant, shadow.name, shadow.model, frame, result, latency_us, at
                    )
                )

    def capture(
        self,
        name: str,
        variant: str,
        request: tuple[bytes, str],
        response: tuple[bytes, str],
        model_latency_us: float | None,
    ) -> None:
        """Keep this invocation for data capture, if the endpoint captures and it is sampled
        (written in the background: never holds up or fails the request)."""
        writer = self.capture_writer
        with self._lock:
            config = self._captures.get(name)
        if config is None or writer is None:
            return
        if self._random.random() * 100 < config.initial_sampling_percentage:
            writer.add(
                name,
                variant,
                config,
                request=request,
                response=response,
                model_latency_us=model_latency_us,
            )

    def choose_variant(self, name: str, target_variant: str | None = None) -> LoadedVariant:
        """The variant that answers this invocation: the one asked for, else by weight."""
        return self._choose(name, target_variant)

    def _choose(self, name: str, target_variant: str | None) -> LoadedVariant:
        with self._lock:
            variants = self._endpoints.get(name)
        if variants is None:
            variants = self._cold_lookup(name)
        if target_variant is not None:
            for variant in variants:
                if variant.name == target_variant:
                    return variant
            raise ValidationError(
                f"endpoint '{name}' has no variant '{target_variant}'", TARGET_VARIANT_HEADER
            )
        if len(variants) == 1:
            return variants[0]
        return self._random.choices(variants, weights=[v.weight for v in variants])[0]

    def _cold_lookup(self, name: str) -> list[LoadedVariant]:
        """Not loaded here: tell why, or load it if it is in service (another process made it)."""
        with self.db.session_scope() as session:
            endpoint = service.get_endpoint(session, name)
            status = endpoint.status
        if status != "InService":
            raise InvalidState(f"endpoint '{name}' is {status}, not InService")
        self.deploy(name)
        with self._lock:
            variants = self._endpoints.get(name)
        if variants is None:
            with self.db.session_scope() as session:
                reason = service.get_endpoint(session, name).failure_reason
            raise InvalidState(f"endpoint '{name}' could not be loaded: {reason}")
        return variants


def failure_reason(exc: Exception) -> str:
    """An endpoint's failure reason: ``ModelIntegrityError: ...``, ``UntrustedModelError:
    ...`` or ``ModelLoadError: ...``."""
    if isinstance(exc, ModelIntegrityError | UntrustedModelError):
        return f"{type(exc).__name__}: {exc}"
    reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
    return f"ModelLoadError: {reason}"
