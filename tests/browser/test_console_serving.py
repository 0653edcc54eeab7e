"""The serving console in headless Chromium against a real `shipyard up`: an endpoint's
charts drawn from real invocations of a small trained model, and redrawn as more come
without a reload; its instance count; a batch transform job with failed records in the
list and on its page; and the pages a viewer without the rights is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from serving_testing import breast_cancer, deploy, trained_model, unique

from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.security.service import create_api_key, ensure_user

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")
expect = sync_api.expect
ENDED = ("Completed", "Failed", "Stopped")
WAIT_MS = 60_000  # the page redraws every 5 s; a loaded machine flushes metrics late
PLOTTED_TOTAL = """([id, at_least]) => {
  const chart = document.getElementById(id);
  if (!chart || !chart.data) { return false; }
  const total = chart.data.reduce((sum, trace) => sum + trace.y.reduce((a, b) => a + b, 0), 0);
  return total >= at_least;
}"""
LAST_INSTANCES = """() => {
  const chart = document.getElementById("instances-chart");
  return chart.data.filter((t) => t.name.endsWith(" current")).map((t) => t.y[t.y.length - 1]);
}"""


@dataclass
class LiveApi:
    """The live server seen the way the serving tests' helpers use the ``api`` fixture."""

    server: Any  # tests/conftest.py's LiveServer
    http: httpx.Client

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def wait_for_job(self, name: str) -> dict[str, Any]:
        return self.server.wait_for_status(f"/api/v1/training-jobs/{name}", ENDED)

    def wait_for_endpoint(self, name: str) -> dict[str, Any]:
        return self.server.wait_for_status(f"/api/v1/endpoints/{name}", ("InService", "Failed"))

    def invoke(self, endpoint: str, content: bytes) -> httpx.Response:
        return self.http.post(
            f"/api/v1/endpoints/{endpoint}/invocations",
            content=content,
            headers={"Content-Type": "text/csv"},
        )


@dataclass
class Served:
    api: LiveApi
    directory: Path
    model: str
    endpoint: str
    rows: pd.DataFrame  # held-out features


@pytest.fixture(scope="module")
def served(live_server) -> Iterator[Served]:
    """An xgboost model of breast cancer, served by an endpoint of two instances."""
    directory = live_server.home.parent / unique("console-serving")
    train, validation = breast_cancer(directory)
    with live_server.http() as http:
        api = LiveApi(live_server, http)
        model = trained_model(api, train, "xgboost", {"num_round": 5, "max_depth": 2})
        endpoint = deploy(api, [{"model_name": model, "initial_instance_count": 2}])
        yield Served(api, directory, model, endpoint, validation.drop(columns=["target"]))


def invoke(served: Served, times: int, *, bad: bool = False) -> None:
    body = (
        b"not,numbers\n" if bad else served.rows.iloc[:2].to_csv(header=False, index=False).encode()
    )
    for _ in range(times):
        answer = served.api.invoke(served.endpoint, body)
        assert answer.status_code == (400 if bad else 200), answer.text


def key_of(home: Path, user: str, actions: list[str]) -> str:
    db = Database(Settings(home=home).resolved_database_url)
    policy = {
        "name": user,
        "statements": [{"effect": "Allow", "actions": actions, "resources": ["*"]}],
    }
    try:
        with db.session_scope() as session:
            ensure_user(session, user, [policy])
            return create_api_key(session, user, "browser test")
    finally:
        db.dispose()


def sign_in_as(open_page, server, key: str, path: str) -> Any:
    page = open_page(server.url)
    page.goto(path)
    page.fill("#api-key", key)
    page.click("#sign-in")
    page.locator("#user").wait_for()
    return page


