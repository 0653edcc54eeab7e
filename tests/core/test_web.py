"""core/web.py: readable validation messages, and one error shape for every API answer."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

from shipyard.core.web import error_code, validation_body


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_name: str
    initial_weight: float = 1.0


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    production_variants: list[Variant] = []
    tags: dict[str, str] = {}


@pytest.fixture(scope="module")
def client() -> TestClient:
    """A tiny app whose only route takes a ``Config``; it answers with validation_body."""
    app = FastAPI()

    @app.post("/configs")
    def create(config: Config, limit: int = 10) -> dict[str, str]:
        return {"name": config.name}

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: object, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse(validation_body(exc.errors()), status_code=400)

    return TestClient(app)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"name": ', "body: is not valid JSON (Expecting value at character 9)"),
        (b"not json", "body: is not valid JSON (Expecting value at character 0)"),
        (b"[1, 2]", "body: expected a JSON object"),
        (b'"a string"', "body: expected a JSON object"),
        (b"", "body: Field required"),
        (b"{}", "name: Field required"),
        (b'{"name": "c", "colour": "red"}', "colour: Extra inputs are not permitted"),
        (b'{"name": "c", "production_variants": ["m"]}', "production_variants.0: expected a"),
        (
            b'{"name": "c", "production_variants": [{"model_name": "m", "initial_weight": "x"}]}',
            "production_variants.0.initial_weight: Input should be a valid number",
        ),
        (
            b'{"name": "c", "production_variants": [{"model_name": "m"}, {}]}',
            "production_variants.1.model_name: Field required",
        ),
        (b'{"name": "c", "production_variants": {}}', "production_variants: Input should be"),
        (b'{"name": "c", "tags": []}', "tags: expected a JSON object"),
        (b'{"name": "c", "tags": {"body": 1}}', "tags.body: Input should be a valid string"),
    ],
)
def test_validation_messages_name_the_field(client, body: bytes, expected: str) -> None:
    response = client.post("/configs", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "ValidationError"
    assert error["message"].startswith(expected), error["message"]


def test_query_errors_name_the_parameter_and_several_errors_are_joined(client) -> None:
    response = client.post("/configs?limit=many", json={"colour": "red"})

    message = response.json()["error"]["message"]
    assert "limit: Input should be a valid integer" in message
    assert "name: Field required" in message
    assert "colour: Extra inputs are not permitted" in message
    assert message.count("; ") == 2


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "ValidationError"),
        (401, "Unauthenticated"),
        (403, "AccessDenied"),
        (404, "NotFound"),
        (405, "MethodNotAllowed"),
        (413, "RequestEntityTooLarge"),
        (429, "Throttled"),
        (500, "InternalError"),
        (599, "InternalError"),
    ],
)
def test_error_codes_of_http_statuses(status: int, code: str) -> None:
    assert error_code(status) == code


# ---- the error shape of the whole API ---------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "status", "code", "message"),
    [
        ("GET", "/api/v1/no-such-collection", 404, "NotFound", "/api/v1/no-such-collection"),
        ("GET", "/no-such-page", 404, "NotFound", "/no-such-page"),
        ("DELETE", "/api/v1/training-jobs", 405, "MethodNotAllowed", "DELETE is not allowed"),
        ("PUT", "/api/v1/models/some-model", 405, "MethodNotAllowed", "/api/v1/models/some-model"),
    ],
)
def test_unknown_paths_and_wrong_methods_answer_in_the_error_shape(
    api, method: str, path: str, status: int, code: str, message: str
) -> None:
    response = api.client.request(method, path, headers=api.headers)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert message in body["error"]["message"]


def test_a_broken_json_body_names_the_body(api) -> None:
    response = api.client.post(
        "/api/v1/training-jobs",
        content=b'{"name": "x", "algorithm": ',
        headers={**api.headers, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("body: is not valid JSON")


def test_an_unexpected_error_is_a_json_500_without_details() -> None:
    from shipyard.core.web import internal_error_handler

    app = FastAPI()
    app.add_exception_handler(Exception, internal_error_handler)

    @app.get("/broken")
    def broken() -> None:
        raise RuntimeError("secret detail")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/broken")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "InternalError"
    assert "secret" not in response.text
