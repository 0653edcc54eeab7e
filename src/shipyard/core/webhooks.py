"""Signed webhook posts: the URL check, one delivery attempt, the signature, the backoff.

A room that notifies (the debugger's Notify action; the monitoring room's topics) keeps
its own delivery records and calls :func:`check_webhook_url` when a URL is configured,
:func:`post_signed` for each attempt and :func:`retry_delay` between attempts.

What a receiver gets: a JSON ``POST`` with ``X-Shipyard-Delivery`` (the delivery's id:
retries repeat it, so a receiver can drop duplicates), ``X-Shipyard-Timestamp`` (Unix
seconds) and ``X-Shipyard-Signature: sha256=<hex>``, the HMAC-SHA256 of
``<timestamp>.<body>`` under the installation's webhook secret
(``$SHIPYARD_HOME/webhook-secret``).

Where posts may go: ``http``/``https`` URLs only; never a link-local or cloud metadata
address (169.254.0.0/16, fe80::/10, fd00:ec2::254); loopback and private addresses only
when the caller allows them (``SHIPYARD_WEBHOOK_ALLOW_PRIVATE_ADDRESSES``). The host is
resolved again at each attempt and the request is sent to the very address that passed
the check, so DNS cannot swap it in between; proxies from the environment are ignored
and redirects are never followed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from shipyard.core.errors import ValidationError
from shipyard.core.keyfiles import installation_secret

SECRET_FILE = "webhook-secret"
DELIVERY_HEADER = "X-Shipyard-Delivery"
TIMESTAMP_HEADER = "X-Shipyard-Timestamp"
SIGNATURE_HEADER = "X-Shipyard-Signature"
TIMEOUT_SECONDS = 10.0
MAX_ATTEMPTS = 6
FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 300.0
RETRYABLE_STATUSES = frozenset({408, 425, 429})
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("fd00:ec2::254")})
PRIVATE_HINT = "set SHIPYARD_WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true to allow them"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class AttemptOutcome:
    """How one attempt went: delivered, or why not and whether a retry may succeed."""

    delivered: bool
    retryable: bool = False
    error: str | None = None
    status_code: int | None = None
    """The receiver's HTTP status, when it answered."""


class RefusedAddress(Exception):
    """The URL's host is, or resolves to, an address webhooks may not post to."""


@lru_cache(maxsize=32)
def webhook_secret(home: Path) -> bytes:
    """The installation's webhook signing secret (``home/webhook-secret``)."""
    return installation_secret(home, SECRET_FILE)


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Shipyard-Signature`` value of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: 5, 10, 20 … at most 300."""
    return min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS)


def check_webhook_url(url: str, *, allow_private: bool, field: str) -> None:
    """Refuse, with a ValidationError naming ``field``, a URL webhooks may not post to.

    A host name is resolved here when it can be, for an early and clear error; a name that
    does not resolve now is accepted, and every attempt checks its addresses again.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValidationError("must be an http:// or https:// URL", field)
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ValidationError(f"is not a valid URL ({exc})", field) from None
    if not host:
        raise ValidationError("must name a host", field)
    try:
        _checked_addresses(host, port or _default_port(parts.scheme), allow_private)
    except RefusedAddress as exc:
        raise ValidationError(str(exc), field) from None
    except OSError:
        return


def post_signed(
    url: str,
    body: bytes,
    *,
    secret: bytes,
    delivery_id: str,
    allow_private: bool,
    timeout: float = TIMEOUT_SECONDS,
) -> AttemptOutcome:
    """POST the JSON ``body`` to ``url`` once, signed; never raises for a failed delivery.

    A 2xx answer is a delivery. A redirect, another 4xx or a refused address is final; a
    5xx, 408, 425, 429, a timeout or a connection error may succeed on a retry.
    """
    target = httpx.URL(url)
    try:
        address = _checked_addresses(
            target.host, target.port or _default_port(target.scheme), allow_private
        )[0]
    except RefusedAddress as exc:
        return AttemptOutcome(False, retryable=False, error=f"refused: {exc}")
    except OSError as exc:
        return AttemptOutcome(
            False, retryable=True, error=f"{target.host} does not resolve ({exc})"
        )
    timestamp = int(time.time())
    headers = {
        "Host": target.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "User-Agent": "shipyard-webhooks",
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }
    pinned = target.copy_with(host=str(address))
    try:
        with (
            httpx.Client(follow_redirects=False, trust_env=False, timeout=timeout) as client,
            client.stream(
                "POST",
                pinned,
                content=body,
                headers=headers,
                extensions={"sni_hostname": target.host},  # TLS checks the name, not the IP
            ) as response,
        ):
            return _outcome_of(response)
    except httpx.HTTPError as exc:
        return AttemptOutcome(False, retryable=True, error=f"{type(exc).__name__}: {exc}"[:500])


def address_problem(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why webhooks may not post to ``address``, or None when they may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local or address in METADATA_ADDRESSES:
        return f"{address} is a link-local or cloud metadata address"
    if address.is_unspecified or address.is_multicast:
        return f"{address} is not a unicast host address"
    if address.is_global:
        return None
    if address.is_loopback or address.is_private:
        return (
            None
            if allow_private
            else f"{address} is a loopback or private address ({PRIVATE_HINT})"
        )
    return f"{address} is not a public unicast address"


def _checked_addresses(host: str, port: int, allow_private: bool) -> list[IPAddress]:
    """Every address ``host`` stands for, all of them allowed; RefusedAddress if one is
    not, OSError if the name does not resolve."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        addresses: list[IPAddress] = [ipaddress.ip_address("127.0.0.1")]
    else:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        problem = address_problem(address, allow_private=allow_private)
        if problem is not None:
            shown = "" if host == str(address) else f"{host} resolves to "
            raise RefusedAddress(f"{shown}{problem}")
    return addresses


def _outcome_of(response: httpx.Response) -> AttemptOutcome:
    status = response.status_code
    if 200 <= status < 300:
        return AttemptOutcome(True, status_code=status)
    if 300 <= status < 400:
        location = response.headers.get("location", "")[:200]
        return AttemptOutcome(
            False,
            error=f"the receiver answered {status} (to {location!r}); redirects are not followed",
            status_code=status,
        )
    retryable = status >= 500 or status in RETRYABLE_STATUSES
    return AttemptOutcome(
        False, retryable=retryable, error=f"the receiver answered {status}", status_code=status
    )


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80
