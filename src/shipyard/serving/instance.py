"""What runs in one serving instance's process: load one model, then answer the frames of
:mod:`shipyard.serving.wire` on a Unix socket until told to stop.

The host starts each instance as a job process (warm, from a forkserver that has imported
the libraries), so an instance that crashes takes nothing else with it and a new one starts
in a fraction of a second. The instance parses, predicts and renders; the host only moves
bytes. It says it is ready with a ``status`` event ``InService`` on stdout; its other output
goes to the endpoint's log group.

With micro-batching on (``batching`` in the payload), the requests that are waiting when the
instance gets to them (or within ``max_wait_ms``) are predicted together, up to
``max_batch_size`` rows, and each gets its own rows of the answer back.

A shadow's instance also gets copies of production's requests with production's answers:
it answers each, compares, and keeps the tallies until the host asks for them (so the
host's process, which serves production, never reads a shadow's answer).
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from shipyard.compute.events import emit_failure, emit_status
from shipyard.core.artifacts import open_store
from shipyard.core.errors import ShipyardError
from shipyard.serving import wire
from shipyard.serving.comparison import Comparisons
from shipyard.serving.loading import ModelSource, failure_reason, load_verified
from shipyard.serving.payloads import columns_of, parse_rows, render, stack
from shipyard.training.algorithms import LoadedModel
from shipyard.training.algorithms.model_io import Features

READY = "InService"


def main(payload: dict[str, Any]) -> None:
    store = open_store(payload["store"]["uri"], payload["store"].get("endpoint_url"))
    try:
        model = load_verified(
            store, ModelSource.from_payload(payload["model"]), Path.cwd() / "model"
        )
    except Exception as exc:  # the host marks the endpoint Failed with this reason
        emit_failure(failure_reason(exc))
        raise SystemExit(1) from None
    if payload.get("idle_priority"):
        run_when_idle()
    batching = payload.get("batching")
    answerer = Answerer(model)
    asyncio.run(serve(payload["socket"], answerer, batching))


def run_when_idle() -> None:
    """From now on this process runs only when no other wants the CPU (Linux SCHED_IDLE;
    elsewhere the lowest nice): a shadow's prediction never delays production's. Its model
    was loaded at normal priority, so it starts as fast under load."""
    if hasattr(os, "sched_setscheduler"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    else:
        os.nice(19)


async def serve(path: str, answerer: Answerer, batching: dict[str, Any] | None) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    batcher = Batcher(answerer, loop, **batching) if batching else None
    server = await loop.create_unix_server(lambda: InstanceProtocol(answerer, batcher), path=path)
    gc.collect()
    gc.freeze()  # the model and the libraries: no collection walks them again
    emit_status(READY)
    async with server:
        await stopping.wait()


@dataclass
class Parsed:
    request: wire.Request
    rows: Features


class Answerer:
    """Parse, predict and render one request (or a batch of parsed ones)."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.comparisons = Comparisons()

    def reply_to(self, request: wire.Request) -> wire.Reply | None:
        """The reply to a request of any kind but ``INVOKE`` with batching (which
        :class:`Batcher` answers); None for a shadow's copy, which gets none."""
        if request.kind == wire.COPY:
            self.compare(request)
            return None
        if request.kind == wire.TALLIES:
            return wire.Reply(request.id, 200, None, "application/json", self.comparisons.take())
        return self.answer(request)

    def compare(self, request: wire.Request) -> None:
        """Answer a shadow's copy (a ``COPY`` request) and tally it against production's
        answer."""
        copy = wire.decode_copy(request)
        started = time.perf_counter()
        reply = self.answer(wire.Request(0, request.content_type, request.accept, copy.body))
        took_us = (time.perf_counter() - started) * 1e6
        shadow = (reply.body, reply.content_type) if reply.status == 200 else None
        self.comparisons.add(
            (copy.production_variant, copy.minute),
            copy.production_answer,
            copy.production_us,
            shadow,
            reply.model_latency_us if reply.model_latency_us is not None else took_us,
        )

    def answer(self, request: wire.Request) -> wire.Reply:
        try:
            rows = parse_rows(request.body, request.content_type)
        except ShipyardError as exc:
            return refused(request, exc)
        return self.predict_one(Parsed(request, rows))

    def predict_one(self, parsed: Parsed) -> wire.Reply:
        started = time.perf_counter()
        try:
            result = self.model.predict(parsed.rows)
        except ShipyardError as exc:
            return refused(parsed.request, exc)
        except Exception as exc:  # the model's own failure: the host logs the traceback
            return model_error(parsed.request, exc)
        model_us = (time.perf_counter() - started) * 1e6
        return rendered(parsed.request, result, model_us)

    def predict_together(self, batch: list[Parsed]) -> list[wire.Reply]:
        """One prediction for requests whose frames have the same columns; each request
        alone when the batch fails (so one bad request fails only itself)."""
        if len(batch) == 1:
            return [self.predict_one(batch[0])]
        started = time.perf_counter()
        try:
            result = self.model.predict(stack([item.rows for item in batch]))
        except Exception:
            return [self.predict_one(item) for item in batch]
        model_us = (time.perf_counter() - started) * 1e6
        sizes = [len(item.rows) for item in batch]
        parts = split_rows(result, sizes)
        if parts is None:  # an answer that is not one value per row: each on its own
            return [self.predict_one(item) for item in batch]
        return [
            rendered(item.request, part, model_us) for item, part in zip(batch, parts, strict=True)
        ]


