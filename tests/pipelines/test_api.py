"""Bad input through REST: each a 4xx naming the place, before anything is stored or run."""

from __future__ import annotations

from typing import Any

FAIL = {"name": "stop", "type": "Fail", "arguments": {"error_message": "x"}}
PARAMETERS = [{"name": "Threshold", "type": "Float", "default_value": 0.5}]


def put(api: Any, name: str, steps: list[dict[str, Any]], parameters: Any = None) -> Any:
    definition = {"steps": steps, "parameters": parameters or PARAMETERS}
    return api.client.put(
        f"/api/v1/pipelines/{name}", json={"definition": definition}, headers=api.headers
    )


def assert_error(response: Any, status: int, *needles: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    for needle in needles:
        assert needle in message, message


def test_a_bad_definition_is_refused_naming_the_place(api: Any) -> None:
    cycle = [
        {**FAIL, "name": "a", "depends_on": ["b"]},
        {**FAIL, "name": "b", "depends_on": ["a"]},
    ]
    assert_error(put(api, "cyclic", cycle), 400, "steps: the steps form a cycle")
    unknown = {
        "name": "check",
        "type": "Condition",
        "arguments": {
            "conditions": [
                {
                    "type": "GreaterThan",
                    "left": {"Property": {"step": "stop", "path": ["auc"]}},
                    "right": 1,
                }
            ]
        },
    }
    assert_error(
        put(api, "unknown", [FAIL, unknown]), 400, "steps.check.arguments.conditions.0.left.path"
    )
    missing = {**FAIL, "name": "late", "depends_on": ["early"]}
    assert_error(put(api, "missing", [missing]), 400, "steps.late.depends_on", "'early'")
    assert_error(put(api, "typo", [{**FAIL, "type": "Fial"}]), 400, "steps.0.type")
    assert_error(put(api, "bad name", [FAIL]), 400, "name:")
    assert api.get("/api/v1/pipelines").json()["items"] == []


def test_bad_parameters_and_schedules_are_refused_naming_the_field(api: Any) -> None:
    assert put(api, "ok", [FAIL]).status_code == 200
    start = api.post("/api/v1/pipelines/ok/executions", json={"parameters": {"Threshold": "high"}})
    assert_error(start, 400, "parameters.Threshold: expected a Float, got 'high'")
    extra = api.post("/api/v1/pipelines/ok/executions", json={"parameters": {"Other": 1}})
    assert_error(extra, 400, "parameters.Other")
    cron = api.post("/api/v1/pipelines/ok/schedules", json={"name": "n", "cron": "0 25 * * *"})
    assert_error(cron, 400, "cron: '0 25 * * *' is not a cron expression")
    trigger = api.post("/api/v1/pipelines/ok/triggers", json={"name": "t", "source": "/etc"})
    assert_error(trigger, 400, "source:")
    assert_error(api.get("/api/v1/pipelines/ok/versions/x"), 400, "version")
    assert_error(api.get("/api/v1/pipelines/ok/versions/9"), 404, "no version 9")
    assert_error(api.get("/api/v1/pipelines/ok/executions/nope"), 404)
    assert_error(api.get("/api/v1/pipelines/ok/executions/no-pe"), 400, "execution_id")
    assert api.get("/api/v1/pipelines/ok/executions").json()["items"] == []
