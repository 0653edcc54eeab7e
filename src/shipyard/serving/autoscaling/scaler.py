"""The autoscaler: a duty of the serving process that, for each variant with a policy
that this host serves, reads its metric over the policy's window from the metrics store
and sets the variant's instance count by target tracking:

    desired = ceil(current × metric / target), within [min_capacity, max_capacity]

Growing waits ``scale_out_cooldown_seconds`` after the variant's last activity, shrinking
``scale_in_cooldown_seconds``. Each change is an activity whose cause names the metric,
its value and the target; it is Successful once the instances are up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from shipyard.core.clock import as_utc, utcnow
from shipyard.core.db import Database
from shipyard.monitoring.metrics.builtin import ENDPOINTS_NAMESPACE
from shipyard.monitoring.metrics.statistics import get_metric_statistics
from shipyard.serving.autoscaling import service
from shipyard.serving.autoscaling.models import ScalingPolicy
from shipyard.serving.fleet import VariantFleet
from shipyard.serving.host import ModelHost


@dataclass(frozen=True)
class Decision:
    desired: int
    cause: str


class Autoscaler:
    def __init__(self, db: Database, host: ModelHost) -> None:
        self.db = db
        self.host = host

    def evaluate(self, now: datetime | None = None) -> list[str]:
        """One round over every policy of an endpoint served here; the ``endpoint/variant``
        of each activity started."""
        now = now or utcnow()
        served = self.host.served_endpoints()
        changed = []
        with self.db.session_scope() as session:
            for policy in service.policies_of(session, served):
                fleet = self._fleet(policy)
                if fleet is None:
                    continue
                if self._scale(session, policy, fleet, now):
                    changed.append(f"{policy.endpoint_name}/{policy.variant_name}")
        return changed

    def _fleet(self, policy: ScalingPolicy) -> VariantFleet | None:
        deployment = self.host.deployment(policy.endpoint_name)
        if deployment is None:
            return None
        for variant in deployment.variants:
            if variant.name == policy.variant_name:
                return variant.fleet
        return None

    def _scale(
        self, session: Session, policy: ScalingPolicy, fleet: VariantFleet, now: datetime
    ) -> bool:
        last = service.last_activity(session, policy.endpoint_name, policy.variant_name)
        if last is not None and last.status == "InProgress":
            if fleet.current != last.to_capacity:
                return False  # still starting (or stopping) what it asked for
            last.status, last.end_time = "Successful", now
        current = fleet.desired
        decision = decide(policy, current, self._metric(session, policy, now))
        if decision.desired == current:
            return False
        cooldown = (
            policy.scale_out_cooldown_seconds
            if decision.desired > current
            else policy.scale_in_cooldown_seconds
        )
        if last is not None:
            since = as_utc(last.start_time) or last.start_time
            if now - since < timedelta(seconds=cooldown):
                return False
        service.start_activity(
            session,
            policy.endpoint_name,
            policy.variant_name,
            current,
            decision.desired,
            decision.cause,
            now,
        )
        self.host.log(
            policy.endpoint_name,
            f"scaling from {current} to {decision.desired} instances: {decision.cause}",
            policy.variant_name,
        )
        fleet.scale_to(decision.desired)
        return True

    def _metric(self, session: Session, policy: ScalingPolicy, now: datetime) -> float:
        """The policy's metric over its window: invocations per minute (all instances),
        or the p90 model latency in milliseconds; 0 without data."""
        window = policy.evaluation_seconds
        dimensions = {"EndpointName": policy.endpoint_name, "VariantName": policy.variant_name}
        invocations = policy.metric == "InvocationsPerInstance"
        points = get_metric_statistics(
            session,
            namespace=ENDPOINTS_NAMESPACE,
            metric_name="Invocations" if invocations else "ModelLatency",
            dimensions=dimensions,
            start_time=now - timedelta(seconds=window),
            end_time=now,
            period=10,
            statistics=["Sum"] if invocations else ["p90"],
            now=now,
        )
        if invocations:
            total = sum(point.values.get("Sum") or 0.0 for point in points)
            return total * 60 / window
        latencies = [point.values["p90"] for point in points if point.values.get("p90")]
        return max(latencies) / 1000 if latencies else 0.0


def decide(policy: ScalingPolicy, current: int, metric: float) -> Decision:
    """Target tracking: the instance count that brings the metric to its target."""
    per_instance = policy.metric == "InvocationsPerInstance"
    observed = metric / max(current, 1) if per_instance else metric
    wanted = math.ceil(max(current, 1) * observed / policy.target_value) if observed else 0
    desired = min(policy.max_capacity, max(policy.min_capacity, wanted))
    unit = "per instance per minute" if per_instance else "ms"
    name = policy.metric
    if desired > current:
        relation = "above"
    elif desired < current:
        relation = "below"
    else:
        relation = "at"
    cause = (
        f"{name} {observed:.1f} {unit} is {relation} the target {policy.target_value:g}: "
        f"{desired} instances (from {current}, within {policy.min_capacity}-"
        f"{policy.max_capacity})"
    )
    return Decision(desired, cause)
