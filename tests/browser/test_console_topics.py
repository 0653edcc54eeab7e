"""The topics pages in headless Chromium against a real `shipyard up`: a topic with a queue
subscription, a message published, its delivery Delivered by the server's scheduler, shown
in the topic's delivery log; the nav link leads there."""

from __future__ import annotations

import re
import uuid

import pytest

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")
expect = sync_api.expect


def test_a_topics_delivery_log_in_the_console(signed_in, live_server) -> None:
    name = f"ops-{uuid.uuid4().hex[:8]}"
    with live_server.http() as http:
        assert http.post("/api/v1/topics", json={"name": name}).status_code == 201
        subscribed = http.post(
            f"/api/v1/topics/{name}/subscriptions",
            json={"protocol": "queue", "endpoint": f"{name}-inbox"},
        )
        assert subscribed.status_code == 201, subscribed.text
        published = http.post(
            f"/api/v1/topics/{name}/publish",
            json={"subject": "Nightly retrain", "message": {"auc": 0.97}},
        )
        assert published.status_code == 200, published.text
        live_server.wait_for(
            lambda: [
                d
                for d in http.get(f"/api/v1/topics/{name}/deliveries").json()["items"]
                if d["status"] == "Delivered"
            ],
            "the delivery",
        )

    page = signed_in(live_server, "/console/")
    page.get_by_role("link", name="Topics").click()
    expect(page).to_have_url(re.compile(r"/console/topics$"))
    page.get_by_role("link", name=name).click()
    expect(page.locator("#topic-name")).to_have_text(name)
    expect(page.locator("#subscriptions")).to_contain_text(f"{name}-inbox")
    row = page.locator("#deliveries tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Nightly retrain")
    expect(row.locator(".badge")).to_have_text("Delivered")
