"""The console's pipeline pages over plain HTTP: the list, a pipeline, an execution and its
status feed, stop and retry forms (with the CSRF token), authorization and escaping."""

from __future__ import annotations

import time
from typing import Any

import pytest
from console_testing import csrf_of, log_in

from shipyard.security.service import create_api_key, ensure_user

SLEEP = b"import time\ntime.sleep(600)\n"
ENDED = ("Succeeded", "Failed", "Stopped")


@pytest.fixture
def console(api: Any) -> Any:
    upload = api.post("/api/v1/uploads", files={"file": ("sleep.py", SLEEP)}).json()["uri"]
    data = api.settings.data_roots[0] / "x.csv"
    data.write_text("a,b\n1,2\n")
    steps = [
        {
            "name": "nap",
            "type": "Training",
            "arguments": {
                "entry_point": "sleep.py",
                "source_uri": upload,
                "channels": {"train": str(data)},
            },
        },
        {
            "name": "never",
            "type": "Fail",
            "arguments": {"error_message": "<b>bold</b>"},
            "depends_on": ["nap"],
        },
    ]
    body = {"definition": {"steps": steps}, "description": "naps <i>forever</i>"}
    assert (
        api.client.put("/api/v1/pipelines/naps", json=body, headers=api.headers).status_code == 200
    )
    assert log_in(api.client, api.token).status_code == 303
    return api


def executing(api: Any) -> str:
    started = api.post("/api/v1/pipelines/naps/executions", json={}).json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = api.client.get(f"/console/pipeline-executions/{started}/status").json()
        if status["steps"]["nap"]["status"] == "Executing":
            return started
        time.sleep(0.05)
    raise AssertionError(status)


def test_the_pages_of_a_running_execution_and_its_stop_and_retry(console: Any) -> None:
    execution = executing(console)
    client = console.client
    listing = client.get("/console/pipelines")
    assert listing.status_code == 200 and 'href="/console/pipelines/naps"' in listing.text
    pipeline = client.get("/console/pipelines/naps")
    assert 'data-node-id="nap"' in pipeline.text and execution in pipeline.text
    assert "naps &lt;i&gt;forever&lt;/i&gt;" in pipeline.text

    page = client.get(f"/console/pipeline-executions/{execution}")
    assert page.status_code == 200
    assert 'data-live="true"' in page.text and "status-Executing" in page.text
    assert 'href="/console/training-jobs/naps-nap-' in page.text
    status = client.get(f"/console/pipeline-executions/{execution}/status").json()
    assert status["status"] == "Executing" and status["steps"]["never"]["status"] == "NotStarted"

    stopped = client.post(
        f"/console/pipeline-executions/{execution}/stop",
        data={"csrf_token": csrf_of(page)},
        follow_redirects=False,
    )
    assert stopped.status_code == 303
    ended = console.wait_for_status(f"/api/v1/pipelines/naps/executions/{execution}", ENDED, 60)
    assert ended["status"] == "Stopped"
    page = client.get(f"/console/pipeline-executions/{execution}")
    assert 'id="retry"' in page.text and 'data-live="true"' not in page.text
    forged = client.post(
        f"/console/pipeline-executions/{execution}/retry", data={"csrf_token": "forged"}
    )
    assert forged.status_code == 403
    retried = client.post(
        f"/console/pipeline-executions/{execution}/retry",
        data={"csrf_token": csrf_of(page)},
        follow_redirects=False,
    )
    assert retried.status_code == 303
    assert (
        client.get(f"/console/pipeline-executions/{execution}/status").json()["status"]
        == "Executing"
    )
    console.post(f"/api/v1/pipelines/naps/executions/{execution}/stop")
    console.wait_for_status(f"/api/v1/pipelines/naps/executions/{execution}", ENDED, 60)


def test_a_viewer_without_the_permissions_gets_403_pages(console: Any) -> None:
    with console.client.app.state.context.db.session_scope() as session:
        ensure_user(
            session,
            "reader",
            [
                {
                    "statements": [
                        {
                            "effect": "Allow",
                            "actions": ["pipelines:ListPipelines"],
                            "resources": ["*"],
                        }
                    ]
                }
            ],
        )
        key = create_api_key(session, "reader")
    started = console.post("/api/v1/pipelines/naps/executions", json={}).json()["id"]
    console.client.cookies.clear()
    assert log_in(console.client, key).status_code == 303
    assert console.client.get("/console/pipelines").status_code == 200
    for path in (
        "/console/pipelines/naps",
        f"/console/pipeline-executions/{started}",
        f"/console/pipeline-executions/{started}/status",
    ):
        response = console.client.get(path)
        assert response.status_code == 403, path
    assert console.client.get("/console/pipeline-executions/nope").status_code == 404
    console.post(f"/api/v1/pipelines/naps/executions/{started}/stop")
    console.wait_for_status(f"/api/v1/pipelines/naps/executions/{started}", ENDED, 60)
