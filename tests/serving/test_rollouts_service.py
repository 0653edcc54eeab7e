"""The rollout's state machine, on each DB backend and at chosen moments: steps held for
their wait interval, baking, the termination wait, completion; and the ways back to the
old config — a rollback alarm in ALARM, the maximum execution time, a rollback by
request, a stop, a failed start, a restart — each leaving the endpoint as it was."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shipyard.core.clock import as_utc, utcnow
from shipyard.core.db import Database
from shipyard.core.errors import InvalidState, ValidationError
from shipyard.monitoring.alarms import service as alarms
from shipyard.monitoring.alarms.schemas import MetricAlarmIn, SetAlarmStateIn
from shipyard.serving import service as serving
from shipyard.serving.models import Endpoint, EndpointConfig
from shipyard.serving.rollouts import service as rollouts
from shipyard.serving.rollouts.models import Rollout
from shipyard.serving.rollouts.schemas import DeploymentConfig

OWNER = "rollout-owner"
ENDPOINT = "checkout"
BLUE, GREEN = "checkout-v1", "checkout-v2"
ALARM = "checkout-5xx"


def add_endpoint(db: Database, green_instances: int = 4) -> None:
    now = utcnow()
    with db.session_scope() as session:
        for name, instances in ((BLUE, 1), (GREEN, green_instances)):
            variant = {"model_name": "m", "initial_instance_count": instances}
            session.add(
                EndpointConfig(
                    name=name, production_variants=[variant], owner=OWNER, created_at=now
                )
            )
        session.add(
            Endpoint(
                name=ENDPOINT,
                endpoint_config_name=BLUE,
                previous_endpoint_config_name="checkout-v0",
                status="InService",
                owner=OWNER,
                created_at=now,
                last_modified_at=now,
            )
        )
        alarm = MetricAlarmIn(
            namespace="Shipyard/Endpoints",
            metric_name="Invocation5XXErrors",
            dimensions={"EndpointName": ENDPOINT, "VariantName": "AllTraffic"},
            statistic="Sum",
            period=10,
            evaluation_periods=1,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
        )
        alarms.put_metric_alarm(session, ALARM, alarm, OWNER)


def deployment_config(routing: dict[str, Any], **policy: Any) -> DeploymentConfig:
    return DeploymentConfig.model_validate(
        {
            "blue_green_update_policy": {"traffic_routing_configuration": routing, **policy},
            "auto_rollback_configuration": {"alarms": [{"alarm_name": ALARM}]},
        }
    )


CANARY = {"type": "CANARY", "canary_size": {"value": 10}, "wait_interval_in_seconds": 60}


def update(db: Database, config: DeploymentConfig | None) -> str:
    with db.session_scope() as session:
        serving.update_endpoint(session, ENDPOINT, GREEN, config, OWNER)
        rollout_id = rollouts.rollout_to(session, ENDPOINT, GREEN)
    assert rollout_id is not None
    return rollout_id


def advance(db: Database, rollout_id: str, seconds: float) -> rollouts.Move:
    with db.session_scope() as session:
        return rollouts.advance(session, rollout_id, START + timedelta(seconds=seconds))


def state(db: Database, rollout_id: str) -> tuple[Rollout, Endpoint]:
    with db.session_scope() as session:
        row, endpoint = session.get(Rollout, rollout_id), session.get(Endpoint, ENDPOINT)
        session.expunge_all()
    assert row is not None and endpoint is not None
    return row, endpoint


START = utcnow()


def test_a_canary_is_held_then_the_rest_bakes_then_the_old_fleet_stops(database) -> None:
    add_endpoint(database)
    rollout_id = update(database, deployment_config(CANARY, termination_wait_in_seconds=30))
    row, endpoint = state(database, rollout_id)
    assert (row.status, row.steps, endpoint.status) == ("Deploying", [10.0, 100.0], "Updating")
    assert endpoint.endpoint_config_name == GREEN

    first = advance(database, rollout_id, 0)  # the new fleet is up: the canary at once
    assert (first.outcome, first.traffic_percent) == ("Shift", 10.0)
    assert advance(database, rollout_id, 59).traffic_percent == 10.0  # held
    assert advance(database, rollout_id, 60).traffic_percent == 100.0
    assert state(database, rollout_id)[0].status == "Baking"
    assert advance(database, rollout_id, 119).outcome == "Shift"  # baking at 100%
    assert advance(database, rollout_id, 120).outcome == "Shift"  # baked: termination wait
    done = advance(database, rollout_id, 150)
    assert (done.outcome, done.traffic_percent) == ("Complete", 100.0)

    row, endpoint = state(database, rollout_id)
    assert (row.status, row.ended_at is not None) == ("Completed", True)
    assert (endpoint.status, endpoint.endpoint_config_name) == ("InService", GREEN)
    assert endpoint.previous_endpoint_config_name == BLUE
    messages = [event["message"] for event in row.events]
    assert messages == [
        f"starting the instances of '{GREEN}'",
        f"the instances of '{GREEN}' are up",
        "10% of the traffic goes to the new fleet, held 60 s",
        "100% of the traffic goes to the new fleet, held 60 s",
        f"baked: the old fleet '{BLUE}' stops in 30 s",
        f"completed: '{GREEN}' serves alone",
    ]
    assert advance(database, rollout_id, 200).outcome == "Complete"  # settled: stays so


def test_without_waits_a_rollout_completes_in_one_step(database) -> None:
    add_endpoint(database)
    linear = {"type": "LINEAR", "linear_step_size": {"type": "INSTANCE_COUNT", "value": 1}}
    rollout_id = update(database, deployment_config(linear))
    assert state(database, rollout_id)[0].steps == [25.0, 50.0, 75.0, 100.0]
    assert advance(database, rollout_id, 0).outcome == "Complete"


def test_an_alarm_in_alarm_rolls_back_to_what_the_endpoint_was(database) -> None:
    add_endpoint(database)
    rollout_id = update(database, deployment_config(CANARY))
    advance(database, rollout_id, 0)
    with database.session_scope() as session:
        reason = SetAlarmStateIn(state_value="ALARM", state_reason="5 errors in 10 s")
        alarms.set_alarm_state(session, ALARM, reason)
    back = advance(database, rollout_id, 5)
    assert (back.outcome, back.traffic_percent) == ("RollBack", 0.0)
    assert back.messages == [
        f"rollout {rollout_id}: rolled back to '{BLUE}': alarm '{ALARM}' is in ALARM: "
        "5 errors in 10 s"
    ]
    row, endpoint = state(database, rollout_id)
    assert (row.status, row.reason) == (
        "RolledBack",
        f"alarm '{ALARM}' is in ALARM: 5 errors in 10 s",
    )
    assert (endpoint.status, endpoint.endpoint_config_name) == ("InService", BLUE)
    assert endpoint.previous_endpoint_config_name == "checkout-v0"
    assert endpoint.failure_reason == (
        f"the update to '{GREEN}' was rolled back: alarm '{ALARM}' is in ALARM: 5 errors in 10 s"
    )
    assert advance(database, rollout_id, 10).outcome == "RollBack"  # settled: stays so


def test_a_rollout_past_its_maximum_execution_time_rolls_back(database) -> None:
    add_endpoint(database)
    slow = {**CANARY, "wait_interval_in_seconds": 3600}
    config = deployment_config(slow, maximum_execution_timeout_in_seconds=600)
    rollout_id = update(database, config)
    with database.session_scope() as session:
        started = as_utc(session.get(Rollout, rollout_id).started_at)
    with database.session_scope() as session:
        move = rollouts.advance(session, rollout_id, started + timedelta(seconds=601))
    assert move.outcome == "RollBack"
    assert state(database, rollout_id)[0].reason == (
        "the rollout ran past its maximum execution timeout of 600 s"
    )


def test_rollback_by_request_stop_and_restart_each_end_the_rollout(database) -> None:
    add_endpoint(database)
    rollout_id = update(database, deployment_config(CANARY))
    with database.session_scope() as session:
        serving.rollback_endpoint(session, ENDPOINT)
    row, endpoint = state(database, rollout_id)
    assert (row.status, row.reason, endpoint.endpoint_config_name) == (
        "RolledBack",
        "rolled back by request",
        BLUE,
    )

    rollout_id = update(database, deployment_config(CANARY))
    with database.session_scope() as session:
        serving.stop_endpoint(session, ENDPOINT)
    row, endpoint = state(database, rollout_id)
    assert (row.status, endpoint.status, endpoint.endpoint_config_name) == (
        "Stopped",
        "OutOfService",
        BLUE,
    )

    rollout_id = update(database, deployment_config(CANARY))  # an update brings it back
    advance(database, rollout_id, 0)
    with database.session_scope() as session:
        assert rollouts.abandon_in_progress(session) == [ENDPOINT]
    row, endpoint = state(database, rollout_id)
    assert (row.status, row.reason) == ("RolledBack", "the server stopped during the rollout")
    assert (endpoint.status, endpoint.endpoint_config_name) == ("OutOfService", BLUE)


def test_a_new_fleet_that_cannot_start_leaves_the_old_one_serving(database) -> None:
    add_endpoint(database)
    rollout_id = update(database, None)
    with database.session_scope() as session:
        rollouts.fail(session, rollout_id, "ModelLoadError: no such file")
    row, endpoint = state(database, rollout_id)
    assert (row.status, endpoint.status, endpoint.endpoint_config_name) == (
        "Failed",
        "InService",
        BLUE,
    )
    assert (
        endpoint.failure_reason == f"the update to '{GREEN}' failed: ModelLoadError: no such file"
    )


def test_one_rollout_at_a_time_and_bad_plans_name_the_field(database) -> None:
    add_endpoint(database, green_instances=2)
    update(database, deployment_config(CANARY))
    with database.session_scope() as session, pytest.raises(InvalidState, match="rollout"):
        serving.update_endpoint(session, ENDPOINT, BLUE)
    with database.session_scope() as session:
        serving.rollback_endpoint(session, ENDPOINT)

    routing = "deployment_config.blue_green_update_policy.traffic_routing_configuration"
    for plan, field, needle in (
        ({**CANARY, "canary_size": {"value": 60}}, f"{routing}.canary_size", "at most 50%"),
        (
            {**CANARY, "canary_size": {"type": "INSTANCE_COUNT", "value": 2}},
            f"{routing}.canary_size",
            "the whole new fleet (2)",
        ),
        (
            {"type": "LINEAR", "linear_step_size": {"value": 100}},
            f"{routing}.linear_step_size",
            "all the traffic",
        ),
        (
            {"type": "LINEAR", "linear_step_size": {"value": 1}},
            f"{routing}.linear_step_size",
            "more than 20",
        ),
    ):
        with database.session_scope() as session, pytest.raises(ValidationError) as raised:
            serving.update_endpoint(session, ENDPOINT, GREEN, deployment_config(plan))
        assert raised.value.field == field and needle in raised.value.message
    unknown = DeploymentConfig.model_validate(
        {"auto_rollback_configuration": {"alarms": [{"alarm_name": ALARM}, {"alarm_name": "nope"}]}}
    )
    with database.session_scope() as session, pytest.raises(ValidationError) as raised:
        serving.update_endpoint(session, ENDPOINT, GREEN, unknown)
    assert raised.value.field == "deployment_config.auto_rollback_configuration.alarms.1.alarm_name"
