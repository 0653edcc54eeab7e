"""The logs routes over HTTP: a pipeline execution tells its steps in its group, a user's
group is written, filtered and given a retention; group names with slashes work raw and
percent-encoded; bad input is a 400 naming the field; a key reads only the groups its
policy names."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from shipyard.security.service import create_api_key, ensure_user

FAIL = {"name": "stop", "type": "Fail", "arguments": {"error_message": "threshold missed"}}


def encoded(group: str) -> str:
    return f"/api/v1/log-groups/{quote(group, safe='')}"


def test_a_pipeline_execution_tells_its_steps_in_its_log_group(api: Any) -> None:
    definition = {"steps": [FAIL]}
    response = api.client.put(
        "/api/v1/pipelines/gate", json={"definition": definition}, headers=api.headers
    )
    assert response.status_code == 200, response.text
    started = api.post("/api/v1/pipelines/gate/executions", json={"parameters": {}})
    execution = started.json()["id"]
    api.wait_for_status(f"/api/v1/pipelines/gate/executions/{execution}", ("Failed",), 30)

    # written in the transactions that changed the statuses: there once the execution ended
    page = api.get(f"{encoded('/shipyard/pipelines/gate')}/streams/{execution}/events")
    messages = [e["message"] for e in page.json()["events"]]
    assert len(messages) == 3, messages
    assert messages[0].startswith("execution started (manual) by admin, version 1")
    assert messages[1] == "step 'stop' (Fail) Failed: threshold missed"
    assert messages[2] == "execution Failed: Fail step 'stop' failed: threshold missed"
    raw = api.get("/api/v1/log-groups//shipyard/pipelines/gate/events?pattern=Failed")
    assert [e["log_stream_name"] for e in raw.json()["events"]] == [execution, execution]
    groups = api.get("/api/v1/log-groups", params={"prefix": "/shipyard/pipelines/"}).json()
    assert [(g["name"], g["managed"]) for g in groups["items"]] == [
        ("/shipyard/pipelines/gate", True)
    ]


def test_a_users_group_is_written_filtered_and_kept_for_its_retention(api: Any) -> None:
    created = api.post("/api/v1/log-groups", json={"name": "/team/etl", "retention_in_days": 14})
    assert created.status_code == 201, created.text
    assert created.json()["srn"] == "srn:shipyard:log-group/team/etl"
    put = api.post(
        f"{encoded('/team/etl')}/events",
        json={
            "log_stream_name": "nightly",
            "log_events": [{"message": '{"level": "ERROR", "rows": 3}'}, {"message": "ok"}],
        },
    )
    assert put.json() == {"next_seq": 2}
    found = api.get(f"{encoded('/team/etl')}/events", params={"pattern": '{ $.level = "ERROR" }'})
    assert [e["message"] for e in found.json()["events"]] == ['{"level": "ERROR", "rows": 3}']
    assert found.json()["complete"] is True
    streams = api.get(f"{encoded('/team/etl')}/streams").json()["items"]
    assert [(s["name"], s["event_count"]) for s in streams] == [("nightly", 2)]
    kept = api.client.put(
        f"{encoded('/team/etl')}/retention-policy",
        json={"retention_in_days": 30},
        headers=api.headers,
    )
    assert kept.json()["retention_in_days"] == 30
    forever = api.client.delete(f"{encoded('/team/etl')}/retention-policy", headers=api.headers)
    assert forever.json()["retention_in_days"] is None
    assert api.delete(encoded("/team/etl")).status_code == 204
    assert api.get(encoded("/team/etl")).status_code == 404


def test_bad_input_is_a_400_naming_the_field(api: Any) -> None:
    api.post("/api/v1/log-groups", json={"name": "/team/etl"})
    cases = [
        (api.post("/api/v1/log-groups", json={"name": "/x", "retention_in_days": 2}),
         "retention_in_days", "expected one of 1, 3, 5"),
        (api.post("/api/v1/log-groups", json={"name": "/shipyard/mine"}), "name", "platform"),
        (api.post("/api/v1/log-groups", json={"name": "a b"}), "name", "not a log group name"),
        (api.post("/api/v1/log-groups", json={"name": "/team/events"}), "name", "paths use"),
        (api.get(f"{encoded('/team/etl')}/events", params={"pattern": "{ $.a > x }"}),
         "pattern", "compares numbers"),
        (api.get(f"{encoded('/team/etl')}/events", params={"next_token": "zz"}),
         "next_token", "token"),
        (api.post(f"{encoded('/shipyard/training-jobs')}/events",
                  json={"log_stream_name": "s", "log_events": [{"message": "x"}]}),
         "log_group_name", None),
        (api.post(f"{encoded('/team/etl')}/events",
                  json={"log_stream_name": "s", "log_events": []}), "log_events", None),
    ]  # fmt: skip
    api.post("/api/v1/log-groups", json={"name": "/shipyard/training-jobs"})
    for response, field, needle in cases:
        if field == "log_group_name":  # the platform group exists once a job wrote to it
            assert response.status_code in (400, 404), response.text
            continue
        assert response.status_code == 400, response.text
        message = response.json()["error"]["message"]
        assert field in message, message
        assert needle is None or needle in message, message
    assert api.get(f"{encoded('/nope')}/events").status_code == 404


def test_a_key_reads_only_the_groups_its_policy_names(api: Any) -> None:
    for name in ("/team/etl", "/other/etl"):
        api.post("/api/v1/log-groups", json={"name": name})
    policy = {
        "name": "TeamLogs",
        "statements": [
            {
                "effect": "Allow",
                "actions": ["monitoring:FilterLogEvents"],
                "resources": ["srn:shipyard:log-group/team/*"],
            }
        ],
    }
    context = api.client.app.state.context
    with context.db.session_scope() as session:
        ensure_user(session, "analyst", [policy])
        token = create_api_key(session, "analyst")
    headers = {"Authorization": f"Bearer {token}"}
    mine = api.client.get(f"{encoded('/team/etl')}/events", headers=headers)
    assert mine.status_code == 200, mine.text
    other = api.client.get(f"{encoded('/other/etl')}/events", headers=headers)
    assert other.status_code == 403
    assert "srn:shipyard:log-group/other/etl" in other.json()["error"]["message"]
    written = api.client.post(
        f"{encoded('/team/etl')}/events",
        json={"log_stream_name": "s", "log_events": [{"message": "x"}]},
        headers=headers,
    )
    assert written.status_code == 403
