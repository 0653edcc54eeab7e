"""``shipyard alarms …`` through its real entry point, against a live server; and the SDK's
``Alarm``."""

from __future__ import annotations

import json
import uuid

from cli_testing import assert_one_line_error, shipyard_cli

from shipyard.sdk.alarms import Alarm
from shipyard.sdk.client import Session


def test_create_list_describe_set_state_history_delete(live_server, tmp_path):
    env = live_server.env
    name = f"cli-alarm-{uuid.uuid4().hex[:6]}"
    definition = tmp_path / "alarm.json"
    definition.write_text(
        json.dumps(
            {
                "namespace": "Test/Cli",
                "metric_name": "Errors",
                "statistic": "Sum",
                "period": 60,
                "evaluation_periods": 2,
                "threshold": 1,
                "comparison_operator": "GreaterThanThreshold",
            }
        )
    )
    created = shipyard_cli(
        "alarms", "create", name, "--from-json", str(definition), "--dimension", "Service=web",
        "--datapoints-to-alarm", "1", "--ok-action", '{"type": "notify", "topic": "ops"}',
        "--json", env=env,
    )  # fmt: skip
    alarm = json.loads(created.stdout)
    assert (alarm["state_value"], alarm["datapoints_to_alarm"]) == ("INSUFFICIENT_DATA", 1)
    assert alarm["dimensions"] == {"Service": "web"}
    assert alarm["ok_actions"] == [{"type": "notify", "topic": "ops"}]

    listed = shipyard_cli("alarms", "list", "--state", "INSUFFICIENT_DATA", "--json", env=env)
    assert name in [item["name"] for item in json.loads(listed.stdout)]
    assert name in shipyard_cli("alarms", "describe", name, env=env).stdout
    shipyard_cli("alarms", "set-state", name, "ALARM", "--reason", "a drill", env=env)
    history = json.loads(shipyard_cli("alarms", "history", name, "--json", env=env).stdout)
    assert history[0]["data"]["reason"] == "a drill"

    bad = shipyard_cli(
        "alarms", "create", "cli-bad", "--from-json", str(definition),
        "--evaluation-periods", "1", "--datapoints-to-alarm", "2", env=env, expect=1,
    )  # fmt: skip
    assert_one_line_error(bad, "ValidationError", "datapoints_to_alarm")
    missing = shipyard_cli("alarms", "create", "cli-bad", "--period", "60", env=env, expect=1)
    assert_one_line_error(missing, "ValidationError", "namespace")

    shipyard_cli("alarms", "delete", name, env=env)
    gone = shipyard_cli("alarms", "describe", name, env=env, expect=1)
    assert_one_line_error(gone, "NotFound", name)


def test_the_sdk_alarm(live_server):
    name = f"sdk-alarm-{uuid.uuid4().hex[:6]}"
    with Session(url=live_server.url, token=live_server.token) as session:
        alarm = Alarm(name, session).put(
            namespace="Test/Sdk",
            metric_name="Latency",
            extended_statistic="p99",
            period=10,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            threshold=250,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="ignore",
        )
        assert alarm.describe()["extended_statistic"] == "p99"
        assert alarm.set_state("OK", "all good")["state_value"] == "OK"
        assert alarm.history("StateUpdate")[0]["data"]["new_state"] == "OK"
        assert name in [a["name"] for a in Alarm.list_alarms(session, state="OK")]
        Alarm(f"{name}-any", session).put_composite(f"ALARM({name})")
        Alarm(f"{name}-any", session).delete()
        alarm.delete()
