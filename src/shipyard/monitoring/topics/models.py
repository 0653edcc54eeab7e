"""Tables of topics: topics, their subscriptions, published messages, deliveries, queues."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.core.db import Base


class Topic(Base):
    __tablename__ = "topics"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(100))
    tags: Mapped[dict[str, str]] = mapped_column(JSON)
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TopicSubscription(Base):
    """Where a topic's messages go: ``protocol`` (webhook, slack, email, queue) and
    ``endpoint`` (a URL, an address, a queue name), checked when subscribed."""

    __tablename__ = "topic_subscriptions"
    __table_args__ = (UniqueConstraint("topic_name", "protocol", "endpoint"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    topic_name: Mapped[str] = mapped_column(
        ForeignKey("topics.name", ondelete="CASCADE"), index=True
    )
    protocol: Mapped[str] = mapped_column(String(16))
    endpoint: Mapped[str] = mapped_column(String(2048))
    owner: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TopicMessage(Base):
    """A published message, kept as long as its topic: each delivery sends it from here."""

    __tablename__ = "topic_messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    topic_name: Mapped[str] = mapped_column(
        ForeignKey("topics.name", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(100))
    message: Mapped[dict[str, Any]] = mapped_column(JSON)
    publisher: Mapped[str] = mapped_column(String(128))
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TopicDelivery(Base):
    """One message to one subscription: Pending → Delivered | Failed.

    The subscription's protocol and endpoint are copied here, so the log still reads after
    an unsubscribe; ``next_attempt_at`` is also the lease of an attempt in flight.
    """

    __tablename__ = "topic_deliveries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_id: Mapped[str] = mapped_column(
        ForeignKey("topic_messages.id", ondelete="CASCADE"), index=True
    )
    topic_name: Mapped[str] = mapped_column(
        ForeignKey("topics.name", ondelete="CASCADE"), index=True
    )
    subscription_id: Mapped[str] = mapped_column(String(36), index=True)
    protocol: Mapped[str] = mapped_column(String(16))
    endpoint: Mapped[str] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    response_status: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class QueueMessage(Base):
    """A message waiting in a queue until a receiver deletes it by its receipt handle.

    A receive hides it until ``visible_at`` and gives it a new ``receipt_handle``; a message
    not deleted in time is received again.
    """

    __tablename__ = "queue_messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    queue_name: Mapped[str] = mapped_column(String(64), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    visible_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    receipt_handle: Mapped[str | None] = mapped_column(String(64), unique=True)
    receive_count: Mapped[int] = mapped_column(Integer, default=0)
