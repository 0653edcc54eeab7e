"""A package's evaluation report: a JSON document given inline or stored at a URI."""

from __future__ import annotations

import json
from typing import Any

from shipyard.core.artifacts import BaseArtifactStore, key_from_uri
from shipyard.core.errors import NotFound, ValidationError

FIELD = "evaluation_report"
MAX_REPORT_BYTES = 1024 * 1024


def read_evaluation_report(
    store: BaseArtifactStore, value: dict[str, Any] | str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """``(document, uri)``: the report to store, and the ``shipyard://`` URI it was read
    from (None when given inline). A ValidationError naming ``evaluation_report`` for a
    report that is not a JSON object of at most 1 MiB."""
    if value is None:
        return None, None
    if isinstance(value, dict):
        _check_size(value, "the report")
        return value, None
    try:
        key = key_from_uri(value)
    except ValidationError:
        raise ValidationError(
            "expected a JSON object or the shipyard:// URI of one", FIELD
        ) from None
    try:
        if store.size(key) > MAX_REPORT_BYTES:
            raise ValidationError(f"{value} is larger than {MAX_REPORT_BYTES} bytes", FIELD)
        document = json.loads(store.get_bytes(key))
    except NotFound:
        raise ValidationError(f"no report at {value}", FIELD) from None
    except (UnicodeDecodeError, ValueError):
        raise ValidationError(f"{value} is not a JSON document", FIELD) from None
    if not isinstance(document, dict):
        raise ValidationError(f"{value} holds JSON, but not an object", FIELD)
    _check_size(document, value)
    return document, value


def _check_size(document: dict[str, Any], what: str) -> None:
    """Standard JSON (no NaN or Infinity, which PostgreSQL refuses) of at most 1 MiB."""
    try:
        size = len(json.dumps(document, allow_nan=False))
    except (TypeError, ValueError):
        raise ValidationError(f"{what} holds NaN or Infinity, which JSON has not", FIELD) from None
    if size > MAX_REPORT_BYTES:
        raise ValidationError(f"{what} is larger than {MAX_REPORT_BYTES} bytes", FIELD)
