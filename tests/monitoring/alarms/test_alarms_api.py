"""The alarms through REST: put, describe, list by state, history, set state, delete, and bad
input answered 400 naming the field."""

from __future__ import annotations

from typing import Any

import pytest

ALARM = {
    "namespace": "Test/App",
    "metric_name": "Errors",
    "dimensions": {"Service": "checkout"},
    "statistic": "Sum",
    "period": 60,
    "evaluation_periods": 3,
    "datapoints_to_alarm": 2,
    "threshold": 5,
    "comparison_operator": "GreaterThanOrEqualToThreshold",
    "description": "too many errors",
}


def put(api: Any, name: str, **changes: Any) -> Any:
    return api.client.put(f"/api/v1/alarms/{name}", json={**ALARM, **changes}, headers=api.headers)


def test_put_describe_list_history_set_state_delete(api):
    created = put(api, "checkout-errors")
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["state_value"] == "INSUFFICIENT_DATA"
    assert body["kind"] == "metric"
    assert body["treat_missing_data"] == "missing"

    replaced = put(api, "checkout-errors", threshold=10)
    assert replaced.json()["threshold"] == 10.0
    assert api.get("/api/v1/alarms/checkout-errors").json()["description"] == "too many errors"

    set_state = api.post(
        "/api/v1/alarms/checkout-errors/state",
        json={"state_value": "ALARM", "state_reason": "a drill"},
    )
    assert set_state.status_code == 200, set_state.text
    assert set_state.json()["state_value"] == "ALARM"
    assert [a["name"] for a in api.get("/api/v1/alarms?state=ALARM").json()["items"]] == [
        "checkout-errors"
    ]
    assert api.get("/api/v1/alarms?state=OK").json()["items"] == []
    assert api.get("/api/v1/alarms?state=RED").status_code == 400

    items = api.get("/api/v1/alarms/checkout-errors/history").json()["items"]
    assert [item["item_type"] for item in items][:1] == ["StateUpdate"]
    assert {"ConfigurationUpdate"} <= {item["item_type"] for item in items}
    only = api.get("/api/v1/alarms/checkout-errors/history?item_type=StateUpdate").json()
    assert only["items"][-1]["data"]["reason"] == "a drill"

    composite = api.client.put(
        "/api/v1/composite-alarms/checkout-down",
        json={"alarm_rule": "ALARM(checkout-errors) OR FALSE"},
        headers=api.headers,
    )
    assert composite.status_code == 200, composite.text
    assert composite.json()["kind"] == "composite"
    refused = api.delete("/api/v1/alarms/checkout-errors")
    assert refused.status_code == 409
    assert "checkout-down" in refused.json()["error"]["message"]
    assert api.delete("/api/v1/alarms/checkout-down").status_code == 204
    assert api.delete("/api/v1/alarms/checkout-errors").status_code == 204
    assert api.get("/api/v1/alarms/checkout-errors").status_code == 404


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"datapoints_to_alarm": 4}, "datapoints_to_alarm"),
        ({"statistic": "Median"}, "statistic"),
        ({"period": 45}, "period"),
        ({"comparison_operator": "EqualToThreshold"}, "comparison_operator"),
        ({"treat_missing_data": "skip"}, "treat_missing_data"),
        ({"alarm_actions": [{"type": "page"}]}, "alarm_actions.0.type"),
        ({"alarm_actions": [{"type": "notify"}]}, "alarm_actions.0.topic"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_alarms_are_400s_naming_the_field(api, changes, field):
    response = put(api, "bad-alarm", **changes)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith(f"{field}:")


@pytest.mark.parametrize("rule", ["ALARM(nope)", "ALARM(x", "ALARM(bad-rule)", "NOT"])
def test_bad_composite_rules_are_400s_naming_alarm_rule(api, rule):
    response = api.client.put(
        "/api/v1/composite-alarms/bad-rule", json={"alarm_rule": rule}, headers=api.headers
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith("alarm_rule:")


def test_a_bad_name_and_an_unknown_alarm(api):
    assert put(api, "not a name").status_code == 400
    assert api.get("/api/v1/alarms/nope/history").status_code == 404
    response = api.post(
        "/api/v1/alarms/nope/state", json={"state_value": "OK", "state_reason": "x"}
    )
    assert response.status_code == 404
