"""The alarm pages: over HTTP in-process (list with state badges, the state filter, one
alarm's definition, state and history, a 404), and in headless Chromium against a real
`shipyard up`."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from console_testing import log_in

ALARM = {
    "namespace": "Test/Console",
    "metric_name": "Errors",
    "statistic": "Sum",
    "period": 60,
    "evaluation_periods": 1,
    "threshold": 5,
    "comparison_operator": "GreaterThanOrEqualToThreshold",
    "description": "checkout <b>errors</b>",
}


def put_alarms(put: Any, name: str) -> None:
    assert put(f"/api/v1/alarms/{name}", ALARM).status_code == 200
    assert (
        put(f"/api/v1/composite-alarms/{name}-any", {"alarm_rule": f"ALARM({name})"}).status_code
        == 200
    )


def test_the_alarm_pages_over_http(api) -> None:
    put_alarms(lambda path, body: api.client.put(path, json=body, headers=api.headers), "web")
    drill = {"state_value": "ALARM", "state_reason": "a drill"}
    assert api.post("/api/v1/alarms/web/state", json=drill).status_code == 200
    assert log_in(api.client, api.token).status_code == 303

    listing = api.client.get("/console/alarms")
    assert listing.status_code == 200
    assert 'href="/console/alarms/web"' in listing.text
    assert '<span class="badge badge-bad">ALARM</span>' in listing.text
    assert "<code>ALARM(web)</code>" in listing.text
    only_ok = api.client.get("/console/alarms?state=OK").text
    assert 'href="/console/alarms/web"' not in only_ok

    page = api.client.get("/console/alarms/web")
    assert page.status_code == 200
    assert "checkout &lt;b&gt;errors&lt;/b&gt;" in page.text  # escaped
    assert "a drill" in page.text
    assert "Alarm updated from INSUFFICIENT_DATA to ALARM" in page.text
    assert "GreaterThanOrEqualToThreshold 5.0" in page.text
    assert api.client.get("/console/alarms/nope").status_code == 404


@pytest.mark.browser
def test_the_alarm_pages_in_chromium(live_server, signed_in) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    name = f"ui-{uuid.uuid4().hex[:6]}"
    with live_server.http() as http:
        put_alarms(lambda path, body: http.put(path, json=body), name)
        drill = {"state_value": "ALARM", "state_reason": "a drill"}
        assert http.post(f"/api/v1/alarms/{name}/state", json=drill).status_code == 200

    page = signed_in(live_server, "/console/alarms")
    row = page.locator(f"#alarm-{name}")
    sync_api.expect(row.locator(".badge")).to_have_text("ALARM")
    row.locator("a").click()
    sync_api.expect(page.locator("#alarm-name")).to_contain_text(name)
    sync_api.expect(page.locator("#alarm-state")).to_have_text("ALARM")
    sync_api.expect(page.locator("#history")).to_contain_text("a drill")
    sync_api.expect(page.locator("#alarm-definition")).to_contain_text("Test/Console / Errors")
