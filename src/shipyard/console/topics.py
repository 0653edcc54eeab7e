"""Console pages of topics: the list, and one topic with its subscriptions and delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from shipyard.console.rendering import ConsoleRoute, render
from shipyard.console.session import ViewerDep
from shipyard.core.names import srn
from shipyard.monitoring.topics import service
from shipyard.security.iam import authorize

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 50
DELIVERY_TONES = {"Delivered": "ok", "Pending": "wait", "Failed": "bad"}


@router.get("/topics", name="console-topics")
def topics(
    request: Request, viewer: ViewerDep, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> Response:
    authorize(viewer.principal, "monitoring:ListTopics", srn(service.TOPIC_KIND, "*"))
    with request.app.state.context.db.session_scope() as session:
        items = service.list_topics(session, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(
        request,
        "topics.html",
        section="topics",
        topics=items,
        page=page,
        has_next=len(items) == PAGE_SIZE,
    )


@router.get("/topics/{name}", name="console-topic")
def topic_page(
    request: Request,
    name: str,
    viewer: ViewerDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    resource = srn(service.TOPIC_KIND, name)
    authorize(viewer.principal, "monitoring:GetTopic", resource)
    authorize(viewer.principal, "monitoring:ListDeliveries", resource)
    with request.app.state.context.db.session_scope() as session:
        topic = service.describe_topic(session, name)
        subscriptions = service.list_subscriptions(session, name)
        deliveries = service.list_deliveries(
            session, name, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
    return render(
        request,
        "topic.html",
        section="topics",
        topic=topic,
        subscriptions=subscriptions,
        deliveries=deliveries,
        tones=DELIVERY_TONES,
        page=page,
        has_next=len(deliveries) == PAGE_SIZE,
    )
