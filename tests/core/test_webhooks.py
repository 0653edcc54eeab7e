"""Signed webhook posts: which URLs are refused, the signature a receiver checks, what is
retried, and that a redirect is never followed."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from pathlib import Path

import pytest

from shipyard.core.errors import ValidationError
from shipyard.core.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    address_problem,
    check_webhook_url,
    post_signed,
    retry_delay,
    webhook_secret,
)

SECRET = b"s" * 32


@pytest.mark.parametrize(
    ("url", "allow_private", "needle"),
    [
        ("http://169.254.169.254/latest/meta-data/", True, "link-local or cloud metadata"),
        ("http://[fd00:ec2::254]/", True, "link-local or cloud metadata"),
        ("http://[::ffff:169.254.169.254]/", True, "link-local or cloud metadata"),
        ("http://2852039166/", True, "resolves to 169.254.169.254"),  # the same, in decimal
        ("http://[fe80::1]/", True, "link-local"),
        ("http://127.0.0.1:9000/hook", False, "SHIPYARD_WEBHOOK_ALLOW_PRIVATE_ADDRESSES"),
        ("http://10.1.2.3/hook", False, "loopback or private"),
        ("http://[::1]/hook", False, "loopback or private"),
        ("http://localhost/hook", False, "loopback or private"),
        ("http://0.0.0.0/hook", True, "not a unicast host address"),
        ("ftp://hooks.example.com/x", False, "http:// or https://"),
        ("hooks.example.com/x", False, "http:// or https://"),
        ("http:///path-only", False, "must name a host"),
        ("http://hooks.example.com:99999/", False, "not a valid URL"),
    ],
)
def test_refused_urls_name_the_field(url: str, allow_private: bool, needle: str) -> None:
    with pytest.raises(ValidationError) as raised:
        check_webhook_url(url, allow_private=allow_private, field="actions.0.webhook_url")
    assert raised.value.field == "actions.0.webhook_url"
    assert needle in raised.value.message


@pytest.mark.parametrize(
    ("url", "allow_private"),
    [
        ("https://93.184.215.14/hooks/ml", False),  # a public address
        ("http://127.0.0.1:9000/hook", True),
        ("http://192.168.1.20/hook", True),
        ("https://hooks.example.invalid/ml", False),  # does not resolve now: checked later
    ],
)
def test_allowed_urls(url: str, allow_private: bool) -> None:
    check_webhook_url(url, allow_private=allow_private, field="f")


def test_address_problem_keeps_metadata_addresses_refused_even_when_private_is_allowed() -> None:
    for address in ("169.254.169.254", "fd00:ec2::254", "fe80::1"):
        assert address_problem(ipaddress.ip_address(address), allow_private=True) is not None
    assert address_problem(ipaddress.ip_address("fd12::1"), allow_private=True) is None
    assert address_problem(ipaddress.ip_address("8.8.8.8"), allow_private=False) is None


def test_a_post_is_signed_with_the_installation_secret(webhook_receiver, tmp_path: Path) -> None:
    secret = webhook_secret(tmp_path)
    assert len(secret) == 32 and (tmp_path / "webhook-secret").stat().st_mode & 0o777 == 0o600
    assert webhook_secret(tmp_path) == secret
    body = json.dumps({"hello": "receiver"}).encode()

    outcome = post_signed(
        f"{webhook_receiver.url}/hook", body, secret=secret, delivery_id="d-1", allow_private=True
    )

    assert outcome.delivered and outcome.error is None
    (request,) = webhook_receiver.received("/hook")
    assert request.body == body
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers[DELIVERY_HEADER] == "d-1"
    timestamp = request.headers[TIMESTAMP_HEADER]
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert request.headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert request.headers["Host"] == webhook_receiver.url.removeprefix("http://")


def test_a_redirect_is_not_followed(webhook_receiver) -> None:
    webhook_receiver.answer("/moved", 302)
    outcome = post_signed(
        f"{webhook_receiver.url}/moved", b"{}", secret=SECRET, delivery_id="d", allow_private=True
    )
    assert not outcome.delivered and not outcome.retryable
    assert outcome.error is not None and "redirects are not followed" in outcome.error
    assert [r.path for r in webhook_receiver.requests] == ["/moved"]


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (429, True),
                                                   (400, False), (404, False)])  # fmt: skip
def test_server_errors_and_throttling_are_retried_other_refusals_are_final(
    webhook_receiver, status: int, retryable: bool
) -> None:
    webhook_receiver.answer("/hook", status)
    outcome = post_signed(
        f"{webhook_receiver.url}/hook", b"{}", secret=SECRET, delivery_id="d", allow_private=True
    )
    assert (outcome.delivered, outcome.retryable) == (False, retryable)
    assert outcome.error == f"the receiver answered {status}"


def test_an_unreachable_receiver_is_retried_and_a_refused_address_is_not() -> None:
    closed = post_signed(
        "http://127.0.0.1:9/hook", b"{}", secret=SECRET, delivery_id="d", allow_private=True
    )
    assert not closed.delivered and closed.retryable and "ConnectError" in (closed.error or "")
    refused = post_signed(
        "http://127.0.0.1:9/hook", b"{}", secret=SECRET, delivery_id="d", allow_private=False
    )
    assert not refused.retryable and (refused.error or "").startswith("refused: 127.0.0.1")


def test_retries_back_off_exponentially_to_a_cap() -> None:
    assert [retry_delay(n) for n in range(1, 8)] == [5, 10, 20, 40, 80, 160, 300]
