"""The frames a model host and its serving instances exchange over a Unix socket.

A request is ``(kind, id, content type, accept, body)``; a reply is ``(id, status, model
microseconds, content type, body)``. Each frame starts with its length, so many requests
share one connection and replies are matched to requests by id, in any order.

    request  !I length  !B kind  !I id  !H len(content type)  !H len(accept)
             content type  accept  body
    reply    !I length  !I id  !H status  !d model µs  !H len(content type)
             content type  body

A request's kind says what it asks: ``INVOKE`` an answer; ``COPY`` (a shadow's copy of a
production request, with production's answer after the head below) no reply: the shadow
answers it and compares, in its tallies; ``TALLIES`` the tallies since the last time, as
JSON (see :mod:`shipyard.serving.comparison`), which the instance then forgets.

    copy body  !d production µs  !q minute  !H len(production variant)  !H len(production's
               content type)  !I len(production's answer)  variant  content type  answer  body
"""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass
from typing import Any

LENGTH = struct.Struct("!I")
REQUEST_HEAD = struct.Struct("!BIHH")
FRAME_HEAD = struct.Struct("!IBIHH")
"""A request frame's length and head, packed at once."""
REPLY_HEAD = struct.Struct("!IHdH")
COPY_HEAD = struct.Struct("!dqHHI")
NO_LATENCY = -1.0
INVOKE, COPY, TALLIES = 1, 2, 3


@dataclass(frozen=True)
class Request:
    id: int
    content_type: str
    accept: str
    body: bytes
    kind: int = INVOKE


@dataclass(frozen=True)
class Copy:
    """A shadow's copy of an answered production request (the body of a ``COPY``)."""

    body: bytes
    production_variant: str
    production_answer: tuple[bytes, str]
    """Production's answer and its content type."""
    production_us: float
    minute: int
    """The minute production answered in, in seconds since the epoch."""


@dataclass(frozen=True)
class Reply:
    id: int
    status: int
    model_latency_us: float | None
    content_type: str
    body: bytes

    def error(self) -> dict[str, Any]:
        """An error reply's ``{"code", "message", "traceback"?}``."""
        document: dict[str, Any] = json.loads(self.body)
        return document


def encode_request(request: Request) -> bytes:
    return request_frame(
        request.id, request.content_type, request.accept, request.body, request.kind
    )


def request_frame(
    request_id: int, content_type: str, accept: str, body: bytes, kind: int = INVOKE
) -> bytes:
    """:func:`encode_request` without building a :class:`Request` (the host's hot path)."""
    type_bytes = content_type.encode()
    accept_bytes = accept.encode()
    size = REQUEST_HEAD.size + len(type_bytes) + len(accept_bytes) + len(body)
    head = FRAME_HEAD.pack(size, kind, request_id, len(type_bytes), len(accept_bytes))
    return b"".join((head, type_bytes, accept_bytes, body))


def copy_frame(content_type: str, accept: str, copy: Copy) -> bytes:
    """A ``COPY`` of the request ``copy`` holds the body of, with production's answer."""
    variant = copy.production_variant.encode()
    answer, answer_type = copy.production_answer
    answer_type_bytes = answer_type.encode()
    head = COPY_HEAD.pack(
        copy.production_us, copy.minute, len(variant), len(answer_type_bytes), len(answer)
    )
    body = b"".join((head, variant, answer_type_bytes, answer, copy.body))
    return request_frame(0, content_type, accept, body, COPY)


def decode_request(frame: bytes) -> Request:
    kind, request_id, type_length, accept_length = REQUEST_HEAD.unpack_from(frame)
    start = REQUEST_HEAD.size
    content_type = frame[start : start + type_length].decode()
    start += type_length
    accept = frame[start : start + accept_length].decode()
    return Request(request_id, content_type, accept, frame[start + accept_length :], kind)


def decode_copy(request: Request) -> Copy:
    """The copy a ``COPY`` request carries."""
    body = request.body
    production_us, minute, variant_length, type_length, answer_length = COPY_HEAD.unpack_from(body)
    start = COPY_HEAD.size
    variant = body[start : start + variant_length].decode()
    start += variant_length
    answer_type = body[start : start + type_length].decode()
    start += type_length
    answer = body[start : start + answer_length]
    start += answer_length
    return Copy(body[start:], variant, (answer, answer_type), production_us, minute)


def encode_reply(reply: Reply) -> bytes:
    content_type = reply.content_type.encode()
    latency = NO_LATENCY if reply.model_latency_us is None else reply.model_latency_us
    head = REPLY_HEAD.pack(reply.id, reply.status, latency, len(content_type))
    size = len(head) + len(content_type) + len(reply.body)
    return b"".join((LENGTH.pack(size), head, content_type, reply.body))


def decode_reply(frame: bytes) -> Reply:
    request_id, status, latency, type_length = REPLY_HEAD.unpack_from(frame)
    start = REPLY_HEAD.size
    content_type = frame[start : start + type_length].decode()
    model_us = None if latency == NO_LATENCY else latency
    return Reply(request_id, status, model_us, content_type, frame[start + type_length :])


def error_reply(request_id: int, status: int, document: dict[str, Any]) -> Reply:
    return Reply(request_id, status, None, "application/json", json.dumps(document).encode())


def take_frames(buffer: bytearray) -> list[bytes]:
    """Every whole frame at the start of ``buffer`` (removed from it), without lengths."""
    frames = []
    offset = 0
    while len(buffer) - offset >= LENGTH.size:
        (size,) = LENGTH.unpack_from(buffer, offset)
        end = offset + LENGTH.size + size
        if len(buffer) < end:
            break
        frames.append(bytes(buffer[offset + LENGTH.size : end]))
        offset = end
    if offset:
        del buffer[:offset]
    return frames


def receive_frame(sock: socket.socket) -> bytes:
    """One frame from a blocking socket; ConnectionError when the peer closed it."""
    (size,) = LENGTH.unpack(_receive_exactly(sock, LENGTH.size))
    return _receive_exactly(sock, size)


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise ConnectionError("the instance closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
