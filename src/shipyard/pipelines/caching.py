"""Step caching: a step whose definition and inputs are unchanged reuses an earlier run.

The key is a hash of the step's type, its resolved arguments and its property files, with
each input location replaced by the hash of its content: the same bytes under a new name
(an upstream step that ran again and wrote the same data) still hit, and changed bytes at
the same location miss.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.core.artifacts import SCHEME, BaseArtifactStore, key_from_uri
from shipyard.core.clock import utcnow
from shipyard.core.digests import prefix_sha256
from shipyard.core.errors import NotFound, ShipyardError
from shipyard.lineage import service as lineage
from shipyard.pipelines.models import PipelineExecution, PipelineStepExecution
from shipyard.pipelines.schemas import CacheConfig, StepDefinition
from shipyard.pipelines.validation import parse_duration


def cache_key(
    session: Session, store: BaseArtifactStore, step: StepDefinition, arguments: dict[str, Any]
) -> str:
    document = {
        "type": step.type,
        "arguments": _with_content_hashes(session, store, step.type, arguments),
        "property_files": [p.model_dump() for p in step.property_files],
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def find(
    session: Session, pipeline_name: str, key: str, config: CacheConfig
) -> PipelineStepExecution | None:
    """The newest succeeded run of a step with this key in this pipeline, within the expiry."""
    query = (
        select(PipelineStepExecution)
        .join(PipelineExecution, PipelineExecution.id == PipelineStepExecution.execution_id)
        .where(
            PipelineExecution.pipeline_name == pipeline_name,
            PipelineStepExecution.cache_key == key,
            PipelineStepExecution.status == "Succeeded",
        )
        .order_by(PipelineStepExecution.ended_at.desc())
        .limit(1)
    )
    if config.expire_after is not None:
        oldest = utcnow() - parse_duration(config.expire_after, "cache_config.expire_after")
        query = query.where(PipelineStepExecution.ended_at >= oldest)
    return session.scalar(query)


def _with_content_hashes(
    session: Session, store: BaseArtifactStore, step_type: str, arguments: dict[str, Any]
) -> dict[str, Any]:
    keyed = json.loads(json.dumps(arguments, default=str))
    if step_type == "Training":
        for channel, value in (keyed.get("channels") or {}).items():
            if isinstance(value, dict):
                value["uri"] = _content(session, store, value.get("uri"))
            else:
                keyed["channels"][channel] = _content(session, store, value)
    elif step_type == "Processing":
        for source in keyed.get("processing_inputs") or []:
            if isinstance(source, dict):
                source["source"] = _content(session, store, source.get("source"))
    elif step_type == "Transform":
        data = keyed.get("transform_input") or {}
        if isinstance(data, dict):
            data["data_source"] = _content(session, store, data.get("data_source"))
    return keyed


def _content(session: Session, store: BaseArtifactStore, location: Any) -> Any:
    """``sha256:<hex>`` of what ``location`` holds (a file or a prefix); the location itself
    when it cannot be read (the step's own checks will say why)."""
    if not isinstance(location, str) or not location:
        return location
    if location.startswith("/"):
        location = Path(location).as_uri()
    try:
        if location.startswith(SCHEME):
            key = key_from_uri(location)
            if not store.exists(key) and store.list(key):
                return f"sha256:{prefix_sha256(store, key)}"
        if location.startswith((SCHEME, "file://")):
            return (
                f"sha256:{lineage.dataset_for_uri(session, store, location).properties['sha256']}"
            )
    except (ShipyardError, OSError, NotFound):
        return location
    return location
