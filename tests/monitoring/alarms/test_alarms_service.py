"""Alarms through their service, on SQLite and PostgreSQL: evaluation over the metrics store,
history, composite alarms, each action, the owner's permissions, and restart safety.

Time is passed in (``now``): datapoints are put at fixed offsets before it, so nothing
waits on the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shipyard.core.db import Database
from shipyard.core.errors import InvalidState, ValidationError
from shipyard.monitoring.alarms import service as alarms
from shipyard.monitoring.alarms.schemas import CompositeAlarmIn, MetricAlarmIn, SetAlarmStateIn
from shipyard.monitoring.metrics import service as metrics
from shipyard.monitoring.metrics.schemas import MetricDatum
from shipyard.monitoring.topics import service as topics
from shipyard.monitoring.topics.models import TopicDelivery
from shipyard.monitoring.topics.schemas import SubscriptionIn, TopicIn
from shipyard.security import service as security
from shipyard.security.iam import ADMINISTRATOR_ACCESS
from shipyard.serving import service as serving
from shipyard.serving.models import Endpoint, EndpointConfig
from shipyard.serving.rollouts import service as rollouts

NAMESPACE = "Test/App"
OWNER = "alarm-owner"
PERIOD = 10


def start_of_period(moment: datetime) -> datetime:
    seconds = int(moment.timestamp()) // PERIOD * PERIOD
    return datetime.fromtimestamp(seconds, UTC)


NOW = start_of_period(datetime.now(UTC) - timedelta(minutes=5)) + timedelta(seconds=1)
LATEST = NOW - timedelta(seconds=1) - timedelta(seconds=PERIOD)  # the latest complete period


def put_value(db: Database, value: float, at: datetime, metric: str = "Errors") -> None:
    datum = MetricDatum(
        metric_name=metric,
        dimensions={"Service": "checkout"},
        value=value,
        timestamp=at + timedelta(seconds=1),
        storage_resolution=1,
    )
    with db.session_scope() as session:
        metrics.put_metric_data(session, NAMESPACE, [datum])


def alarm_request(**changes: Any) -> MetricAlarmIn:
    fields: dict[str, Any] = {
        "namespace": NAMESPACE,
        "metric_name": "Errors",
        "dimensions": {"Service": "checkout"},
        "statistic": "Sum",
        "period": PERIOD,
        "evaluation_periods": 1,
        "threshold": 5,
        "comparison_operator": "GreaterThanOrEqualToThreshold",
        "treat_missing_data": "notBreaching",
    }
    return MetricAlarmIn(**{**fields, **changes})


def put_alarm(db: Database, name: str = "errors-high", **changes: Any) -> None:
    with db.session_scope() as session:
        security.ensure_user(session, OWNER, [ADMINISTRATOR_ACCESS])
        alarms.put_metric_alarm(session, name, alarm_request(**changes), OWNER)


def make_due(db: Database, now: datetime = NOW, name: str = "errors-high") -> None:
    with db.session_scope() as session:
        alarms.get_alarm(session, name).next_evaluation_at = now


def evaluate(db: Database, now: datetime = NOW, name: str = "errors-high") -> bool:
    """Evaluate one alarm at ``now``, due or not."""
    make_due(db, now, name)
    with db.session_scope() as session:
        return alarms.evaluate_metric_alarm(session, name, now)


def describe(db: Database, name: str = "errors-high") -> dict[str, Any]:
    with db.session_scope() as session:
        return alarms.describe_alarm(session, name).model_dump()


def history(db: Database, name: str = "errors-high", item_type: str | None = None) -> list:
    with db.session_scope() as session:
        return alarms.alarm_history(session, name, item_type=item_type)


def add_topic(db: Database, settings, name: str = "oncall") -> None:
    with db.session_scope() as session:
        topics.create_topic(session, TopicIn(name=name), OWNER)
        topics.subscribe(
            session,
            settings,
            name,
            SubscriptionIn(protocol="webhook", endpoint="http://127.0.0.1:9/hook"),
            OWNER,
        )


def deliveries(db: Database) -> int:
    with db.session_scope() as session:
        return len(session.scalars(select(TopicDelivery)).all())


def add_endpoint(db: Database, name: str = "checkout", config: str = "checkout-v1") -> None:
    now = datetime.now(UTC)
    with db.session_scope() as session:
        for config_name in (config, "checkout-v0"):
            session.add(
                EndpointConfig(
                    name=config_name, production_variants=[], owner=OWNER, created_at=now
                )
            )
        session.add(
            Endpoint(
                name=name,
                endpoint_config_name="checkout-v0",
                status="InService",
                owner=OWNER,
                created_at=now,
                last_modified_at=now,
            )
        )
    with db.session_scope() as session:  # the update, done as a model host does it
        serving.update_endpoint(session, name, config)
        rollout_id = rollouts.rollout_to(session, name, config)
        assert rollout_id is not None
        rollouts.complete(session, rollout_id, "deployed at once")


# ---- evaluation and history -----------------------------------------------------------------
def test_a_new_alarm_is_insufficient_data_and_its_creation_is_in_the_history(database):
    put_alarm(database)
    alarm = describe(database)
    assert alarm["state_value"] == "INSUFFICIENT_DATA"
    assert alarm["datapoints_to_alarm"] == 1
    assert alarm["srn"] == "srn:shipyard:alarm/errors-high"
    [created] = history(database)
    assert created.item_type == "ConfigurationUpdate"


def test_breaching_sum_alarms_then_recovers_with_history(database):
    put_alarm(database)
    for _ in range(3):
        put_value(database, 2, LATEST)
    assert evaluate(database) is True
    alarm = describe(database)
    assert alarm["state_value"] == "ALARM"
    assert alarm["state_reason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints")
    evaluated = alarm["state_reason_data"]["evaluated_datapoints"]
    assert evaluated == [
        {"timestamp": LATEST.isoformat(), "value": 6.0, "breaching": True, "filled": False}
    ]

    assert evaluate(database) is False  # the same data: no transition
    later = NOW + timedelta(seconds=PERIOD)
    put_value(database, 1, later - timedelta(seconds=1 + PERIOD))
    assert evaluate(database, later) is True
    assert describe(database)["state_value"] == "OK"

    updates = history(database, item_type="StateUpdate")
    assert [(u.data["old_state"], u.data["new_state"]) for u in updates] == [
        ("ALARM", "OK"),
        ("INSUFFICIENT_DATA", "ALARM"),
    ]
    assert updates[1].data["reason_data"]["evaluated_datapoints"][0]["value"] == 6.0


def test_an_alarm_is_evaluated_only_when_due(database, quiet_settings):
    put_alarm(database)
    put_value(database, 9, LATEST)
    make_due(database)
    assert alarms.evaluate_all(database, quiet_settings, None, NOW) == 1  # type: ignore[arg-type]
    # evaluated: next due when its next period completes
    assert alarms.evaluate_all(database, quiet_settings, None, NOW) == 0  # type: ignore[arg-type]
    with database.session_scope() as session:
        due = alarms.get_alarm(session, "errors-high").next_evaluation_at
    assert due.replace(tzinfo=UTC) == NOW - timedelta(seconds=1) + timedelta(seconds=PERIOD)


def test_missing_data_as_missing_goes_to_insufficient_data(database):
    put_alarm(database, treat_missing_data="missing")
    put_value(database, 1, LATEST)
    assert evaluate(database) is True
    assert describe(database)["state_value"] == "OK"
    assert evaluate(database, NOW + timedelta(seconds=5 * PERIOD)) is True
    assert describe(database)["state_value"] == "INSUFFICIENT_DATA"


def test_a_percentile_alarm(database):
    put_alarm(database, statistic=None, extended_statistic="p90", threshold=50)
    for value in range(1, 101):
        put_value(database, value, LATEST)
    evaluate(database)
    alarm = describe(database)
    assert alarm["state_value"] == "ALARM", alarm["state_reason"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"evaluation_periods": 2, "datapoints_to_alarm": 3}, "datapoints_to_alarm"),
        ({"statistic": "Median"}, "statistic"),
        ({"statistic": None, "extended_statistic": "p101"}, "extended_statistic"),
        ({"statistic": None}, "statistic"),
        ({"period": 7}, "period"),
        ({"period": 600, "evaluation_periods": 200}, "evaluation_periods"),
        ({"comparison_operator": "Equals"}, "comparison_operator"),
        ({"treat_missing_data": "zero"}, "treat_missing_data"),
        ({"alarm_actions": [{"type": "email", "to": "x"}]}, "alarm_actions.0.type"),
        ({"ok_actions": [{"type": "notify"}]}, "ok_actions.0.topic"),
        ({"alarm_actions": [{"type": "notify", "topic": "a b"}]}, "alarm_actions.0.topic"),
        (
            {"alarm_actions": [{"type": "serving:StopEndpoint", "endpoint_name": "x", "y": 1}]},
            "alarm_actions.0.y",
        ),
    ],
)
def test_bad_definitions_name_the_field(database, changes, field):
    with pytest.raises(ValidationError) as caught, database.session_scope() as session:
        alarms.put_metric_alarm(session, "bad", alarm_request(**changes), OWNER)
    assert caught.value.field == field


# ---- actions -----------------------------------------------------------------------------------
def test_notify_publishes_once_per_state_change(database, quiet_settings):
    add_topic(database, quiet_settings)
    put_alarm(
        database,
        description="checkout errors",
        alarm_actions=[{"type": "notify", "topic": "oncall"}],
        ok_actions=[{"type": "notify", "topic": "oncall"}],
    )
    put_value(database, 9, LATEST)
    evaluate(database)
    assert deliveries(database) == 1
    [action] = history(database, item_type="Action")
    assert action.data["outcome"] == "Succeeded"
    assert action.data["transition_id"] == history(database, item_type="StateUpdate")[0].id
    with database.session_scope() as session:
        [message] = session.scalars(select(topics.TopicMessage)).all()  # type: ignore[attr-defined]
        assert message.subject == "ALARM: errors-high"
        assert message.message["NewStateValue"] == "ALARM"
        assert message.message["OldStateValue"] == "INSUFFICIENT_DATA"
        assert message.message["AlarmDescription"] == "checkout errors"
        assert message.message["Trigger"]["threshold"] == 5.0
        assert message.message["Trigger"]["treat_missing_data"] == "notBreaching"


def test_stop_and_roll_back_an_endpoint(database):
    add_endpoint(database)
    put_alarm(
        database,
        alarm_actions=[{"type": "serving:StopEndpoint", "endpoint_name": "checkout"}],
        ok_actions=[{"type": "serving:RollbackEndpoint", "endpoint_name": "checkout"}],
    )
    put_value(database, 9, LATEST)
    evaluate(database)
    with database.session_scope() as session:
        assert serving.describe_endpoint(session, "checkout").status == "OutOfService"
    evaluate(database, NOW + timedelta(seconds=5 * PERIOD))  # no data: notBreaching → OK
    with database.session_scope() as session:
        endpoint = serving.describe_endpoint(session, "checkout")
    assert (endpoint.endpoint_config_name, endpoint.status) == ("checkout-v0", "Updating")
    outcomes = [a.data["outcome"] for a in history(database, item_type="Action")]
    assert outcomes == ["Succeeded", "Succeeded"]


def test_the_owner_s_permissions_apply_and_a_refusal_is_a_failed_action(database):
    add_endpoint(database)
    only_alarms = {
        "name": "AlarmsOnly",
        "statements": [{"effect": "Allow", "actions": ["monitoring:*"], "resources": ["*"]}],
    }
    with database.session_scope() as session:
        security.ensure_user(session, "bob", [only_alarms])
        alarms.put_metric_alarm(
            session,
            "bob-alarm",
            alarm_request(
                alarm_actions=[{"type": "serving:StopEndpoint", "endpoint_name": "checkout"}]
            ),
            "bob",
        )
    put_value(database, 9, LATEST)
    assert evaluate(database, name="bob-alarm") is True
    assert describe(database, "bob-alarm")["state_value"] == "ALARM"
    [action] = history(database, "bob-alarm", item_type="Action")
    assert action.data["outcome"] == "Failed"
    assert action.data["error"].startswith(
        "AccessDenied: bob is not allowed to serving:StopEndpoint"
    )
    with database.session_scope() as session:
        assert serving.describe_endpoint(session, "checkout").status == "InService"


def test_a_failed_action_does_not_stop_the_others(database, quiet_settings):
    add_topic(database, quiet_settings)
    put_alarm(
        database,
        alarm_actions=[
            {"type": "serving:StopEndpoint", "endpoint_name": "no-such-endpoint"},
            {"type": "notify", "topic": "oncall"},
        ],
    )
    put_value(database, 9, LATEST)
    evaluate(database)
    actions = history(database, item_type="Action")[::-1]
    assert [a.data["outcome"] for a in actions] == ["Failed", "Succeeded"]
    assert "NotFound" in actions[0].data["error"]
    assert deliveries(database) == 1


def test_restart_does_not_run_the_actions_again(database, quiet_settings, tmp_path):
    add_topic(database, quiet_settings)
    put_alarm(database, alarm_actions=[{"type": "notify", "topic": "oncall"}])
    put_value(database, 9, LATEST)
    make_due(database)
    assert alarms.evaluate_all(database, quiet_settings, None, NOW) == 1  # type: ignore[arg-type]
    assert deliveries(database) == 1

    # "restart": a new engine on the same database, every row read back from it
    again = Database(database.url)
    try:
        with again.session_scope() as session:
            alarm = alarms.describe_alarm(session, "errors-high")
            assert (alarm.state_value, alarm.actions_state) == ("ALARM", "ALARM")
        later = NOW + timedelta(seconds=PERIOD)
        put_value(again, 9, LATEST + timedelta(seconds=PERIOD))
        assert alarms.evaluate_all(again, quiet_settings, None, later) == 0  # type: ignore[arg-type]
    finally:
        again.dispose()
    assert deliveries(database) == 1
    assert len(history(database, item_type="Action")) == 1


def test_set_alarm_state_runs_that_state_s_actions_until_the_next_evaluation(
    database, quiet_settings
):
    add_topic(database, quiet_settings)
    put_alarm(database, alarm_actions=[{"type": "notify", "topic": "oncall"}])
    with database.session_scope() as session:
        alarms.set_alarm_state(
            session,
            "errors-high",
            SetAlarmStateIn(state_value="ALARM", state_reason="testing the pager"),
        )
    assert describe(database)["state_reason"] == "testing the pager"
    assert deliveries(database) == 1
    [update] = history(database, item_type="StateUpdate")
    assert update.data["source"] == "SetAlarmState"
    evaluate(database)  # no data, notBreaching: back to OK
    assert describe(database)["state_value"] == "OK"
    with pytest.raises(ValidationError) as caught, database.session_scope() as session:
        alarms.set_alarm_state(
            session, "errors-high", SetAlarmStateIn(state_value="RED", state_reason="x")
        )
    assert caught.value.field == "state_value"


# ---- composite alarms ------------------------------------------------------------------------
def put_composite(db: Database, name: str, rule: str, **changes: Any) -> None:
    with db.session_scope() as session:
        alarms.put_composite_alarm(
            session, name, CompositeAlarmIn(alarm_rule=rule, **changes), OWNER
        )


def set_state(db: Database, name: str, state: str) -> None:
    with db.session_scope() as session:
        alarms.set_alarm_state(session, name, SetAlarmStateIn(state_value=state, state_reason="t"))


def test_composite_alarms_follow_their_rule(database, quiet_settings):
    add_topic(database, quiet_settings)
    put_alarm(database, "errors")
    put_alarm(database, "latency")
    put_composite(
        database,
        "checkout-down",
        "ALARM(errors) AND NOT OK(latency)",
        alarm_actions=[{"type": "notify", "topic": "oncall"}],
    )
    put_composite(database, "anything-wrong", "ALARM(checkout-down) OR ALARM(errors)")
    assert alarms.evaluate_composites(database, NOW) == 2  # both FALSE: INSUFFICIENT → OK
    assert describe(database, "checkout-down")["state_value"] == "OK"

    set_state(database, "errors", "ALARM")  # latency is INSUFFICIENT_DATA: not OK
    assert alarms.evaluate_composites(database, NOW) == 2
    assert describe(database, "checkout-down")["state_value"] == "ALARM"
    assert describe(database, "anything-wrong")["state_value"] == "ALARM"
    assert deliveries(database) == 1
    assert alarms.evaluate_composites(database, NOW) == 0

    set_state(database, "latency", "OK")
    alarms.evaluate_composites(database, NOW)
    assert describe(database, "checkout-down")["state_value"] == "OK"
    assert describe(database, "anything-wrong")["state_value"] == "ALARM"  # errors still


def test_composite_rules_must_name_known_alarms_without_cycles(database):
    put_alarm(database, "errors")
    put_composite(database, "a", "ALARM(errors)")
    put_composite(database, "b", "ALARM(a)")
    for name, rule in (
        ("c", "ALARM(nope)"),
        ("a", "ALARM(b)"),  # a → b → a
        ("d", "ALARM(d)"),
        ("e", "ALARM(errors) AND"),
        ("f", "MAYBE(errors)"),
    ):
        with pytest.raises(ValidationError) as caught, database.session_scope() as session:
            alarms.put_composite_alarm(session, name, CompositeAlarmIn(alarm_rule=rule), OWNER)
        assert caught.value.field == "alarm_rule", rule
    with pytest.raises(InvalidState), database.session_scope() as session:
        alarms.delete_alarm(session, "errors")  # named by a's rule
    with database.session_scope() as session:
        alarms.delete_alarm(session, "b")
        alarms.delete_alarm(session, "a")
        alarms.delete_alarm(session, "errors")
        assert alarms.list_alarms(session) == []


def test_stop_a_training_job_and_start_a_pipeline(database, quiet_settings, tmp_path):
    from shipyard.core.artifacts import open_store
    from shipyard.pipelines import service as pipelines
    from shipyard.pipelines.schemas import PipelineIn
    from shipyard.training import service as training
    from shipyard.training.schemas import TrainingJobIn

    data = tmp_path / "train.csv"
    data.write_text("x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    store = open_store(quiet_settings.resolved_artifact_uri, None)
    with database.session_scope() as session:
        security.ensure_user(session, OWNER, [ADMINISTRATOR_ACCESS])
        training.create_training_job(
            session,
            quiet_settings,
            store,
            TrainingJobIn(
                name="long-fit", algorithm="xgboost", channels={"train": str(data)}, target="y"
            ),
            OWNER,
        )
        definition = {
            "parameters": [{"name": "Reason", "type": "String", "default_value": "none"}],
            "steps": [{"name": "stop", "type": "Fail", "arguments": {"error_message": "x"}}],
        }
        pipelines.upsert_pipeline(
            session, "retrain", PipelineIn.model_validate({"definition": definition}), OWNER
        )
    put_alarm(
        database,
        alarm_actions=[
            {"type": "training:StopTrainingJob", "training_job_name": "long-fit"},
            {
                "type": "pipelines:StartPipelineExecution",
                "pipeline_name": "retrain",
                "parameters": {"Reason": "errors"},
            },
        ],
    )
    put_value(database, 9, LATEST)
    evaluate(database)
    actions = history(database, item_type="Action")[::-1]
    assert [a.data["outcome"] for a in actions] == ["Succeeded", "Succeeded"], actions
    with database.session_scope() as session:
        assert training.describe_training_job(session, "long-fit").status in (
            "Stopping",
            "Stopped",
        )
        [execution] = pipelines.list_executions(
            session, pipeline_name="retrain", limit=10, offset=0
        )
    assert execution.parameters["Reason"] == "errors"
    assert execution.started_by == OWNER
    assert execution.trigger == "alarm:errors-high"
