"""The load generator: asyncio over keep-alive HTTP/1.1 connections, one request in flight
per connection, for a fixed time; each response's status and latency (headers and body
read in full). Hand-written rather than httpx so that the client costs little of its core.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

REQUEST_TIMEOUT_SECONDS = 30.0


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    seconds: float = 0.0


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status of the next response (its body read and dropped), and whether the
    connection stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        await reader.readexactly(int(lower[at + 17 : lower.index(b"\r\n", at + 2)]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    return status, b"\r\nconnection: close" not in lower


async def keep_asking(port: int, request: bytes, deadline: float, sample: Sample) -> None:
    """One keep-alive connection, one request at a time, until ``deadline``."""
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    while time.perf_counter() < deadline:
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = time.perf_counter()
            writer.write(request)
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                status, keep_alive = await read_response(reader)
            sample.latencies.append(time.perf_counter() - started)
            sample.statuses[status] += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            sample.transport_errors += 1
            keep_alive = False
            await asyncio.sleep(0.01)
        if not keep_alive and writer is not None:
            writer.close()
            writer = reader = None
    if writer is not None:
        writer.close()


async def drive(port: int, request: bytes, concurrency: int, seconds: float) -> Sample:
    sample = Sample()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(keep_asking(port, request, deadline, sample) for _ in range(concurrency))
    )
    sample.seconds = time.perf_counter() - started
    return sample
