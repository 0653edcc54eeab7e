"""The traffic steps of a rollout: the shares of the traffic (percent) the new fleet gets,
one after the other, from its traffic routing configuration and its size."""

from __future__ import annotations

import math

from shipyard.core.errors import ValidationError
from shipyard.serving.rollouts.schemas import CapacitySize, TrafficRoutingConfiguration

ROUTING_FIELD = "deployment_config.blue_green_update_policy.traffic_routing_configuration"
MAX_CANARY_PERCENT = 50.0
"""A canary is a small share: at most half the traffic before the rest follows."""
MAX_LINEAR_STEPS = 20


def traffic_steps(routing: TrafficRoutingConfiguration, new_instances: int) -> list[float]:
    """``[100]`` all at once; ``[canary, 100]``; or ``[s, 2s, ..., 100]`` for linear steps
    of ``s``. A size in instances is a share of the ``new_instances`` of the new fleet."""
    if routing.type == "CANARY":
        assert routing.canary_size is not None
        canary = _percent(routing.canary_size, new_instances, f"{ROUTING_FIELD}.canary_size")
        if canary > MAX_CANARY_PERCENT:
            raise ValidationError(
                f"{canary:g}% of the new fleet: a canary is at most {MAX_CANARY_PERCENT:g}%",
                f"{ROUTING_FIELD}.canary_size",
            )
        return [canary, 100.0]
    if routing.type == "LINEAR":
        assert routing.linear_step_size is not None
        field = f"{ROUTING_FIELD}.linear_step_size"
        step = _percent(routing.linear_step_size, new_instances, field)
        count = math.ceil(100.0 / step)
        if count > MAX_LINEAR_STEPS:
            raise ValidationError(
                f"steps of {step:g}% make {count} steps, more than {MAX_LINEAR_STEPS}", field
            )
        if count < 2:
            raise ValidationError(f"a step of {step:g}% is all the traffic at once", field)
        return [round(min(100.0, step * (index + 1)), 4) for index in range(count)]
    return [100.0]


def _percent(size: CapacitySize, new_instances: int, field: str) -> float:
    if size.type == "INSTANCE_COUNT":
        if size.value >= new_instances:
            raise ValidationError(
                f"{size.value} instances is the whole new fleet ({new_instances}): give fewer",
                field,
            )
        return round(100.0 * size.value / new_instances, 4)
    if size.value >= 100:
        raise ValidationError(f"{size.value}% is all the traffic: give less than 100", field)
    return float(size.value)
