"""HTTP routes of topics (subscriptions, publish, the delivery log) and of queues."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from shipyard.core.names import srn
from shipyard.core.web import AuthorizeDep, ContextDep, ListResponse, PageDep
from shipyard.monitoring.topics import queues, service
from shipyard.monitoring.topics.schemas import (
    DeleteMessagesIn,
    DeleteMessagesOut,
    DeliveryOut,
    DeliveryStatus,
    PublishIn,
    PublishOut,
    ReceiveIn,
    ReceiveOut,
    SubscriptionIn,
    SubscriptionOut,
    TopicIn,
    TopicOut,
)

router = APIRouter(prefix="/api/v1", tags=["monitoring"])
TOPICS = "/topics"
TOPIC = TOPICS + "/{name}"
QUEUE = "/queues/{queue}"
DELIVERY_DUTY = "topics"  # shipyard.duties.DELIVER_NOTIFICATIONS


def topic_srn(name: str) -> str:
    return srn(service.TOPIC_KIND, name)


def queue_srn(name: str) -> str:
    return srn(queues.QUEUE_KIND, name)


@router.post(TOPICS, status_code=status.HTTP_201_CREATED, response_model=TopicOut)
def create_topic(request: TopicIn, context: ContextDep, authorize: AuthorizeDep) -> TopicOut:
    principal = authorize("monitoring:CreateTopic", topic_srn(request.name))
    with context.db.session_scope() as session:
        return service.create_topic(session, request, principal.name)


@router.get(TOPICS, response_model=ListResponse[TopicOut])
def list_topics(
    context: ContextDep, authorize: AuthorizeDep, page: PageDep
) -> ListResponse[TopicOut]:
    authorize("monitoring:ListTopics", topic_srn("*"))
    with context.db.session_scope() as session:
        items = service.list_topics(session, limit=page.limit, offset=page.offset)
    return ListResponse[TopicOut](items=items, next_token=page.next_token(len(items)))


@router.get(TOPIC, response_model=TopicOut)
def get_topic(name: str, context: ContextDep, authorize: AuthorizeDep) -> TopicOut:
    authorize("monitoring:GetTopic", topic_srn(name))
    with context.db.session_scope() as session:
        return service.describe_topic(session, name)


@router.delete(TOPIC, status_code=status.HTTP_204_NO_CONTENT)
def delete_topic(name: str, context: ContextDep, authorize: AuthorizeDep) -> None:
    authorize("monitoring:DeleteTopic", topic_srn(name))
    with context.db.session_scope() as session:
        service.delete_topic(session, name)


# ---- subscriptions ------------------------------------------------------------------------
@router.post(
    TOPIC + "/subscriptions", status_code=status.HTTP_201_CREATED, response_model=SubscriptionOut
)
def subscribe(
    name: str, request: SubscriptionIn, context: ContextDep, authorize: AuthorizeDep
) -> SubscriptionOut:
    principal = authorize("monitoring:Subscribe", topic_srn(name))
    with context.db.session_scope() as session:
        return service.subscribe(session, context.settings, name, request, principal.name)


@router.get(TOPIC + "/subscriptions", response_model=ListResponse[SubscriptionOut])
def list_subscriptions(
    name: str, context: ContextDep, authorize: AuthorizeDep
) -> ListResponse[SubscriptionOut]:
    authorize("monitoring:GetTopic", topic_srn(name))
    with context.db.session_scope() as session:
        return ListResponse[SubscriptionOut](items=service.list_subscriptions(session, name))


@router.delete(TOPIC + "/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def unsubscribe(
    name: str, subscription_id: str, context: ContextDep, authorize: AuthorizeDep
) -> None:
    authorize("monitoring:Unsubscribe", topic_srn(name))
    with context.db.session_scope() as session:
        service.unsubscribe(session, name, subscription_id)


# ---- publish and the delivery log ---------------------------------------------------------
@router.post(TOPIC + "/publish", response_model=PublishOut)
def publish(
    name: str, request: PublishIn, context: ContextDep, authorize: AuthorizeDep
) -> PublishOut:
    """Store the message and a delivery per subscription; they are sent in the background."""
    principal = authorize("monitoring:Publish", topic_srn(name))
    with context.db.session_scope() as session:
        message_id = service.publish(
            session,
            name,
            subject=request.subject,
            message=request.message,
            publisher=principal.name,
        )
        count = service.count_deliveries(session, message_id)
    context.run_soon(DELIVERY_DUTY)
    return PublishOut(message_id=message_id, topic_name=name, deliveries=count)


@router.get(TOPIC + "/deliveries", response_model=ListResponse[DeliveryOut])
def list_deliveries(
    name: str,
    context: ContextDep,
    authorize: AuthorizeDep,
    page: PageDep,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    message_id: Annotated[str | None, Query(max_length=36)] = None,
) -> ListResponse[DeliveryOut]:
    """Newest first; ``?status=Failed`` or ``?message_id=…`` to narrow it."""
    authorize("monitoring:ListDeliveries", topic_srn(name))
    with context.db.session_scope() as session:
        items = service.list_deliveries(
            session,
            name,
            status=delivery_status,
            message_id=message_id,
            limit=page.limit,
            offset=page.offset,
        )
    return ListResponse[DeliveryOut](items=items, next_token=page.next_token(len(items)))


# ---- queues -------------------------------------------------------------------------------
@router.post(QUEUE + "/receive", response_model=ReceiveOut)
def receive_messages(
    queue: str, request: ReceiveIn, context: ContextDep, authorize: AuthorizeDep
) -> ReceiveOut:
    """Up to ``max_number_of_messages`` messages, each hidden for the visibility timeout."""
    authorize("monitoring:ReceiveMessage", queue_srn(queue))
    with context.db.session_scope() as session:
        messages = queues.receive_messages(
            session,
            queue,
            max_number=request.max_number_of_messages,
            visibility_timeout_seconds=request.visibility_timeout_seconds,
        )
    return ReceiveOut(messages=messages)


@router.post(QUEUE + "/delete", response_model=DeleteMessagesOut)
def delete_messages(
    queue: str, request: DeleteMessagesIn, context: ContextDep, authorize: AuthorizeDep
) -> DeleteMessagesOut:
    authorize("monitoring:DeleteMessage", queue_srn(queue))
    with context.db.session_scope() as session:
        return queues.delete_messages(session, queue, request.receipt_handles)
