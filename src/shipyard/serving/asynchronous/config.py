"""An endpoint config's ``async_inference_config``: checked when the config is created, and
read back from its row. (The serving service calls :func:`check_async_config`.)"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from shipyard.core.artifacts import SCHEME, key_from_uri
from shipyard.core.errors import NotFound, ValidationError
from shipyard.core.names import srn, validate_name
from shipyard.monitoring.topics import service as topics
from shipyard.serving.asynchronous.schemas import AsyncInferenceConfig
from shipyard.serving.models import EndpointConfig

FIELD = "async_inference_config"
TOPIC_SRN_PREFIX = srn(topics.TOPIC_KIND, "")
INPUT_PREFIX = "async-inference-inputs"
"""Where a body sent inline is stored until it is answered."""


def stored_async_config(
    session: Session, config: AsyncInferenceConfig | None
) -> dict[str, Any] | None:
    """What an endpoint config's row holds: :func:`check_async_config`'s answer, as JSON."""
    checked = check_async_config(session, config)
    return None if checked is None else checked.model_dump()


def check_async_config(
    session: Session, config: AsyncInferenceConfig | None
) -> AsyncInferenceConfig | None:
    """The config as stored: paths as ``shipyard://`` prefixes without a trailing ``/``, topics
    as names; a ValidationError names the field (``async_inference_config.output_config.
    notification_config.success_topic``) of a bad path or a topic that does not exist."""
    if config is None:
        return None
    output = config.output_config
    at = f"{FIELD}.output_config"
    checked = output.model_copy(
        update={
            "s3_output_path": prefix_uri(output.s3_output_path, f"{at}.s3_output_path"),
            "s3_failure_path": (
                prefix_uri(output.s3_failure_path, f"{at}.s3_failure_path")
                if output.s3_failure_path
                else None
            ),
        }
    )
    notification = output.notification_config
    if notification is not None:
        where = f"{at}.notification_config"
        checked.notification_config = notification.model_copy(
            update={
                "success_topic": _topic(
                    session, notification.success_topic, f"{where}.success_topic"
                ),
                "error_topic": _topic(session, notification.error_topic, f"{where}.error_topic"),
                "include_inference_response_in": sorted(
                    set(notification.include_inference_response_in)
                ),
            }
        )
    return config.model_copy(update={"output_config": checked})


def prefix_uri(uri: str, field: str) -> str:
    """``shipyard://results/fraud/`` → ``shipyard://results/fraud``, checked key by key."""
    return SCHEME + key_from_uri(uri.rstrip("/"), field)


def _topic(session: Session, value: str | None, field: str) -> str | None:
    if value is None:
        return None
    name = validate_name(value.removeprefix(TOPIC_SRN_PREFIX), field)
    try:
        topics.describe_topic(session, name)
    except NotFound:
        raise ValidationError(f"topic '{name}' not found", field) from None
    return name


def async_config_of(row: EndpointConfig) -> AsyncInferenceConfig | None:
    if not row.async_inference_config:
        return None
    return AsyncInferenceConfig.model_validate(row.async_inference_config)


def output_location(config: AsyncInferenceConfig, inference_id: str) -> str:
    return f"{config.output_config.s3_output_path}/{inference_id}.out"


def failure_location(config: AsyncInferenceConfig, inference_id: str) -> str:
    """Failures carry a suffix no answer has (``.error.json``, not ``.out``): an output path
    and a failure path may be one prefix."""
    output = config.output_config
    return f"{output.s3_failure_path or output.s3_output_path}/{inference_id}.error.json"
