"""The console over plain HTTP (no browser): its session cookie, CSRF checks, authorization,
error pages and escaping, against the in-process app of the ``api`` fixture."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from console_testing import csrf_of, log_in
from fastapi.testclient import TestClient

from shipyard.console.session import (
    SESSION_COOKIE,
    console_secret,
    csrf_token_for,
    session_value,
)
from shipyard.security.service import create_api_key, ensure_user, revoke_api_key
from shipyard.serving import service as serving_service

PAGES = ("/console/", "/console/training-jobs", "/console/models", "/console/endpoints",
         "/console/logs")  # fmt: skip


@pytest.fixture
def signed_in(api):
    response = log_in(api.client, api.token)
    assert response.status_code == 303, response.text
    return api


def context_of(api):
    return api.client.app.state.context


# ---- the session cookie ---------------------------------------------------------------
def test_login_sets_a_signed_http_only_strict_cookie_without_the_key(api) -> None:
    response = log_in(api.client, api.token)

    assert response.status_code == 303
    assert response.headers["location"] == "/console/"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/console" in flags
    assert "secure" not in flags  # plain http: a Secure cookie would never come back
    _, key_id, secret = api.token.split("_", 2)
    assert key_id in cookie
    assert secret not in cookie and api.token not in cookie
    secret_file = api.settings.home / "console-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert len(secret_file.read_bytes()) == 32


def test_the_secret_is_made_once_and_reused(api, tmp_path: Path) -> None:
    log_in(api.client, api.token)
    first = (api.settings.home / "console-secret").read_bytes()
    api.client.cookies.clear()
    assert log_in(api.client, api.token).status_code == 303
    assert (api.settings.home / "console-secret").read_bytes() == first
    other_home = tmp_path / "other-home"
    assert console_secret(other_home) == (other_home / "console-secret").read_bytes() != first


def test_an_https_request_gets_a_secure_cookie(api) -> None:
    client = TestClient(api.client.app, base_url="https://testserver")
    response = log_in(client, api.token)
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


def test_a_wrong_key_shows_an_error_and_sets_no_session(api) -> None:
    response = log_in(api.client, "sy_0123456789abcdef_not-the-secret")

    assert response.status_code == 401
    assert 'id="login-error"' in response.text
    assert "That API key is not valid." in response.text
    assert not [
        c for c in response.headers.get_list("set-cookie") if c.startswith("shipyard_console=")
    ]


@pytest.mark.parametrize("path", [*PAGES, "/console/training-jobs/some-job"])
def test_pages_without_a_session_redirect_to_login(api, path: str) -> None:
    response = api.client.get(path, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login?next=%2Fconsole%2F")


def test_a_form_posted_without_a_session_goes_to_login_then_home(api) -> None:
    response = api.client.post("/console/endpoints/ep/test-request", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=%2Fconsole%2F"


def test_after_login_the_browser_returns_to_the_page_it_asked_for(api) -> None:
    response = log_in(api.client, api.token, next_url="/console/models")
    assert response.headers["location"] == "/console/models"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/api/v1/x"])
def test_login_never_redirects_off_the_console(api, target: str) -> None:
    assert log_in(api.client, api.token, next_url=target).headers["location"] == "/console/"


def _with_session(api, value: str) -> httpx.Response:
    # the one session cookie: the jar's order of two same-named ones differs between clients
    api.client.cookies.delete(SESSION_COOKIE)
    api.client.cookies.set(SESSION_COOKIE, value, path="/console")
    return api.client.get("/console/", follow_redirects=False)


def test_a_tampered_session_is_refused_and_cleared(signed_in) -> None:
    value = signed_in.client.cookies.get(SESSION_COOKIE)
    claims, _, signature = value.rpartition(".")
    forged = f"{claims}.{signature[::-1]}"

    response = _with_session(signed_in, forged)

    assert response.status_code == 303
    assert f'{SESSION_COOKIE}=""' in response.headers["set-cookie"]


def test_an_expired_session_is_refused(api) -> None:
    secret = console_secret(api.settings.home)
    key_id = api.token.split("_")[1]
    value = session_value(secret, key_id, now=time.time() - 13 * 3600)
    assert _with_session(api, value).status_code == 303


def test_a_session_of_a_revoked_key_is_refused(signed_in) -> None:
    assert signed_in.client.get("/console/").status_code == 200
    with context_of(signed_in).db.session_scope() as session:
        revoke_api_key(session, signed_in.token.split("_")[1])

    response = signed_in.client.get("/console/", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login")


# ---- CSRF -----------------------------------------------------------------------------
def test_login_without_the_form_nonce_is_refused(api) -> None:
    response = api.client.post(
        "/console/login", data={"api_key": api.token, "csrf_token": "x"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert not [
        c for c in response.headers.get_list("set-cookie") if c.startswith("shipyard_console=")
    ]


@pytest.mark.parametrize("token", ["", "not-the-token"])
def test_posts_with_a_bad_csrf_token_are_refused(signed_in, token: str) -> None:
    for path in ("/console/logout", "/console/endpoints/any-endpoint/test-request"):
        response = signed_in.client.post(
            path, data={"csrf_token": token, "body": "{}"}, follow_redirects=False
        )
        assert response.status_code == 403, path
        assert 'id="error-message"' in response.text
    assert signed_in.client.get("/console/").status_code == 200  # still signed in


def test_the_csrf_token_of_another_session_is_refused(signed_in) -> None:
    secret = console_secret(signed_in.settings.home)
    other = session_value(secret, signed_in.token.split("_")[1])
    response = signed_in.client.post(
        "/console/logout", data={"csrf_token": csrf_token_for(secret, other)}
    )
    assert response.status_code == 403


def test_logout_clears_the_session(signed_in) -> None:
    token = csrf_of(signed_in.client.get("/console/"))
    response = signed_in.client.post(
        "/console/logout", data={"csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"
    assert signed_in.client.get("/console/", follow_redirects=False).status_code == 303


# ---- pages, authorization, errors ------------------------------------------------------
@pytest.mark.parametrize("path", PAGES)
def test_empty_pages_render(signed_in, path: str) -> None:
    response = signed_in.client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


def test_user_input_is_escaped_on_error_pages(signed_in) -> None:
    response = signed_in.client.get("/console/training-jobs/<img src=x onerror=alert(1)>")

    assert response.status_code == 400
    assert "&lt;img src=x onerror=alert(1)&gt;" in response.text
    assert "<img" not in response.text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/console/training-jobs/no-such-job", 404),
        ("/console/models/no-such-model", 404),
        ("/console/endpoints/no-such-endpoint", 404),
        ("/console/training-jobs?status=Bogus", 400),
        ("/console/log-events?group=/no/such-group", 404),
        ("/console/log-events?group=/no/g&since=forever", 400),
    ],
)
def test_service_errors_are_error_pages(signed_in, path: str, status: int) -> None:
    response = signed_in.client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="error-message"' in response.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/console/no-such-page", 404),
        ("GET", "/console/models/a/b/c", 404),
        ("GET", "/console/static/no-such-file.css", 404),
        ("PUT", "/console/", 405),
        ("GET", "/console/logout", 405),
    ],
)
def test_unknown_pages_and_wrong_methods_are_error_pages(
    signed_in, method: str, path: str, status: int
) -> None:
    response = signed_in.client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="error-message"' in response.text
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in response.headers["content-security-policy"]


def test_pages_authorize_like_the_api(api) -> None:
    policy = {
        "name": "ModelsOnly",
        "statements": [{"effect": "Allow", "actions": ["serving:ListModels"], "resources": ["*"]}],
    }
    with context_of(api).db.session_scope() as session:
        ensure_user(session, "analyst", [policy])
        key = create_api_key(session, "analyst")
    log_in(api.client, key)

    assert api.client.get("/console/models").status_code == 200
    denied = api.client.get("/console/training-jobs")
    assert denied.status_code == 403
    assert "analyst is not allowed to training:ListTrainingJobs" in denied.text
    dashboard = api.client.get("/console/")
    assert dashboard.status_code == 200
    assert "You are not allowed to list training jobs." in dashboard.text


def test_static_files_come_from_the_installed_packages(api) -> None:
    plotly_js = api.client.get("/console/static/plotly.min.js")
    assert plotly_js.status_code == 200
    assert "max-age=31536000" in plotly_js.headers["cache-control"]
    assert len(plotly_js.content) > 1_000_000
    assert api.client.get("/console/static/console.css").status_code == 200
    assert api.client.get("/console/static/../../server.py").status_code == 404


# ---- a whole journey in-process: train, deploy, test request ---------------------------
@pytest.fixture
def trained(signed_in, tmp_path: Path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=300), "x2": rng.normal(size=300)})
    frame["label"] = (frame["x1"] + 0.5 * frame["x2"] > 0).astype(int)
    frame.to_csv(tmp_path / "train.csv", index=False)
    job = {
        "name": "console-job",
        "algorithm": "xgboost",
        "target": "label",
        "hyperparameters": {"num_round": 10, "max_depth": 2},
        "channels": {"train": str(tmp_path / "train.csv")},
        "tags": {"note": '<script>alert("tag")</script>'},
    }
    assert signed_in.post("/api/v1/training-jobs", json=job).status_code == 201
    assert signed_in.wait_for_job("console-job")["status"] == "Completed"
    for path, body in (
        ("/api/v1/models", {"name": "console-model", "training_job_name": "console-job"}),
        (
            "/api/v1/endpoint-configs",
            {"name": "console-config", "production_variants": [{"model_name": "console-model"}]},
        ),
        ("/api/v1/endpoints", {"name": "console-ep", "endpoint_config_name": "console-config"}),
    ):
        assert signed_in.post(path, json=body).status_code == 201, path
    assert signed_in.wait_for_endpoint("console-ep")["status"] == "InService"
    return signed_in


def test_a_trained_and_deployed_model_in_the_console(trained) -> None:
    """One journey, since training is the slow part: pages, a test request, its errors."""
    client = trained.client
    job_page = client.get("/console/training-jobs/console-job")
    assert job_page.status_code == 200
    for element in ('id="metric-chart"', 'id="final-metrics"', 'id="logs"', 'id="channels"'):
        assert element in job_page.text
    assert "train:auc" in job_page.text
    assert "&lt;script&gt;alert(&#34;tag&#34;)&lt;/script&gt;" in job_page.text
    assert '<script>alert("tag")' not in job_page.text
    assert "console-job" in client.get("/console/training-jobs").text
    assert "console-ep" in client.get("/console/").text
    assert "console-ep" in client.get("/console/models/console-model").text

    page = client.get("/console/endpoints/console-ep")
    assert page.status_code == 200
    assert "&#34;x1&#34;: 0" in page.text  # the example request names the model's features
    url = "/console/endpoints/console-ep/test-request"
    ok = client.post(
        url,
        data={"csrf_token": csrf_of(page), "body": "1.5,0.2\n-2,-1", "content_type": "text/csv"},
    )
    assert ok.status_code == 200
    assert 'id="response"' in ok.text and "predictions" in ok.text

    bad = client.post(url, data={"csrf_token": csrf_of(page), "body": "{not json"})
    assert bad.status_code == 400
    assert "not valid JSON" in bad.text
    assert "{not json</textarea>" in bad.text  # the body comes back to fix

    # An endpoint that is not InService answers 409 on the page, not a 500.
    with context_of(trained).db.session_scope() as session:
        serving_service.set_endpoint_status(session, "console-ep", "Failed", "<b>broken</b>")
    context_of(trained).extras["model_host"].undeploy("console-ep")
    page = client.get("/console/endpoints/console-ep")
    assert "&lt;b&gt;broken&lt;/b&gt;" in page.text
    failed = client.post(url, data={"csrf_token": csrf_of(page), "body": '{"instances": [[1, 2]]}'})
    assert failed.status_code == 409
    assert "is Failed, not InService" in failed.text
