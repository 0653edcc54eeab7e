"""The floor of a Python HTTP server on this machine: the benchmark's booster behind a
hand-parsed HTTP/1.1 keep-alive loop on asyncio, no framework, no ASGI.

Whatever a server adds over this is its framework's and its own work; what this adds over
the in-process prediction is the machine's: the loopback round trip, waking a core, one
event-loop turn. ``POST`` any path with ``{"instances": [[...], ...]}``; the answer is
Shipyard's shape. benchmarks/serving.py runs ``python bare_asyncio.py PORT`` from the
project's environment with the model file in ``SERVING_BENCH_MODEL``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import lightgbm as lgb
import numpy as np

booster = lgb.Booster(model_file=os.environ["SERVING_BENCH_MODEL"])


def answer(body: bytes) -> bytes:
    rows = np.asarray(json.loads(body)["instances"], dtype=np.float32)
    positive = np.asarray(booster.predict(rows))
    document = {
        "predictions": (positive > 0.5).astype(int).tolist(),
        "probabilities": np.column_stack((1.0 - positive, positive)).tolist(),
    }
    content = json.dumps(document).encode()
    head = (
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        f"content-length: {len(content)}\r\n\r\n"
    )
    return head.encode() + content


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:end]).lower()
            at = head.find(b"\r\ncontent-length:")
            length = int(head[at + 17 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self.transport.write(answer(body))


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Connection, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
