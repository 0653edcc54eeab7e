"""The metrics explorer page: over HTTP (choices, a chart, bad input) and in headless Chromium."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from console_testing import log_in

from shipyard.core.clock import utcnow


def put_some(client: Any, headers: dict[str, str], namespace: str) -> None:
    now = utcnow()
    data = [
        {
            "metric_name": "QueueDepth",
            "dimensions": {"Queue": "<b>orders</b>"},
            "value": float(i % 7),
            "timestamp": (now - timedelta(minutes=i)).isoformat(),
        }
        for i in range(30)
    ]
    response = client.post(
        "/api/v1/metrics", json={"namespace": namespace, "metric_data": data}, headers=headers
    )
    assert response.status_code == 200, response.text


def test_the_explorer_over_http(api: Any) -> None:
    namespace = f"App/{uuid.uuid4().hex[:6]}"
    put_some(api.client, api.headers, namespace)
    assert log_in(api.client, api.token).status_code == 303
    page = api.client.get("/console/metrics")
    assert page.status_code == 200
    assert namespace in page.text and "&lt;b&gt;orders&lt;/b&gt;" in page.text
    assert "<b>orders</b>" not in page.text.replace('<script type="application/json"', "")
    series = json.dumps([namespace, "QueueDepth", {"Queue": "<b>orders</b>"}], sort_keys=True)
    chart = api.client.get(
        "/console/metrics",
        params={"namespace": namespace, "series": series, "statistic": "Maximum", "period": 60},
    )
    assert chart.status_code == 200 and 'id="metric-chart"' in chart.text
    figure = json.loads(chart.text.split('id="metric-chart-data">')[1].split("</script>")[0])
    assert sorted(figure["data"][0]["y"]) == sorted(float(i % 7) for i in range(30))
    for params, field in (
        ({"period": 7}, "period"),
        ({"statistic": "Mode"}, "statistic"),
        ({"range": "1y"}, "range"),
        ({"series": "not json"}, "series"),
    ):
        refused = api.client.get("/console/metrics", params=params)
        assert refused.status_code == 400 and field in refused.text, (params, refused.text[:300])
        assert "Traceback" not in refused.text


def test_the_explorer_draws_a_chart_in_chromium(signed_in: Any, live_server: Any) -> None:
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect

    namespace = f"Browser/{uuid.uuid4().hex[:6]}"
    import httpx

    with httpx.Client(base_url=live_server.url) as client:
        put_some(client, {"Authorization": f"Bearer {live_server.token}"}, namespace)
    page = signed_in(live_server, "/console/metrics")
    page.select_option("#namespace", namespace)
    page.click("#show")
    page.select_option("#statistic", "p90")
    page.click("#show")
    expect(page.locator("#metric-chart .main-svg").first).to_be_visible()
    expect(page.locator("nav a.active")).to_have_text("Metrics")
