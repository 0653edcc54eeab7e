"""``shipyard topics create|list|describe|delete|subscribe|unsubscribe|subscriptions|publish|
deliveries``: topics and their notifications from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from shipyard.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    console,
    handle_errors,
    pairs,
    print_json,
    print_record,
    session,
    show_items,
)
from shipyard.cli.resources import add_collection_commands
from shipyard.core.errors import ValidationError
from shipyard.sdk.topics import Topic

app = typer.Typer(help="Topics: notify people and systems.", no_args_is_help=True)

TopicName = Annotated[str, typer.Argument(help="Topic name.", show_default=False)]
TOPIC_FIELDS = ("name", "srn", "display_name", "tags", "subscription_count", "owner",
                "created_at")  # fmt: skip
TOPIC_COLUMNS = ("name", "display_name", "subscription_count", "created_at")
SUBSCRIPTION_FIELDS = ("id", "topic_name", "protocol", "endpoint", "owner", "created_at")
SUBSCRIPTION_COLUMNS = ("id", "protocol", "endpoint", "created_at")
DELIVERY_COLUMNS = ("status", "subject", "protocol", "endpoint", "attempts", "last_error",
                    "created_at")  # fmt: skip


@app.command()
@handle_errors
def create(
    name: TopicName,
    display_name: Annotated[str, typer.Option(help="A readable name.")] = "",
    tag: Annotated[list[str], typer.Option("--tag", help="KEY=VALUE, repeatable.")] = [],  # noqa: B006
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create a topic."""
    topic = Topic(name, session(url, token)).create(
        display_name=display_name, tags=pairs(tag, "--tag")
    )
    _show(topic.describe(), TOPIC_FIELDS, json_output)


add_collection_commands(
    app,
    collection="topics",
    noun="topic",
    fields=TOPIC_FIELDS,
    columns=TOPIC_COLUMNS,
    delete_help="Delete the topic called NAME, its subscriptions and its delivery log.",
)


@app.command()
@handle_errors
def subscribe(
    name: TopicName,
    protocol: Annotated[
        str, typer.Argument(help="webhook, slack, email or queue.", show_default=False)
    ],
    endpoint: Annotated[
        str, typer.Argument(help="A URL, an email address or a queue name.", show_default=False)
    ],
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Send the topic's messages to ENDPOINT by PROTOCOL."""
    subscription = Topic(name, session(url, token)).subscribe(protocol, endpoint)
    _show(subscription, SUBSCRIPTION_FIELDS, json_output)


@app.command()
@handle_errors
def unsubscribe(
    name: TopicName,
    subscription_id: Annotated[str, typer.Argument(help="Subscription id.", show_default=False)],
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Delete a subscription; its deliveries still pending end Failed."""
    Topic(name, session(url, token)).unsubscribe(subscription_id)
    console.print(f"deleted subscription {subscription_id}")


@app.command()
@handle_errors
def subscriptions(
    name: TopicName, json_output: JsonOption = False, url: UrlOption = None,
    token: TokenOption = None,
) -> None:  # fmt: skip
    """List the topic's subscriptions."""
    items = Topic(name, session(url, token)).subscriptions()
    show_items(items, SUBSCRIPTION_COLUMNS, f"Subscriptions of {name}", json_output)


@app.command()
@handle_errors
def publish(
    name: TopicName,
    message: Annotated[
        str,
        typer.Argument(help="A JSON object, or @FILE to read it from.", show_default=False),
    ],
    subject: Annotated[str, typer.Option(help="One line: an email's subject.")] = "",
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Publish MESSAGE to every subscription of the topic."""
    message_id = Topic(name, session(url, token)).publish(subject, _message(message))
    print_json({"message_id": message_id}) if json_output else console.print(message_id)


@app.command()
@handle_errors
def deliveries(
    name: TopicName,
    status: Annotated[
        str | None, typer.Option(help="Only Pending, Delivered or Failed ones.")
    ] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """The topic's delivery log, newest first."""
    items = Topic(name, session(url, token)).deliveries(status=status)
    show_items(items, DELIVERY_COLUMNS, f"Deliveries of {name}", json_output)


def _message(text: str) -> dict[str, Any]:
    if text.startswith("@"):
        text = Path(text[1:]).expanduser().read_text()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"is not JSON ({exc})", "message") from None
    if not isinstance(document, dict):
        raise ValidationError("must be a JSON object", "message")
    return document


def _show(record: dict[str, Any], fields: tuple[str, ...], json_output: bool) -> None:
    print_json(record) if json_output else print_record(record, fields)
