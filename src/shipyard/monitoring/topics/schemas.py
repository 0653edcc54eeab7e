"""Request and response types of topics and queues (shared by the server, SDK and CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Protocol = Literal["webhook", "slack", "email", "queue"]
PROTOCOLS: tuple[str, ...] = ("webhook", "slack", "email", "queue")
DeliveryStatus = Literal["Pending", "Delivered", "Failed"]
DELIVERY_STATUSES: tuple[str, ...] = ("Pending", "Delivered", "Failed")
ShortText = Annotated[str, Field(max_length=256)]
MAX_SUBJECT_LENGTH = 100
MAX_MESSAGE_BYTES = 256 * 1024  # SNS's limit on one message
MAX_RECEIVE = 10
MAX_VISIBILITY_TIMEOUT_SECONDS = 12 * 3600


class TopicIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    display_name: str = Field(default="", max_length=100)
    tags: dict[ShortText, ShortText] = Field(default_factory=dict, max_length=50)


class TopicOut(BaseModel):
    name: str
    srn: str
    display_name: str
    tags: dict[str, str]
    subscription_count: int
    owner: str
    created_at: datetime


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    protocol: Protocol
    endpoint: str = Field(min_length=1, max_length=2048)


class SubscriptionOut(BaseModel):
    id: str
    topic_name: str
    protocol: Protocol
    endpoint: str
    owner: str
    created_at: datetime


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(default="", max_length=MAX_SUBJECT_LENGTH)
    message: dict[str, Any]


class PublishOut(BaseModel):
    message_id: str
    topic_name: str
    deliveries: int


class DeliveryOut(BaseModel):
    id: str
    message_id: str
    topic_name: str
    subject: str
    subscription_id: str
    protocol: Protocol
    endpoint: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    response_status: int | None
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None


class ReceiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_number_of_messages: int = Field(default=1, ge=1, le=MAX_RECEIVE)
    visibility_timeout_seconds: int = Field(default=30, ge=0, le=MAX_VISIBILITY_TIMEOUT_SECONDS)


class QueueMessageOut(BaseModel):
    message_id: str
    receipt_handle: str
    body: dict[str, Any]
    sent_at: datetime
    receive_count: int


class ReceiveOut(BaseModel):
    messages: list[QueueMessageOut]


class DeleteMessagesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receipt_handles: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=MAX_RECEIVE
    )


class DeleteMessagesOut(BaseModel):
    deleted: list[str]
    """The receipt handles whose messages were deleted."""
    failed: list[str]
    """Handles that name no message any more: deleted already, or received again since."""
