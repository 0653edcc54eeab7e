"""The logs pages in headless Chromium against a real `shipyard up`: the nav leads to the
log groups, a group's page lists its events, the filter form narrows them by pattern and
stream, and a bad pattern is said next to the form."""

from __future__ import annotations

import re
import uuid

import pytest

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")
expect = sync_api.expect


def test_a_log_groups_events_filtered_in_the_console(signed_in, live_server) -> None:
    group = f"/team/{uuid.uuid4().hex[:8]}"
    with live_server.http() as http:
        assert http.post("/api/v1/log-groups", json={"name": group}).status_code == 201
        for stream, messages in (
            ("train", ["epoch 1 loss 0.9", "ERROR out of memory\nTraceback: …"]),
            ("serve", ["ready", "ERROR cold start"]),
        ):
            body = {"log_stream_name": stream, "log_events": [{"message": m} for m in messages]}
            assert http.post(f"/api/v1/log-groups/{group}/events", json=body).status_code == 200

    page = signed_in(live_server, "/console/")
    page.get_by_role("link", name="Logs").click()
    expect(page).to_have_url(re.compile(r"/console/logs$"))
    page.get_by_role("link", name=group).click()
    expect(page.locator("#group-name")).to_have_text(group)
    rows = page.locator("#log-events tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(1)).to_contain_text("Traceback: …")

    page.fill("#log-pattern", "ERROR")
    page.fill("#log-stream", "serve")
    page.click("#log-go")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ERROR cold start")
    expect(page.locator("#log-pattern")).to_have_value("ERROR")

    page.fill("#log-pattern", '"unclosed')
    page.fill("#log-stream", "")
    page.click("#log-go")
    expect(page.locator("#filter-error")).to_contain_text("no closing quotation mark")
