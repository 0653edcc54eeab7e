"""Every route in the OpenAPI document authenticates, and authorizes, before it acts; the
key is checked before anything else, its body included."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from shipyard.security.service import create_api_key, ensure_user, revoke_api_key

METHODS = ("get", "post", "put", "patch", "delete")
PARAMETER = re.compile(r"\{[^}/]+\}")
# valid enough for the body to parse, so that authorization is what answers
MINIMAL_BODIES: dict[str, dict[str, Any]] = {
    "/api/v1/training-jobs": {
        "json": {"name": "dummy", "algorithm": "xgboost", "channels": {"train": "/x.csv"}}
    },
    "/api/v1/models": {"json": {"name": "dummy", "training_job_name": "dummy"}},
    "/api/v1/endpoints/{name}/variants/{variant}/scaling-policy": {
        "json": {"target_value": 100, "max_capacity": 2}
    },
    "/api/v1/endpoint-configs": {
        "json": {"name": "dummy", "production_variants": [{"model_name": "dummy"}]}
    },
    "/api/v1/endpoints": {"json": {"name": "dummy", "endpoint_config_name": "dummy"}},
    "/api/v1/endpoints/{name}": {"json": {"endpoint_config_name": "dummy"}},
    "/api/v1/datasets": {"data": {"name": "dummy"}, "files": {"file": ("d.csv", b"a,b\n1,2\n")}},
    "/api/v1/uploads": {"files": {"file": ("train.py", b"print(1)\n")}},
    "/api/v1/endpoints/{name}/invocations": {"json": {"instances": [[1.0, 2.0]]}},
    "/api/v1/endpoints/{name}/async-invocations": {"json": {"instances": [[1.0, 2.0]]}},
    "/api/v1/pipelines/{name}": {
        "json": {"definition": {"steps": [{"name": "fail", "type": "Fail"}]}}
    },
    "/api/v1/pipelines/{name}/schedules": {"json": {"name": "nightly", "cron": "0 2 * * *"}},
    "/api/v1/pipelines/{name}/triggers": {"json": {"name": "landing", "source": "/x"}},
    "/api/v1/log-groups": {"json": {"name": "/team/etl"}},
    "/api/v1/log-groups/{name}/events": {
        "json": {"log_stream_name": "s", "log_events": [{"message": "x"}]}
    },
    "/api/v1/log-groups/{name}/retention-policy": {"json": {"retention_in_days": 7}},
}


def operations(api: Any) -> list[tuple[str, str]]:
    document = api.client.get("/api/v1/openapi.json").json()
    return sorted(
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    )


def send(api: Any, method: str, path: str, headers: dict[str, str]) -> Any:
    url = PARAMETER.sub("dummy-name", path)
    body = MINIMAL_BODIES.get(path, {"json": {}}) if method in ("POST", "PUT", "PATCH") else {}
    return api.client.request(method, url, headers=headers, **body)


def assert_unauthenticated(response: Any, label: str) -> None:
    assert response.status_code == 401, (label, response.status_code, response.text)
    body = response.json()
    assert body["error"]["code"] == "Unauthenticated", (label, body)
    assert body["error"]["message"], label
    assert response.headers.get("www-authenticate") == "Bearer", label


@pytest.fixture
def keys(api: Any) -> Iterator[dict[str, str]]:
    """Tokens that must not get in (and one that gets in but may do nothing)."""
    admin_key_id = api.token.split("_")[1]
    context = api.client.app.state.context
    with context.db.session_scope() as session:
        revoked = create_api_key(session, "admin", "revoked before first use")
        revoke_api_key(session, revoked.split("_")[1])
        ensure_user(session, "nobody", [])
        powerless = create_api_key(session, "nobody", "no policies")
    yield {
        "wrong secret": f"sy_{admin_key_id}_{'x' * 43}",
        "unknown key id": "sy_0123456789abcdef_" + "y" * 43,
        "revoked key": revoked,
        "malformed": "not-a-shipyard-key",
        "powerless": powerless,
    }


def test_the_document_lists_every_room_and_the_invocation_route(api):
    found = operations(api)
    assert ("POST", "/api/v1/endpoints/{name}/invocations") in found
    for collection in ("training-jobs", "models", "endpoint-configs", "endpoints", "datasets"):
        assert ("GET", f"/api/v1/{collection}") in found
        assert ("POST", f"/api/v1/{collection}") in found
    assert len(found) >= 20


def test_every_route_refuses_a_missing_or_bad_key(api, keys):
    for method, path in operations(api):
        assert_unauthenticated(send(api, method, path, {}), f"{method} {path} without a key")
        unreadable = api.client.request(
            method,
            PARAMETER.sub("dummy-name", path),
            content=b'{"name": ',
            headers={"Content-Type": "application/json"},
        )
        assert_unauthenticated(unreadable, f"{method} {path} without a key, with a broken body")
        for label in ("wrong secret", "unknown key id", "revoked key", "malformed"):
            headers = {"Authorization": f"Bearer {keys[label]}"}
            assert_unauthenticated(send(api, method, path, headers), f"{method} {path}: {label}")
        basic = {"Authorization": f"Basic {api.token}"}
        assert_unauthenticated(send(api, method, path, basic), f"{method} {path}: Basic scheme")


def test_every_route_authorizes_a_key_without_policies(api, keys):
    headers = {"Authorization": f"Bearer {keys['powerless']}"}
    for method, path in operations(api):
        response = send(api, method, path, headers)
        if method in ("POST", "PUT", "PATCH") and path not in MINIMAL_BODIES:
            allowed = (400, 403)  # a route added since: its body may be refused first
        else:
            allowed = (403,)
        assert response.status_code in allowed, (method, path, response.status_code, response.text)
        if response.status_code == 403:
            assert response.json()["error"]["code"] == "AccessDenied", (method, path)
            assert "nobody" in response.json()["error"]["message"]


def test_the_admin_key_gets_in(api):
    for method, path in operations(api):
        if method != "GET" or "{" in path:
            continue
        response = api.client.get(path, headers=api.headers)
        assert response.status_code == 200, (path, response.text)


def test_a_broken_body_without_a_key_is_a_401_not_a_400(api):
    response = api.client.post(
        "/api/v1/training-jobs", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_unauthenticated(response, "a broken body without a key")

    with_key = api.client.post(
        "/api/v1/training-jobs",
        content=b"{not json",
        headers={**api.headers, "Content-Type": "application/json"},
    )
    assert with_key.status_code == 400
    assert with_key.json()["error"]["code"] == "ValidationError"


@pytest.mark.parametrize("path", ["/api/v1/no-such-collection", "/api/v1/models/x/no-such-verb"])
def test_an_unknown_api_path_asks_for_a_key_first(api, path):
    assert_unauthenticated(api.client.get(path), path)
    assert api.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/api/v1/docs"])
def test_the_api_description_needs_no_key(api, path):
    assert api.client.get(path).status_code == 200


def test_the_door_authenticates_once_and_the_route_reuses_its_principal(api, monkeypatch):
    authenticator = api.client.app.state.context.authenticator
    authenticator.forget()
    lookups: list[str | None] = []
    authenticate = authenticator.authenticate

    def counting(token: str | None) -> Any:
        lookups.append(token)
        return authenticate(token)

    monkeypatch.setattr(authenticator, "authenticate", counting)
    assert api.get("/api/v1/models").status_code == 200
    assert lookups == [api.token]  # by the door; the route took its principal
    assert api.get("/api/v1/models").status_code == 200
    assert lookups == [api.token]  # cached: no lookup at all