# ---- the endpoint page's live charts ----------------------------------------------------
def test_the_endpoint_charts_are_redrawn_as_invocations_come(
    signed_in, live_server, served
) -> None:
    invoke(served, 5)
    invoke(served, 2, bad=True)
    page = signed_in(live_server, f"/console/endpoints/{served.endpoint}")
    expect(page.locator("#status")).to_have_text("InService")

    page.wait_for_function(PLOTTED_TOTAL, arg=["invocations-chart", 7], timeout=WAIT_MS)
    page.wait_for_function(PLOTTED_TOTAL, arg=["errors-chart", 2], timeout=WAIT_MS)
    latency = page.locator("#model-latency-chart")
    expect(latency.locator(".main-svg").first).to_be_visible()
    for percentile in ("p50", "p90", "p99"):
        expect(latency.locator(".legendtext", has_text=f"AllTraffic {percentile}")).to_have_count(1)
    points = page.evaluate(
        "() => document.getElementById('model-latency-chart').data.map((t) => t.y.length)"
    )
    assert all(count > 0 for count in points), points
    expect(page.locator("#instances-AllTraffic")).to_have_text("2 / 2")
    assert page.evaluate(LAST_INSTANCES) == [2]

    page.evaluate("() => { window.notReloaded = true; }")
    invoke(served, 6)
    page.wait_for_function(PLOTTED_TOTAL, arg=["invocations-chart", 13], timeout=WAIT_MS)
    assert page.evaluate("() => window.notReloaded === true")
    assert len(page.evaluate(LAST_INSTANCES)) == 1
    polls = page.evaluate("() => document.getElementById('instances-chart').data[0].x.length")
    assert polls >= 2  # a point per poll since the page was opened
    expect(page.locator("#live-updated")).to_contain_text("Live: updated")

    page.select_option("#chart-range", "1h")
    page.click("#chart-range-show")
    expect(page).to_have_url(re.compile(r"\?range=1h$"))
    page.wait_for_function(PLOTTED_TOTAL, arg=["invocations-chart", 13], timeout=WAIT_MS)


# ---- batch transform -----------------------------------------------------------------------
def test_a_transform_job_with_failed_records_in_the_console(signed_in, live_server, served) -> None:
    rows = served.rows.iloc[:40]
    lines = rows.to_csv(index=False).splitlines()
    lines[3] = ",".join(["oops"] * rows.shape[1])  # record 3: not numbers
    lines[20] = lines[20] + ",1"  # record 20: a field too many
    path = served.directory / "scored.csv"
    path.write_text("\n".join(lines) + "\n")
    job = unique("console-bt")
    created = served.api.post(
        "/api/v1/transform-jobs",
        json={
            "name": job,
            "model_name": served.model,
            "transform_input": {"data_source": str(path)},
        },
    )
    assert created.status_code == 201, created.text
    done = live_server.wait_for_status(f"/api/v1/transform-jobs/{job}", ENDED)
    assert done["status"] == "Completed", done["failure_reason"]

    page = signed_in(live_server, "/console/")
    page.get_by_role("link", name="Batch transform", exact=True).click()
    expect(page).to_have_url(re.compile(r"/console/transform-jobs$"))
    row = page.locator(f"#job-{job}")
    expect(row).to_contain_text("Completed")
    expect(row.locator(".records")).to_have_text("40 / 40")
    expect(row.locator(".records-failed")).to_have_text("2")
    page.get_by_role("link", name="Completed", exact=True).click()
    expect(page.locator("#transform-jobs tbody tr", has_text=job)).to_have_count(1)

    page.get_by_role("link", name=job).click()
    expect(page.locator("#job-name")).to_have_text(job)
    expect(page.locator("#status")).to_have_text("Completed")
    expect(page.locator("#progress-summary")).to_contain_text("40 of 40")
    expect(page.locator("#progress-summary tr", has_text="Failed records")).to_contain_text("2")
    expect(page.locator("#input-summary")).to_contain_text("scored.csv")
    expect(page.locator("#data-processing")).to_contain_text("Join source")
    expect(page.locator("#outputs .records-failed")).to_have_text("2")
    failures = page.locator("#failed-records tbody tr")
    expect(failures).to_have_count(2)
    expect(failures.nth(0).locator("td").first).to_have_text("3")
    expect(failures.nth(1).locator("td").first).to_have_text("20")
    expect(failures.nth(0)).to_contain_text("must be numeric")
    expect(failures.nth(1)).to_contain_text("the record has 31 fields; the header has 30")
    expect(page.locator("#failed-records h3")).to_contain_text(".out.errors")
    expect(page.locator("#logs")).to_contain_text("40 records, 2 failed")
    expect(page.locator("#status-history")).to_contain_text("Completed")

    page.click("#logs-link")
    expect(page.locator("#group-name")).to_have_text("/shipyard/transform-jobs")
    expect(page.locator("#log-events")).to_contain_text("40 records, 2 failed")


