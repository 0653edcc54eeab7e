"""What each protocol sends for one published message: the webhook's JSON envelope, the
Slack incoming-webhook payload, the email's text, the queue's body.

A message that names ``AlarmName`` and ``NewStateValue`` is an alarm's notification and
reads as one (state, alarm, reason, time); any other shows its subject and pretty JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shipyard.core.clock import as_utc
from shipyard.core.names import srn

PAYLOAD_TYPE = "monitoring.topic_notification"
SLACK_TEXT_LIMIT = 2900  # a Slack section's text holds 3000 characters
STATE_EMOJI = {"ALARM": ":red_circle:", "OK": ":large_green_circle:"}
UNKNOWN_STATE_EMOJI = ":white_circle:"


@dataclass(frozen=True)
class Notification:
    """One published message, as every protocol's formatter reads it."""

    message_id: str
    topic_name: str
    subject: str
    message: dict[str, Any]
    publisher: str
    published_at: datetime

    @property
    def timestamp(self) -> str:
        return (as_utc(self.published_at) or self.published_at).isoformat()

    @property
    def is_alarm(self) -> bool:
        return "AlarmName" in self.message and "NewStateValue" in self.message

    @property
    def title(self) -> str:
        """The subject, or a line made from the alarm or the topic when there is none."""
        if self.subject:
            return self.subject
        if self.is_alarm:
            return f"{self._text('NewStateValue')}: {self._text('AlarmName')}"
        return f"Message on topic {self.topic_name}"

    def _text(self, key: str) -> str:
        value = self.message.get(key)
        return "" if value is None else str(value)


def envelope(note: Notification) -> dict[str, Any]:
    """The document a queue holds and (as JSON) a webhook receives."""
    return {
        "type": PAYLOAD_TYPE,
        "message_id": note.message_id,
        "topic_name": note.topic_name,
        "topic_srn": srn("topic", note.topic_name),
        "subject": note.subject,
        "message": note.message,
        "publisher": note.publisher,
        "timestamp": note.timestamp,
    }


def webhook_body(note: Notification) -> bytes:
    return json.dumps(envelope(note), sort_keys=True).encode()


def slack_body(note: Notification) -> bytes:
    return json.dumps(slack_payload(note)).encode()


def slack_payload(note: Notification) -> dict[str, Any]:
    """An incoming-webhook payload: ``text`` (notifications, old clients) and ``blocks``."""
    context = f"Topic `{_escape(note.topic_name)}` · {note.timestamp}"
    if note.is_alarm:
        state = note._text("NewStateValue")
        emoji = STATE_EMOJI.get(state, UNKNOWN_STATE_EMOJI)
        name, reason = note._text("AlarmName"), note._text("NewStateReason")
        when = note._text("StateChangeTime") or note.timestamp
        old = note._text("OldStateValue")
        headline = f"{emoji} *{_escape(state)}*: {_escape(name)}"
        details = [headline]
        if note._text("AlarmDescription"):
            details.append(_escape(note._text("AlarmDescription")))
        details.append(f"*Reason:* {_escape(reason)}" if reason else "")
        was = f" (was {_escape(old)})" if old else ""
        details.append(f"*Since:* {_escape(when)}{was}")
        text = f"{emoji} {state}: {name}" + (f" — {reason}" if reason else "")
        body = "\n".join(line for line in details if line)
    else:
        pretty = json.dumps(note.message, indent=2, sort_keys=True)
        text = note.title
        body = f"*{_escape(note.title)}*\n```{_escape(_cut(pretty))}```"
    return {
        "text": _cut(text),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(body)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }


def email_subject(note: Notification) -> str:
    return note.title


def email_text(note: Notification) -> str:
    """A readable plain-text body: the alarm's name, state and reason first, then the
    message as JSON."""
    lines: list[str] = []
    if note.is_alarm:
        lines.append(f"Alarm: {note._text('AlarmName')}")
        old = note._text("OldStateValue")
        lines.append(f"State: {note._text('NewStateValue')}" + (f" (was {old})" if old else ""))
        if note._text("NewStateReason"):
            lines.append(f"Reason: {note._text('NewStateReason')}")
        lines.append(f"Time: {note._text('StateChangeTime') or note.timestamp}")
        if note._text("AlarmDescription"):
            lines.append(f"Description: {note._text('AlarmDescription')}")
    else:
        lines.append(note.title)
    lines += [
        "",
        "Message:",
        json.dumps(note.message, indent=2, sort_keys=True),
        "",
        f"Topic {note.topic_name}, message {note.message_id}, published {note.timestamp}.",
    ]
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    """Slack's mrkdwn escapes: a message cannot ping @channel or forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str) -> str:
    return text if len(text) <= SLACK_TEXT_LIMIT else text[: SLACK_TEXT_LIMIT - 1] + "…"
