"""serving/fastpath.py: invocations answered in front of FastAPI's router answer, over real
HTTP, byte for byte what FastAPI's route answers.

Two uvicorn servers share one context (one model host): the app as ``create_app`` builds
it, with the fast path, and the same app without it, where FastAPI's route answers. Every
request goes to both; status, headers (but the date) and body must be the same.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from serving_testing import WAIT_SECONDS, breast_cancer, deploy, trained_model
from starlette._utils import get_route_path

from shipyard.core.config import Settings
from shipyard.security.service import create_api_key, ensure_user
from shipyard.server import create_app
from shipyard.serving import fastpath
from shipyard.serving.fastpath import InvocationFastPath

LIMIT = 4096
"""max_payload_bytes of these servers: a breast-cancer row is far under it."""


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        data_roots=[tmp_path],
        heartbeat_seconds=0.5,
        load_quickstart=False,
        max_payload_bytes=LIMIT,
    )


def serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def without_fast_path(api: Any) -> Any:
    """The api's app as it was before the fast path: same context, FastAPI's route answers
    (no worker, no scheduler of its own: the api's serve both)."""
    context = api.client.app.state.context
    quiet = api.settings.model_copy(update={"run_worker": False, "run_scheduler": False})
    app = create_app(quiet, context)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not InvocationFastPath]
    return app


@dataclass
class Pair:
    """The same request to the fast path and to FastAPI's route."""

    fast: str
    routed: str
    token: str
    answered_fast: list[str]
    """The variant of every 200 the fast path itself sent."""

    def both(self, label: str, path: str, **request: Any) -> httpx.Response:
        """Send the request to both; assert the answers are the same; the fast one."""
        fast, routed = (self._send(base, path, request) for base in (self.fast, self.routed))
        assert fast.status_code == routed.status_code, (label, fast.text, routed.text)
        assert headers_of(fast, self.fast) == headers_of(routed, self.routed), label
        assert fast.content == routed.content, label
        return fast

    def _send(self, base: str, path: str, request: dict[str, Any]) -> httpx.Response:
        request = dict(request)
        content = request.pop("content", None)
        if callable(content):  # a generator factory: a chunked body, a new one per server
            content = content()
        method = request.pop("method", "POST")
        with httpx.Client(base_url=base, timeout=60, follow_redirects=False) as client:
            return client.request(method, path, content=content, **request)

    def auth(self, token: str | None = None, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}", **headers}


def headers_of(response: httpx.Response, base: str) -> list[tuple[str, str]]:
    """Its headers but the date, with the server's own URL (in a redirect) left out."""
    return [(k, v.replace(base, "")) for k, v in response.headers.multi_items() if k != "date"]


@pytest.fixture
def pair(api, monkeypatch) -> Iterator[Pair]:
    answered: list[str] = []
    real = fastpath.send_answer

    async def counted(send: Any, answer: Any) -> None:
        answered.append(answer.variant)
        await real(send, answer)

    monkeypatch.setattr(fastpath, "send_answer", counted)
    servers = [serve(api.client.app), serve(without_fast_path(api))]
    yield Pair(servers[0][2], servers[1][2], api.token, answered)
    api.client.app.state.context.extras["model_host"].close_connections()  # on their loops
    for server, thread, _ in servers:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def invocations(api, monkeypatch) -> list[tuple[str, bytes]]:
    """Every (endpoint, body) the model host is asked to answer, through either server."""
    host = api.client.app.state.context.extras["model_host"]
    real = host.invoke
    seen: list[tuple[str, bytes]] = []

    async def recorded(name: str, body: bytes, *args: Any) -> Any:
        seen.append((name, body))
        return await real(name, body, *args)

    monkeypatch.setattr(host, "invoke", recorded)
    return seen


def keys(api: Any, endpoint: str) -> dict[str, str]:
    """A key that may do nothing, and one allowed everything but invoking ``endpoint``."""
    deny = {
        "name": "NoInvoking",
        "statements": [
            {"effect": "Allow", "actions": ["*"], "resources": ["*"]},
            {
                "effect": "Deny",
                "actions": ["serving:InvokeEndpoint"],
                "resources": [f"srn:shipyard:endpoint/{endpoint}"],
            },
        ],
    }
    with api.client.app.state.context.db.session_scope() as session:
        ensure_user(session, "nobody", [])
        ensure_user(session, "no-invoking", [deny])
        return {
            "powerless": create_api_key(session, "nobody"),
            "denied": create_api_key(session, "no-invoking"),
        }


def chunks(*parts: bytes) -> Callable[[], Iterator[bytes]]:
    return lambda: iter(parts)


JSON = {"Content-Type": "application/json"}


def test_what_is_refused_before_the_model_is_refused_alike(api, pair, invocations) -> None:
    path = "/api/v1/endpoints/not-there/invocations"
    body = b'{"instances": [[1.0, 2.0]]}'
    key = keys(api, "not-there")
    pair.both("no key", path, content=body, headers=JSON)
    pair.both("a Basic key", path, content=body, headers={"Authorization": f"Basic {api.token}"})
    pair.both("an unknown key", path, content=body, headers=pair.auth("sy_0123_" + "x" * 43))
    refused = pair.both("no policy", path, content=body, headers=pair.auth(key["powerless"]))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "AccessDenied"
    denied = pair.both("explicit deny", path, content=body, headers=pair.auth(key["denied"]))
    assert denied.status_code == 403
    unknown = pair.both("unknown endpoint", path, content=body, headers=pair.auth(**JSON))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "NotFound"
    declared = pair.both("over the limit", path, content=b"[" * (LIMIT + 1), headers=pair.auth())
    assert declared.status_code == 413 and str(LIMIT + 1) in declared.text
    streamed = pair.both(
        "streamed over the limit",
        path,
        content=chunks(b"[" * 3000, b"[" * 3000, b"[" * 3000),
        headers=pair.auth(**JSON),
    )
    assert streamed.status_code == 413 and "over the limit" in streamed.text
    assert invocations == [("not-there", body), ("not-there", body)]  # the 404s only
    # what the fast path does not take is FastAPI's, as before
    pair.both("GET", path, method="GET", headers=pair.auth())
    pair.both("trailing slash", path + "/", content=body, headers=pair.auth())
    pair.both("no name", "/api/v1/endpoints//invocations", content=body, headers=pair.auth())
    pair.both("a name of two segments", "/api/v1/endpoints/a/b/invocations", headers=pair.auth())
    assert pair.answered_fast == []