# ---- refusals ------------------------------------------------------------------------------
def test_a_viewer_without_the_rights_is_refused(open_page, live_server, served) -> None:
    key = key_of(live_server.home, "endpoint-viewer", ["serving:DescribeEndpoint"])
    page = sign_in_as(open_page, live_server, key, f"/console/endpoints/{served.endpoint}")

    expect(page.locator("#endpoint-name")).to_have_text(served.endpoint)
    expect(page.locator("#no-metrics-access")).to_be_visible()
    expect(page.locator("#invocations-chart")).to_have_count(0)
    expect(page.locator("#instances-AllTraffic")).to_have_text("2 / 2")
    page.wait_for_function(
        "() => (document.getElementById('instances-chart').data || []).length > 0"
    )

    for path, action in (
        ("/console/transform-jobs", "serving:ListTransformJobs"),
        ("/console/transform-jobs/anything", "serving:DescribeTransformJob"),
    ):
        response = page.goto(path)
        assert response.status == 403
        expect(page.locator("#error-message")).to_contain_text(f"not allowed to {action}")

    other = key_of(live_server.home, "model-viewer", ["serving:ListModels"])
    page = sign_in_as(open_page, live_server, other, f"/console/endpoints/{served.endpoint}")
    expect(page.locator("#error-message")).to_contain_text(
        "not allowed to serving:DescribeEndpoint"
    )
    answer = page.request.get(f"/console/endpoints/{served.endpoint}/live")
    assert answer.status == 403


# ---- rollouts --------------------------------------------------------------------------
def test_a_rollout_in_progress_is_shown_and_rolled_back_by_its_button(
    signed_in, live_server, served
) -> None:
    endpoint = deploy(served.api, [{"model_name": served.model}])
    config = unique("green")
    body = {"name": config, "production_variants": [{"model_name": served.model}]}
    assert served.api.post("/api/v1/endpoint-configs", json=body).status_code == 201
    canary = {
        "traffic_routing_configuration": {
            "type": "CANARY",
            "canary_size": {"value": 20},
            "wait_interval_in_seconds": 3600,
        }
    }
    update = {
        "endpoint_config_name": config,
        "deployment_config": {"blue_green_update_policy": canary},
    }
    assert served.api.http.put(f"/api/v1/endpoints/{endpoint}", json=update).status_code == 200
    live_server.wait_for(
        lambda: (
            served.api.get(f"/api/v1/endpoints/{endpoint}").json()["rollout"]["status"]
            == "Shifting"
            or None
        ),
        "the canary to take its share",
    )

    page = signed_in(live_server, f"/console/endpoints/{endpoint}")
    expect(page.locator("#rollout-status")).to_have_text("Shifting")
    expect(page.locator("#rollout-configs")).to_contain_text(f"→ {config}")
    expect(page.locator("#rollout-traffic")).to_contain_text("20% of the traffic")
    expect(page.locator("#rollout-events")).to_contain_text("20% of the traffic goes to")
    expect(page.locator("#rollback")).to_have_text("Roll back this rollout")
    page.click("#rollback")
    expect(page.locator("#rollout-status")).to_have_text("RolledBack", timeout=WAIT_MS)
    expect(page.locator("#rollout-reason")).to_have_text("rolled back by request")
    expect(page.locator("#status")).to_have_text("InService")
    expect(page.locator("#rollback")).to_have_count(0)  # nothing earlier to go back to