def split_rows(result: dict[str, Any], sizes: list[int]) -> list[dict[str, Any]] | None:
    """``result`` cut into one answer per request (``sizes`` rows each); None when some
    output is not a list of one value per row."""
    total = sum(sizes)
    if not all(isinstance(v, list) and len(v) == total for v in result.values()):
        return None
    parts = []
    start = 0
    for size in sizes:
        parts.append({key: values[start : start + size] for key, values in result.items()})
        start += size
    return parts


def rendered(request: wire.Request, result: dict[str, Any], model_us: float) -> wire.Reply:
    try:
        body, content_type = render(result, request.accept)
    except ShipyardError as exc:
        return refused(request, exc)
    return wire.Reply(request.id, 200, model_us, content_type, body)


def refused(request: wire.Request, exc: ShipyardError) -> wire.Reply:
    return wire.error_reply(request.id, exc.status_code, {"code": exc.code, "message": exc.message})


def model_error(request: wire.Request, exc: Exception) -> wire.Reply:
    return wire.error_reply(
        request.id,
        500,
        {
            "code": "ModelError",
            "message": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc().rstrip(),
        },
    )


class Batcher:
    """Requests parsed but not predicted yet, predicted together when the instance gets to
    them: at once when nothing else is waiting (``max_wait_ms`` 0), or after up to
    ``max_wait_ms``; as soon as ``max_batch_size`` rows wait."""

    def __init__(
        self,
        answerer: Answerer,
        loop: asyncio.AbstractEventLoop,
        max_batch_size: int,
        max_wait_ms: float,
    ) -> None:
        self.answerer = answerer
        self.loop = loop
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self._waiting: list[tuple[asyncio.Transport, Parsed]] = []
        self._rows = 0
        self._flush: asyncio.Handle | None = None

    def add(self, transport: asyncio.Transport, request: wire.Request) -> None:
        try:
            rows = parse_rows(request.body, request.content_type)
        except ShipyardError as exc:
            transport.write(wire.encode_reply(refused(request, exc)))
            return
        self._waiting.append((transport, Parsed(request, rows)))
        self._rows += len(rows)
        if self._rows >= self.max_batch_size:
            self.flush()
        elif self._flush is None:
            self._flush = (
                self.loop.call_later(self.max_wait_s, self.flush)
                if self.max_wait_s
                else self.loop.call_soon(self.flush)
            )

    def flush(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        waiting, self._waiting, self._rows = self._waiting, [], 0
        by_columns: dict[tuple[Any, ...], list[tuple[asyncio.Transport, Parsed]]] = {}
        for item in waiting:
            by_columns.setdefault(columns_of(item[1].rows), []).append(item)
        by_transport: dict[asyncio.Transport, list[bytes]] = {}
        for group in by_columns.values():
            replies = self.answerer.predict_together([parsed for _, parsed in group])
            for (transport, _), reply in zip(group, replies, strict=True):
                by_transport.setdefault(transport, []).append(wire.encode_reply(reply))
        for transport, encoded in by_transport.items():  # one write per connection
            if not transport.is_closing():
                transport.write(b"".join(encoded))


class InstanceProtocol(asyncio.Protocol):
    """One connection from the host: each request answered as it arrives (or batched)."""

    def __init__(self, answerer: Answerer, batcher: Batcher | None) -> None:
        self.answerer = answerer
        self.batcher = batcher
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (uvloop's are not subclasses of asyncio's)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        # the answers to what came in together go back in one write: one system call, and
        # one wake-up of the host, for them all
        replies = []
        for frame in wire.take_frames(self.buffer):
            request = wire.decode_request(frame)
            if self.batcher is not None and request.kind == wire.INVOKE:
                self.batcher.add(self.transport, request)
                continue
            reply = self.answerer.reply_to(request)
            if reply is not None:
                replies.append(wire.encode_reply(reply))
        if replies:
            self.transport.write(replies[0] if len(replies) == 1 else b"".join(replies))
