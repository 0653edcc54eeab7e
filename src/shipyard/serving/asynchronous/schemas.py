"""Request and response types of asynchronous inference (shared by the server, SDK and CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AsyncStatus = Literal["Queued", "InProgress", "Completed", "Failed", "Expired"]
ASYNC_STATUSES: tuple[str, ...] = ("Queued", "InProgress", "Completed", "Failed", "Expired")
ENDED_STATUSES: tuple[str, ...] = ("Completed", "Failed", "Expired")
NotificationTopicKind = Literal["SUCCESS_NOTIFICATION_TOPIC", "ERROR_NOTIFICATION_TOPIC"]

DEFAULT_MAX_CONCURRENT_INVOCATIONS = 4
DEFAULT_REQUEST_TTL_SECONDS = 6 * 3600  # SageMaker's default and maximum
MIN_REQUEST_TTL_SECONDS = 60
DEFAULT_INVOCATION_TIMEOUT_SECONDS = 900
MAX_INVOCATION_TIMEOUT_SECONDS = 3600


class AsyncNotificationConfig(BaseModel):
    """Topics (names, or ``srn:shipyard:topic/<name>``) told of each request that ends."""

    model_config = ConfigDict(extra="forbid")

    success_topic: str | None = Field(default=None, max_length=256)
    error_topic: str | None = Field(default=None, max_length=256)
    include_inference_response_in: list[NotificationTopicKind] = Field(
        default_factory=list, max_length=2
    )
    """Put the answer (or the failure document) in the message of these topics, when it is
    UTF-8 text that fits in a message."""


class AsyncOutputConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    s3_output_path: str = Field(min_length=1, max_length=1024)
    """A ``shipyard://`` prefix: each answer is written to ``<prefix>/<inference_id>.out``."""
    s3_failure_path: str | None = Field(default=None, max_length=1024)
    """Where the failure documents go (``<prefix>/<inference_id>.error.json``); the output
    path when left out."""
    notification_config: AsyncNotificationConfig | None = None


class AsyncClientConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_concurrent_invocations_per_instance: int = Field(
        default=DEFAULT_MAX_CONCURRENT_INVOCATIONS, ge=1, le=1000
    )


class AsyncInferenceConfig(BaseModel):
    """An endpoint config's ``async_inference_config``: the endpoint then takes requests at
    ``POST /api/v1/endpoints/{name}/async-invocations``."""

    model_config = ConfigDict(extra="forbid")

    output_config: AsyncOutputConfig
    client_config: AsyncClientConfig = Field(default_factory=AsyncClientConfig)


class AsyncInvocationOut(BaseModel):
    """What ``POST .../async-invocations`` answers (202): where to look, and when."""

    inference_id: str
    output_location: str
    failure_location: str
    status: AsyncStatus


class AsyncInferenceOut(BaseModel):
    """One async request, from acceptance to its end."""

    inference_id: str
    endpoint_name: str
    status: AsyncStatus
    input_location: str
    output_location: str
    failure_location: str
    content_type: str
    accept: str
    output_content_type: str | None = None
    variant_name: str | None = None
    """The production variant that answered."""
    failure_reason: str | None = None
    last_error: str | None = None
    """Why the last attempt did not end it (it was retried)."""
    attempts: int
    request_ttl_seconds: int
    invocation_timeout_seconds: int
    created_at: datetime
    """When it was accepted."""
    expires_at: datetime
    """A request not started by then ends Expired."""
    started_at: datetime | None = None
    """When its latest attempt started."""
    next_attempt_at: datetime | None = None
    ended_at: datetime | None = None
    owner: str
