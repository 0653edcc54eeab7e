"""What the async worker reads of endpoints: how many requests each may have in flight,
and the backlog of each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shipyard.core.clock import as_utc
from shipyard.serving.asynchronous.config import async_config_of
from shipyard.serving.asynchronous.models import AsyncInference
from shipyard.serving.asynchronous.schemas import DEFAULT_MAX_CONCURRENT_INVOCATIONS
from shipyard.serving.models import Endpoint, EndpointConfig

SERVING_STATUSES = ("InService", "Updating")
"""An endpoint whose requests are taken from the queue (an Updating one still serves its
old config); those of a Creating one wait."""


@dataclass(frozen=True)
class Capacity:
    """How an endpoint can take requests from the queue now."""

    status: str
    instances: int
    max_concurrent_invocations_per_instance: int

    @property
    def serving(self) -> bool:
        return self.status in SERVING_STATUSES

    @property
    def limit(self) -> int:
        """Requests in flight at most, in each process that serves the endpoint, with the
        instances its config starts."""
        return self.limit_for(self.instances)

    def limit_for(self, instances: int) -> int:
        """Requests in flight at most with ``instances`` up."""
        return instances * self.max_concurrent_invocations_per_instance


def capacity_of(session: Session, endpoint_name: str) -> Capacity | None:
    """None when the endpoint is gone."""
    endpoint = session.get(Endpoint, endpoint_name)
    if endpoint is None:
        return None
    config = session.get(EndpointConfig, endpoint.endpoint_config_name)
    async_config = async_config_of(config) if config is not None else None
    per_instance = (
        async_config.client_config.max_concurrent_invocations_per_instance
        if async_config is not None
        else DEFAULT_MAX_CONCURRENT_INVOCATIONS
    )
    return Capacity(endpoint.status, instance_count(config), per_instance)


def instance_count(config: EndpointConfig | None) -> int:
    """The instances an endpoint's config starts: its production variants'
    ``initial_instance_count``, summed (the worker asks the host for those up now, where
    it serves the endpoint)."""
    if config is None:
        return 1
    return max(1, sum(int(v.get("initial_instance_count", 1)) for v in config.production_variants))


@dataclass(frozen=True)
class Backlog:
    endpoint_name: str
    size: int
    """Queued and InProgress requests."""
    oldest_created_at: datetime | None


def backlogs(session: Session) -> list[Backlog]:
    query = (
        select(
            AsyncInference.endpoint_name,
            func.count(AsyncInference.inference_id),
            func.min(AsyncInference.created_at),
        )
        .where(AsyncInference.status.in_(("Queued", "InProgress")))
        .group_by(AsyncInference.endpoint_name)
    )
    return [
        Backlog(name, int(size), as_utc(oldest)) for name, size, oldest in session.execute(query)
    ]
