"""One HTTP session to a Shipyard server; errors come back as Shipyard's own exceptions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from shipyard.core.errors import ERRORS_BY_CODE, ShipyardError, error_from_body

DEFAULT_URL = "http://127.0.0.1:8080"
ERRORS_BY_STATUS = {
    cls.status_code: cls for cls in ERRORS_BY_CODE.values() if cls.status_code != 500
}


class Session:
    """A connection to a Shipyard server.

    ``url`` and ``token`` default to ``SHIPYARD_URL`` and ``SHIPYARD_TOKEN`` (the API key
    that ``shipyard up`` printed on its first start).
    """

    def __init__(
        self, url: str | None = None, token: str | None = None, timeout: float = 60.0
    ) -> None:
        self.url = (url or os.environ.get("SHIPYARD_URL") or DEFAULT_URL).rstrip("/")
        self.token = token or os.environ.get("SHIPYARD_TOKEN")
        if not self.token:
            raise ShipyardError(
                "no API key: pass token=... or set SHIPYARD_TOKEN to the key `shipyard up` printed"
            )
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=timeout,
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ShipyardError(f"cannot reach the Shipyard server at {self.url}: {exc}") from None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise _error(response.status_code, body)
        return response

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean).json()

    def post(self, path: str, json: Any = None) -> Any:
        response = self.request("POST", path, json=json)
        return response.json() if response.content else None

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def list_all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a paginated collection."""
        items: list[dict[str, Any]] = []
        token = None
        while True:
            page = self.get(path, next_token=token, **params)
            items.extend(page["items"])
            token = page.get("next_token")
            if not token:
                return items

    def upload(self, path: Path, *, dataset_name: str | None = None) -> str:
        """Upload a local file; a table becomes a dataset. Returns its ``shipyard://`` URI."""
        with path.open("rb") as handle:
            if dataset_name is None:
                response = self.request(
                    "POST", "/api/v1/uploads", files={"file": (path.name, handle)}
                )
            else:
                response = self.request(
                    "POST",
                    "/api/v1/datasets",
                    data={"name": dataset_name},
                    files={"file": (path.name, handle)},
                )
        return response.json()["uri"]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _error(status_code: int, body: Any) -> ShipyardError:
    """The server's error as its own class; by status when the body is not Shipyard's."""
    error = error_from_body(status_code, body)
    cls = ERRORS_BY_STATUS.get(status_code)
    if type(error) is ShipyardError and cls is not None:
        typed = cls.__new__(cls)
        ShipyardError.__init__(typed, error.message)
        return typed
    return error
