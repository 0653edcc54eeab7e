"""Topics: create, list, delete; subscriptions; publish; the delivery log.

:func:`publish` is how other rooms notify (the alarms' actions): it stores the message and
one ``Pending`` delivery per subscription in the caller's transaction, so a message is
durable once that transaction commits; :func:`deliver_due` (a scheduler duty, in
:mod:`shipyard.monitoring.topics.delivery`) sends them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from shipyard.core.clock import as_utc, utcnow
from shipyard.core.config import Settings
from shipyard.core.errors import AlreadyExists, NotFound, ValidationError
from shipyard.core.names import srn, validate_name
from shipyard.core.webhooks import check_webhook_url
from shipyard.monitoring.topics.delivery import deliver_due
from shipyard.monitoring.topics.models import (
    Topic,
    TopicDelivery,
    TopicMessage,
    TopicSubscription,
)
from shipyard.monitoring.topics.schemas import (
    MAX_MESSAGE_BYTES,
    MAX_SUBJECT_LENGTH,
    DeliveryOut,
    SubscriptionIn,
    SubscriptionOut,
    TopicIn,
    TopicOut,
)

__all__ = [
    "TOPIC_KIND",
    "create_topic",
    "delete_topic",
    "deliver_due",
    "describe_topic",
    "list_deliveries",
    "list_subscriptions",
    "list_topics",
    "publish",
    "subscribe",
    "unsubscribe",
]

TOPIC_KIND = "topic"
UNSUBSCRIBED = "the subscription was deleted before the message was delivered"


# ---- topics -------------------------------------------------------------------------------
def create_topic(session: Session, request: TopicIn, owner: str) -> TopicOut:
    name = validate_name(request.name)
    if session.get(Topic, name) is not None:
        raise AlreadyExists(f"topic '{name}' already exists")
    row = Topic(
        name=name,
        display_name=request.display_name,
        tags=dict(request.tags),
        owner=owner,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return _topic_out(session, row)


def describe_topic(session: Session, name: str) -> TopicOut:
    return _topic_out(session, get_topic(session, name))


def list_topics(session: Session, *, limit: int = 100, offset: int = 0) -> list[TopicOut]:
    rows = session.scalars(
        select(Topic).order_by(Topic.created_at.desc(), Topic.name).limit(limit).offset(offset)
    ).all()
    return [_topic_out(session, row) for row in rows]


def delete_topic(session: Session, name: str) -> None:
    """The topic with its subscriptions, messages and delivery log; queues keep what they hold."""
    session.delete(get_topic(session, name))
    session.flush()


def get_topic(session: Session, name: str, *, for_update: bool = False) -> Topic:
    row = session.get(Topic, validate_name(name), with_for_update=for_update)
    if row is None:
        raise NotFound(f"topic '{name}' not found")
    return row


# ---- subscriptions ------------------------------------------------------------------------
def subscribe(
    session: Session, settings: Settings, topic_name: str, request: SubscriptionIn, owner: str
) -> SubscriptionOut:
    """Subscribe ``request.endpoint`` after checking it (a ValidationError naming
    ``endpoint``); subscribing the same protocol and endpoint again returns the first."""
    topic = get_topic(session, topic_name)
    endpoint = check_endpoint(request.protocol, request.endpoint, settings)
    existing = session.scalar(
        select(TopicSubscription).where(
            TopicSubscription.topic_name == topic.name,
            TopicSubscription.protocol == request.protocol,
            TopicSubscription.endpoint == endpoint,
        )
    )
    if existing is not None:
        return _subscription_out(existing)
    row = TopicSubscription(
        id=str(uuid.uuid4()),
        topic_name=topic.name,
        protocol=request.protocol,
        endpoint=endpoint,
        owner=owner,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return _subscription_out(row)


def list_subscriptions(session: Session, topic_name: str) -> list[SubscriptionOut]:
    topic = get_topic(session, topic_name)
    rows = session.scalars(
        select(TopicSubscription)
        .where(TopicSubscription.topic_name == topic.name)
        .order_by(TopicSubscription.created_at, TopicSubscription.id)
    )
    return [_subscription_out(row) for row in rows]


def unsubscribe(session: Session, topic_name: str, subscription_id: str) -> None:
    """Delete the subscription; its deliveries still pending end Failed, saying why."""
    topic = get_topic(session, topic_name)
    row = session.get(TopicSubscription, subscription_id[:36])
    if row is None or row.topic_name != topic.name:
        raise NotFound(f"topic '{topic.name}' has no subscription '{subscription_id[:36]}'")
    session.execute(
        update(TopicDelivery)
        .where(TopicDelivery.subscription_id == row.id, TopicDelivery.status == "Pending")
        .values(status="Failed", last_error=UNSUBSCRIBED, next_attempt_at=None)
    )
    session.delete(row)
    session.flush()


def check_endpoint(protocol: str, endpoint: str, settings: Settings) -> str:
    """The endpoint as stored, or a ValidationError naming ``endpoint``."""
    if protocol in ("webhook", "slack"):
        check_webhook_url(
            endpoint, allow_private=settings.webhook_allow_private_addresses, field="endpoint"
        )
        return endpoint
    if protocol == "email":
        try:
            address = validate_email(
                endpoint, check_deliverability=False, globally_deliverable=False
            )
        except EmailNotValidError as exc:
            raise ValidationError(f"is not an email address ({exc})", "endpoint") from None
        return address.normalized
    if protocol == "queue":
        return validate_name(endpoint, "endpoint")
    raise ValidationError(f"{protocol!r} is not a protocol", "protocol")


# ---- publish ------------------------------------------------------------------------------
def publish(
    session: Session,
    topic_name: str,
    *,
    subject: str,
    message: Mapping[str, Any],
    publisher: str,
) -> str:
    """Publish ``message`` (a JSON object) to the topic; the new message's id.

    The message and one Pending delivery per current subscription are added to
    ``session``: they are durable when the caller's transaction commits, and sent after.
    ``subject`` is one line of at most 100 characters (an email's subject); datetimes in
    ``message`` become ISO 8601 strings. A ValidationError names ``subject`` or
    ``message``; NotFound when there is no such topic.
    """
    topic = get_topic(session, topic_name)
    subject = _check_subject(subject)
    document = _check_message(message)
    now = utcnow()
    message_id = str(uuid.uuid4())
    session.add(
        TopicMessage(
            id=message_id,
            topic_name=topic.name,
            subject=subject,
            message=document,
            publisher=publisher[:128],
            published_at=now,
        )
    )
    subscriptions = session.scalars(
        select(TopicSubscription).where(TopicSubscription.topic_name == topic.name)
    )
    for subscription in subscriptions:
        session.add(
            TopicDelivery(
                id=str(uuid.uuid4()),
                message_id=message_id,
                topic_name=topic.name,
                subscription_id=subscription.id,
                protocol=subscription.protocol,
                endpoint=subscription.endpoint,
                status="Pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
    session.flush()
    return message_id


def count_deliveries(session: Session, message_id: str) -> int:
    return (
        session.scalar(
            select(func.count(TopicDelivery.id)).where(TopicDelivery.message_id == message_id)
        )
        or 0
    )


def _check_subject(subject: str) -> str:
    if not isinstance(subject, str):
        raise ValidationError("must be a string", "subject")
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise ValidationError(f"must be at most {MAX_SUBJECT_LENGTH} characters", "subject")
    if any(ord(char) < 32 or ord(char) == 127 for char in subject):
        raise ValidationError("must be one line, without control characters", "subject")
    return subject


def _check_message(message: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(message, Mapping):
        raise ValidationError("must be a JSON object", "message")
    try:
        text = json.dumps(dict(message), default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"is not JSON ({exc})", "message") from None
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise ValidationError(f"is larger than {MAX_MESSAGE_BYTES} bytes as JSON", "message")
    document: dict[str, Any] = json.loads(text)
    return document


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


# ---- the delivery log ---------------------------------------------------------------------
def list_deliveries(
    session: Session,
    topic_name: str,
    *,
    status: str | None = None,
    message_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[DeliveryOut]:
    """The topic's deliveries, newest first; only those of ``status`` or ``message_id``."""
    topic = get_topic(session, topic_name)
    query = (
        select(TopicDelivery, TopicMessage.subject)
        .join(TopicMessage, TopicMessage.id == TopicDelivery.message_id)
        .where(TopicDelivery.topic_name == topic.name)
    )
    if status is not None:
        query = query.where(TopicDelivery.status == status)
    if message_id is not None:
        query = query.where(TopicDelivery.message_id == message_id)
    rows = session.execute(
        query.order_by(TopicDelivery.created_at.desc(), TopicDelivery.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [_delivery_out(row, subject) for row, subject in rows]


# ---- rendering ----------------------------------------------------------------------------
def _topic_out(session: Session, row: Topic) -> TopicOut:
    count = session.scalar(
        select(func.count(TopicSubscription.id)).where(TopicSubscription.topic_name == row.name)
    )
    return TopicOut(
        name=row.name,
        srn=srn(TOPIC_KIND, row.name),
        display_name=row.display_name,
        tags=row.tags,
        subscription_count=count or 0,
        owner=row.owner,
        created_at=as_utc(row.created_at) or row.created_at,
    )


def _subscription_out(row: TopicSubscription) -> SubscriptionOut:
    return SubscriptionOut.model_validate(
        {
            "id": row.id,
            "topic_name": row.topic_name,
            "protocol": row.protocol,
            "endpoint": row.endpoint,
            "owner": row.owner,
            "created_at": as_utc(row.created_at),
        }
    )


def _delivery_out(row: TopicDelivery, subject: str) -> DeliveryOut:
    return DeliveryOut.model_validate(
        {
            "id": row.id,
            "message_id": row.message_id,
            "topic_name": row.topic_name,
            "subject": subject,
            "subscription_id": row.subscription_id,
            "protocol": row.protocol,
            "endpoint": row.endpoint,
            "status": row.status,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "response_status": row.response_status,
            "created_at": as_utc(row.created_at),
            "last_attempt_at": as_utc(row.last_attempt_at),
            "next_attempt_at": as_utc(row.next_attempt_at),
            "delivered_at": as_utc(row.delivered_at),
        }
    )
