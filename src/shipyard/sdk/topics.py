"""``Topic`` and ``Queue``: notify people and systems, and read what a queue received.

topic = Topic("ops").create(display_name="On call")
topic.subscribe("slack", "https://hooks.slack.com/services/...")
topic.subscribe("queue", "ops-inbox")
topic.publish("Nightly retrain done", {"training_job": "fraud-7", "auc": 0.97})
for message in Queue("ops-inbox").receive(max_number_of_messages=10):
    ...
    Queue("ops-inbox").delete(message["receipt_handle"])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.core.names import validate_name
from shipyard.sdk.client import Session

TOPICS = "/api/v1/topics"
QUEUES = "/api/v1/queues"


class Topic:
    """A topic on the server, by name."""

    def __init__(self, name: str, session: Session | None = None) -> None:
        self.name = validate_name(name)
        self.session = session or Session()

    @classmethod
    def list_topics(cls, session: Session | None = None) -> list[dict[str, Any]]:
        return (session or Session()).list_all(TOPICS)

    @property
    def path(self) -> str:
        return f"{TOPICS}/{self.name}"

    def create(self, *, display_name: str = "", tags: Mapping[str, str] | None = None) -> Topic:
        self.session.post(
            TOPICS, json={"name": self.name, "display_name": display_name, "tags": dict(tags or {})}
        )
        return self

    def describe(self) -> dict[str, Any]:
        return self.session.get(self.path)

    def delete(self) -> None:
        """The topic, its subscriptions and its delivery log."""
        self.session.delete(self.path)

    def subscribe(self, protocol: str, endpoint: str) -> dict[str, Any]:
        """``protocol``: ``webhook`` or ``slack`` (a URL), ``email`` (an address) or
        ``queue`` (a queue name); the subscription, with its ``id``."""
        return self.session.post(
            f"{self.path}/subscriptions", json={"protocol": protocol, "endpoint": endpoint}
        )

    def subscriptions(self) -> list[dict[str, Any]]:
        return self.session.get(f"{self.path}/subscriptions")["items"]

    def unsubscribe(self, subscription_id: str) -> None:
        self.session.delete(f"{self.path}/subscriptions/{subscription_id}")

    def publish(self, subject: str, message: Mapping[str, Any]) -> str:
        """Publish a JSON object to every subscription; the message id."""
        published = self.session.post(
            f"{self.path}/publish", json={"subject": subject, "message": dict(message)}
        )
        return published["message_id"]

    def deliveries(
        self, *, status: str | None = None, message_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The delivery log, newest first: status, attempts, last error, response status."""
        return self.session.list_all(
            f"{self.path}/deliveries", status=status, message_id=message_id
        )


class Queue:
    """A queue that ``queue`` subscriptions append to, by name."""

    def __init__(self, name: str, session: Session | None = None) -> None:
        self.name = validate_name(name)
        self.session = session or Session()

    def receive(
        self, *, max_number_of_messages: int = 1, visibility_timeout_seconds: int = 30
    ) -> list[dict[str, Any]]:
        """Messages, each hidden from other receivers until the timeout ends."""
        received = self.session.post(
            f"{QUEUES}/{self.name}/receive",
            json={
                "max_number_of_messages": max_number_of_messages,
                "visibility_timeout_seconds": visibility_timeout_seconds,
            },
        )
        return received["messages"]

    def delete(self, *receipt_handles: str) -> dict[str, list[str]]:
        """Delete received messages by their receipt handles: which were, which were not."""
        return self.session.post(
            f"{QUEUES}/{self.name}/delete", json={"receipt_handles": list(receipt_handles)}
        )
