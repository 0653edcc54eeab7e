"""The console in headless Chromium against a real `shipyard up`: sign in, read the
quick-start training job (chart and log), send its endpoint a request; a tuning job's
trials and charts; and the refusals (no session, a wrong key, a forged CSRF token)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")
expect = sync_api.expect


@dataclass
class QuickStart:
    server: Any  # tests/conftest.py's LiveServer
    training_job: str
    endpoint: str


@pytest.fixture(scope="module")
def quickstart(
    start_live_server: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[QuickStart]:
    root = tmp_path_factory.mktemp("console-live")
    server = start_live_server(root / "home", root, quickstart=True)
    try:
        job, endpoint = server.wait_for_quickstart()
        yield QuickStart(server, job["name"], endpoint["name"])
    finally:
        server.stop()


def sign_in(page, key: str, *, succeeds: bool = True) -> None:
    page.fill("#api-key", key)
    page.click("#sign-in")
    if succeeds:  # wait for the page after login, so the next step acts on it
        expect(page.locator("#user")).to_be_visible()


# The quick-start trains for a while, so one test walks its whole journey; the others use
# the plain `live_server` and never wait for it.
def test_the_quick_start_in_the_console(open_page, quickstart: QuickStart) -> None:
    page = open_page(quickstart.server.url)
    job_url = f"/console/training-jobs/{quickstart.training_job}"
    page.goto(job_url)
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    sign_in(page, quickstart.server.token)

    expect(page).to_have_url(re.compile(f"{job_url}$"))
    expect(page.locator("#status")).to_have_text("Completed")
    expect(page.locator("#metric-chart .main-svg").first).to_be_visible()
    expect(page.locator("#metric-chart .legendtext", has_text="validation:auc")).to_have_count(1)
    expect(page.locator("#logs")).to_contain_text("Training xgboost")
    expect(page.locator("#final-metrics")).to_contain_text("validation:auc")
    expect(page.locator("#hyperparameters")).to_contain_text("scale_pos_weight")

    page.click("nav >> text=Endpoints")
    page.click(f"text={quickstart.endpoint}")
    expect(page.locator("#status")).to_have_text("InService")
    body = page.locator("#request-body")
    expect(body).to_contain_text('"merchant_risk": 0')
    page.click("#send-request")
    expect(page.locator("#response")).to_contain_text('"predictions"')
    expect(page.locator("#response")).to_contain_text('"probabilities"')

    page.select_option("#content-type", "text/csv")
    expect(body).to_have_value("0,0,0,0,0,0,0,0,0,0")
    body.fill("120.5,3,0.9,250,12,9,1,0.1,0.5,42\n5,14,0.05,1,2000,1,0,0,0.2,7")
    page.click("#send-request")
    expect(page.locator("#response")).to_contain_text('"predictions"')
    expect(page.locator("#content-type")).to_have_value("text/csv")


def test_a_page_without_a_session_redirects_to_login(open_page, live_server) -> None:
    page = open_page(live_server.url)
    page.goto("/console/endpoints")
    expect(page).to_have_url(re.compile(r"/console/login\?next=%2Fconsole%2Fendpoints$"))
    expect(page.locator("#login-form")).to_be_visible()


def test_a_wrong_key_shows_a_login_error(open_page, live_server) -> None:
    page = open_page(live_server.url)
    page.goto("/console/")
    sign_in(page, "sy_0000000000000000_wrong", succeeds=False)

    expect(page.locator("#login-error")).to_have_text("That API key is not valid.")
    expect(page).to_have_url(re.compile(r"/console/login$"))


def test_a_form_with_a_bad_csrf_token_is_refused(open_page, live_server) -> None:
    page = open_page(live_server.url)
    page.goto("/console/")
    sign_in(page, live_server.token)
    page.eval_on_selector("form.whoami input[name=csrf_token]", "input => input.value = 'forged'")

    with page.expect_response(re.compile("/console/logout$")) as answer:
        page.click("#logout")

    assert answer.value.status == 403
    expect(page.locator("#error-message")).to_contain_text("security token")
    page.goto("/console/")
    expect(page.locator("#user")).to_have_text("admin")  # the refused form changed nothing


def test_a_tuning_job_page_shows_its_trials_and_charts(open_page, live_server) -> None:
    directory = live_server.home.parent / "console-tuning"
    directory.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    frame["label"] = (frame["a"] + frame["b"] * frame["c"] > 0).astype(int)
    frame.to_csv(directory / "train.csv", index=False)
    request = {
        "name": "console-grid",
        "hyperparameter_tuning_job_config": {
            "strategy": "Grid",
            "objective": {"metric_name": "train:auc", "type": "Maximize"},
            "parameter_ranges": {
                "integer_parameter_ranges": [{"name": "max_depth", "min_value": 1, "max_value": 2}],
                "categorical_parameter_ranges": [{"name": "eta", "values": [0.1, 0.3]}],
            },
            "resource_limits": {"max_parallel_training_jobs": 2},
        },
        "training_job_definition": {
            "algorithm": "xgboost",
            "target": "label",
            "channels": {"train": str(directory / "train.csv")},
            "static_hyperparameters": {"num_round": 5},
        },
    }
    with live_server.http() as http:
        created = http.post("/api/v1/tuning-jobs", json=request)
        assert created.status_code == 201, created.text
    live_server.wait_for_status("/api/v1/tuning-jobs/console-grid", ("Completed",))

    page = open_page(live_server.url)
    page.goto("/console/tuning-jobs")
    sign_in(page, live_server.token)
    page.click("text=console-grid")

    expect(page.locator("#status")).to_have_text("Completed")
    expect(page.locator("#trials tbody tr")).to_have_count(4)
    expect(page.locator("#trials tr.best")).to_have_count(1)
    expect(page.locator("#best-training-job")).to_contain_text("console-grid-")
    expect(page.locator("#objective-chart .main-svg").first).to_be_visible()
    expect(page.locator("#objective-chart .legendtext", has_text="best so far")).to_have_count(1)
    coordinates = page.locator("#coordinates-chart")
    expect(coordinates.locator(".main-svg").first).to_be_visible()
    expect(coordinates.locator(".xtick", has_text="max_depth")).to_have_count(1)
    expect(coordinates.locator(".xtick", has_text="train:auc")).to_have_count(1)
    expect(coordinates.locator(".scatterlayer .trace")).not_to_have_count(0)
    page.click("#trials tbody tr >> nth=0 >> a")
    expect(page.locator("#job-name")).to_contain_text("console-grid-")

    hyperband = {**request, "name": "console-hyperband"}
    hyperband["hyperparameter_tuning_job_config"] = {
        **request["hyperparameter_tuning_job_config"],
        "strategy": "Hyperband",
        "strategy_config": {"hyperband_strategy_config": {"min_resource": 1, "max_resource": 9}},
        "resource_limits": {"max_number_of_training_jobs": 6, "max_parallel_training_jobs": 2},
    }
    with live_server.http() as http:
        created = http.post("/api/v1/tuning-jobs", json=hyperband)
        assert created.status_code == 201, created.text
    live_server.wait_for_status("/api/v1/tuning-jobs/console-hyperband", ("Completed",))
    page.goto("/console/tuning-jobs/console-hyperband")
    expect(page.locator("#trials thead")).to_contain_text("Rung")
    expect(page.locator("#trials thead")).to_contain_text("num_round")
    expect(page.locator("#trials tbody tr")).to_have_count(6)