def test_answers_and_model_errors_are_the_routes(api, pair, tmp_path) -> None:
    train, validation = breast_cancer(tmp_path / "data")
    model = trained_model(api, train, "xgboost", {"num_round": 5, "max_depth": 2})
    endpoint = deploy(
        api,
        [
            {"variant_name": "a", "model_name": model, "initial_weight": 1},
            {"variant_name": "b", "model_name": model, "initial_weight": 0},
        ],
    )
    path = f"/api/v1/endpoints/{endpoint}/invocations"
    rows = validation.drop(columns="target").head(3)
    records = rows.to_json(orient="records").encode()
    csv = rows.to_csv(header=False, index=False).encode()
    answered = pair.both("records", path, content=records, headers=pair.auth(**JSON))
    assert answered.status_code == 200 and answered.headers["x-shipyard-variant"] == "a"
    assert len(answered.json()["predictions"]) == 3
    as_csv = pair.both(
        "CSV in, CSV out",
        path,
        content=csv,
        headers=pair.auth(**{"Content-Type": "text/csv", "Accept": "text/csv"}),
    )
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    pair.both("no content type", path, content=records, headers=pair.auth())
    pair.both("chunked", path, content=chunks(records[:50], records[50:]), headers=pair.auth())
    targeted = pair.both(
        "target variant",
        path,
        content=records,
        headers=pair.auth(**JSON, **{"X-Shipyard-Target-Variant": "b"}),
    )
    assert targeted.headers["x-shipyard-variant"] == "b"
    for label, content, headers, status in [
        ("no such variant", records, {**JSON, "X-Shipyard-Target-Variant": "c"}, 400),
        ("not JSON", b'{"instances": [', JSON, 400),
        ("empty", b"", JSON, 400),
        ("wrong features", b'{"instances": [[1, 2]]}', JSON, 400),
        ("unsupported type", records, {"Content-Type": "application/xml"}, 400),
        ("any other accept: JSON", csv, {"Content-Type": "text/csv", "Accept": "image/png"}, 200),
    ]:
        answer = pair.both(label, path, content=content, headers=pair.auth(**headers))
        assert answer.status_code == status, (label, answer.text)
    assert pair.answered_fast == ["a", "a", "a", "a", "b", "a"]  # FastAPI's route sent none


PATHS = [
    "/api/v1/endpoints/fraud/invocations",
    "/api/v1/endpoints/fraud-2/invocations",
    "/api/v1/endpoints/a b/invocations",
    "/api/v1/endpoints/fraud/invocations/",
    "/api/v1/endpoints//invocations",
    "/api/v1/endpoints/invocations",
    "/api/v1/endpoints/a/b/invocations",
    "/api/v1/endpoints/fraud/async-invocations",
    "/api/v1/endpoints/fraud",
    "/api/v1/endpoints/fraud/invocationsx",
    "/api/v2/endpoints/fraud/invocations",
    "/console/endpoints/fraud/invocations",
]


def test_it_takes_exactly_the_requests_fastapi_gives_the_route(api, monkeypatch) -> None:
    """A key without policies: FastAPI's route answers that it may not
    serving:InvokeEndpoint on the endpoint; any other route, or none, answers otherwise."""
    taken: list[str] = []
    real = fastpath.invoke

    async def spied(context: Any, scope: Any, receive: Any, name: str) -> Any:
        taken.append(name)
        return await real(context, scope, receive, name)

    monkeypatch.setattr(fastpath, "invoke", spied)
    headers = {"Authorization": f"Bearer {keys(api, 'fraud')['powerless']}"}
    routed = TestClient(without_fast_path(api))
    reached = []
    for path in PATHS:
        for method in ("POST", "GET", "PUT"):
            taken.clear()
            request = {"headers": headers, "content": b"{}", "follow_redirects": False}
            fast = api.client.request(method, path, **request)
            answer = routed.request(method, path, **request)
            label = (method, path)
            assert (fast.status_code, fast.content) == (answer.status_code, answer.content), label
            if "serving:InvokeEndpoint on " in answer.text:
                assert len(taken) == 1, (label, answer.text)
                assert answer.json()["error"]["message"].endswith(f"endpoint/{taken[0]}")
                reached.extend(taken)
            else:
                assert taken == [], label
    assert reached == ["fraud", "fraud-2", "a b"]


def test_the_path_it_matches_is_the_routers() -> None:
    for path, root_path in [
        ("/api/v1/endpoints/e/invocations", ""),
        ("/root/api/v1/endpoints/e/invocations", "/root"),
        ("/api/v1/endpoints/e/invocations", "/root"),
        ("/root", "/root"),
        ("/rooted/api/v1/endpoints/e/invocations", "/root"),
    ]:
        scope = {"type": "http", "path": path, "root_path": root_path}
        assert fastpath.route_path(scope) == get_route_path(scope), (path, root_path)
