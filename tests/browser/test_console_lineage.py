"""The lineage page in headless Chromium against a real `shipyard up`: train a small
model, deploy it, follow the endpoint's Lineage link, read the graph, click through."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")
expect = sync_api.expect


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def deployed_model(server: Any) -> dict[str, str]:
    """An xgboost job on breast cancer (CSV files in the server's data root), its model and
    an InService endpoint: their names."""
    directory = server.home.parent / unique("lineage-browser")
    directory.mkdir()
    frame = load_breast_cancer(as_frame=True).frame
    frame.iloc[:400].to_csv(directory / "train.csv", index=False)
    frame.iloc[400:].to_csv(directory / "validation.csv", index=False)
    names = {kind: unique(f"lineage-{kind}") for kind in ("job", "model", "endpoint")}
    with server.http() as http:
        for path, body in (
            (
                "/api/v1/training-jobs",
                {
                    "name": names["job"],
                    "algorithm": "xgboost",
                    "target": "target",
                    "hyperparameters": {"num_round": 10, "max_depth": 3},
                    "channels": {
                        "train": str(directory / "train.csv"),
                        "validation": str(directory / "validation.csv"),
                    },
                },
            ),
            ("/api/v1/models", {"name": names["model"], "training_job_name": names["job"]}),
            (
                "/api/v1/endpoint-configs",
                {
                    "name": names["endpoint"],
                    "production_variants": [{"model_name": names["model"]}],
                },
            ),
            (
                "/api/v1/endpoints",
                {"name": names["endpoint"], "endpoint_config_name": names["endpoint"]},
            ),
        ):
            response = http.post(path, json=body)
            assert response.status_code == 201, response.text
            if path == "/api/v1/training-jobs":
                job = server.wait_for_status(
                    f"{path}/{names['job']}", ("Completed", "Failed", "Stopped")
                )
                assert job["status"] == "Completed", job["failure_reason"]
    endpoint = server.wait_for_status(
        f"/api/v1/endpoints/{names['endpoint']}", ("InService", "Failed")
    )
    assert endpoint["status"] == "InService", endpoint["failure_reason"]
    return names


def test_an_endpoints_lineage_leads_to_its_training_job(open_page, live_server) -> None:
    names = deployed_model(live_server)
    page = open_page(live_server.url)
    page.goto(f"/console/endpoints/{names['endpoint']}")
    page.fill("#api-key", live_server.token)
    page.click("#sign-in")
    expect(page.locator("#endpoint-name")).to_have_text(names["endpoint"])

    page.click("#lineage-link")
    expect(page).to_have_url(re.compile(r"/console/lineage\?entity=srn"))
    graph = page.locator("#lineage-graph svg.dag")
    expect(graph).to_be_visible()
    for kind, name in (("endpoint", "endpoint"), ("model", "model"), ("training-job", "job")):
        node = graph.locator(f'[data-node-id="srn:shipyard:{kind}/{names[name]}"]')
        expect(node).to_be_visible()
        expect(node).to_contain_text(names[name][:20])
    expect(graph.locator('[data-node-id^="srn:shipyard:dataset/sha256-"]')).to_have_count(2)
    expect(graph.locator(".dag-edge")).to_have_count(4)
    root = graph.locator(".lineage-root")
    expect(root).to_have_attribute("data-node-id", f"srn:shipyard:endpoint/{names['endpoint']}")
    expect(page.locator("#lineage-entities tbody tr")).to_have_count(5)
    # left to right: what was used is drawn before what it made
    x_of = {
        kind: graph.locator(f'[data-node-id^="srn:shipyard:{kind}/"]').first.bounding_box()["x"]
        for kind in ("dataset", "training-job", "model", "endpoint")
    }
    assert x_of["dataset"] < x_of["training-job"] < x_of["model"] < x_of["endpoint"]

    graph.locator(f'[data-node-id="srn:shipyard:training-job/{names["job"]}"] rect').click()
    expect(page).to_have_url(re.compile(f"/console/training-jobs/{names['job']}$"))
    expect(page.locator("#job-name")).to_have_text(names["job"])


def test_an_unknown_entity_says_so_and_keeps_the_search_box(open_page, live_server) -> None:
    page = open_page(live_server.url)
    page.goto("/console/lineage")
    page.fill("#api-key", live_server.token)
    page.click("#sign-in")
    expect(page.locator("#lineage-search")).to_be_visible()
    page.fill("#lineage-entity", "no-such-endpoint")
    page.click("#lineage-go")
    expect(page.locator("#error-message")).to_contain_text("no-such-endpoint")
    expect(page.locator("#lineage-entity")).to_have_value("no-such-endpoint")
