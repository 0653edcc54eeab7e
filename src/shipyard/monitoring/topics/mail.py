"""Email deliveries: one RFC 5322 message per attempt, through the configured SMTP server."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from shipyard.core.clock import utcnow
from shipyard.core.config import Settings
from shipyard.core.webhooks import AttemptOutcome
from shipyard.monitoring.topics.formats import Notification, email_subject, email_text

NO_SERVER = "no SMTP server is configured (set SHIPYARD_SMTP_HOST)"
SENT = 250


def email_message(note: Notification, to: str, sender: str, delivery_id: str) -> EmailMessage:
    """The message sent to ``to``; ``X-Shipyard-Delivery`` repeats at each retry."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = email_subject(note)
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["X-Shipyard-Delivery"] = delivery_id
    message["X-Shipyard-Topic"] = note.topic_name
    message.set_content(email_text(note))
    return message


def send_email(settings: Settings, message: EmailMessage) -> AttemptOutcome:
    """Send once; never raises for a failed delivery. A 5xx answer is final, anything else
    (a 4xx, a refused or dropped connection, a timeout) may succeed on a retry."""
    if not settings.smtp_host:
        return AttemptOutcome(False, retryable=False, error=NO_SERVER)
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                password = (
                    settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                )
                smtp.login(settings.smtp_username, password)
            refused = smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        return AttemptOutcome(
            False,
            retryable=not all(code >= 500 for code in codes),
            error=f"the SMTP server refused the recipient: {_reasons(exc.recipients)}",
            status_code=codes[0] if codes else None,
        )
    except smtplib.SMTPResponseException as exc:
        reason = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return AttemptOutcome(
            False,
            retryable=exc.smtp_code < 500,
            error=f"the SMTP server answered {exc.smtp_code}: {reason}"[:500],
            status_code=exc.smtp_code,
        )
    except (smtplib.SMTPException, OSError) as exc:
        return AttemptOutcome(False, retryable=True, error=f"{type(exc).__name__}: {exc}"[:500])
    if refused:
        return AttemptOutcome(False, error=f"the SMTP server refused: {_reasons(refused)}")
    return AttemptOutcome(True, status_code=SENT)


def _reasons(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{address} ({code} {reason.decode(errors='replace')})"
        for address, (code, reason) in recipients.items()
    )[:500]
