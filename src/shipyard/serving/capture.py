"""Data capture: a sampled share of an endpoint's requests and responses, as JSON lines in
the artifact store, partitioned by hour:
``captures/<endpoint>/<variant>/<yyyy>/<mm>/<dd>/<hh>/<mmssffffff>-<id>.jsonl``.

The request path only appends a record to a bounded list (``CaptureWriter.add``; past
``max_pending`` records one is dropped and counted), so capture never blocks or fails a
request. A flusher writes what was added about once a second, one object per endpoint,
variant and hour; a failed write keeps the records for the next flush. The model monitor
and human review read them back with :func:`read_records`.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from shipyard.core.artifacts import BaseArtifactStore
from shipyard.core.clock import utcnow
from shipyard.core.errors import ValidationError
from shipyard.core.flusher import Flusher
from shipyard.serving.schemas import CapturedRecord, DataCaptureConfig

log = logging.getLogger(__name__)
PREFIX = "captures"
MAX_HOURS_READ = 24 * 31
Partition = tuple[str, str, str]  # endpoint, variant, hour directory


def encoded(content: bytes, content_type: str) -> dict[str, str]:
    """A body as a record holds it: JSON and CSV as text, anything else base64."""
    media = content_type.split(";")[0].strip().lower()
    try:
        text = content.decode()
    except UnicodeDecodeError:
        text = None
    if text is not None and media == "application/json":
        return {"content_type": media, "encoding": "JSON", "data": text}
    if text is not None and media == "text/csv":
        return {"content_type": media, "encoding": "CSV", "data": text}
    return {
        "content_type": media,
        "encoding": "BASE64",
        "data": base64.b64encode(content).decode(),
    }


def hour_directory(endpoint: str, variant: str, moment: datetime) -> str:
    return f"{PREFIX}/{endpoint}/{variant}/{moment:%Y/%m/%d/%H}"


class CaptureWriter(Flusher):
    def __init__(
        self, store: BaseArtifactStore, *, flush_seconds: float = 1.0, max_pending: int = 10_000
    ) -> None:
        super().__init__(flush_seconds, "data-capture")
        self.store = store
        self.max_pending = max_pending
        self.dropped = 0
        self._pending: list[tuple[Partition, str]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()

    def add(
        self,
        endpoint: str,
        variant: str,
        config: DataCaptureConfig,
        *,
        request: tuple[bytes, str],
        response: tuple[bytes, str],
        model_latency_us: float | None,
    ) -> None:
        """Keep one invocation for the next flush (the caller sampled it)."""
        at = utcnow()
        record: dict[str, Any] = {
            "event_id": uuid.uuid4().hex,
            "inference_time": at.isoformat(),
            "endpoint_name": endpoint,
            "variant_name": variant,
            "model_latency_ms": None if model_latency_us is None else model_latency_us / 1000,
        }
        if "Input" in config.capture_options:
            record["input"] = encoded(*request)
        if "Output" in config.capture_options:
            record["output"] = encoded(*response)
        line = json.dumps(record, separators=(",", ":"))
        partition = (endpoint, variant, hour_directory(endpoint, variant, at))
        with self._lock:
            if len(self._pending) >= self.max_pending:
                self.dropped += 1
                return
            self._pending.append((partition, line))

    def flush(self) -> int:
        with self._flush_lock:
            with self._lock:
                taken, self._pending = self._pending, []
            if not taken:
                return 0
            by_partition: dict[Partition, list[str]] = {}
            for partition, line in taken:
                by_partition.setdefault(partition, []).append(line)
            written = 0
            for partition, lines in by_partition.items():
                try:
                    self._write(partition, lines)
                    written += len(lines)
                except Exception:
                    log.exception("writing %d captured records failed; keeping them", len(lines))
                    with self._lock:
                        self._pending = [(partition, line) for line in lines] + self._pending
            return written

    def _write(self, partition: Partition, lines: list[str]) -> None:
        _, _, directory = partition
        name = f"{utcnow():%M%S%f}-{uuid.uuid4().hex[:12]}.jsonl"  # sorts as written
        self.store.put_bytes(f"{directory}/{name}", ("\n".join(lines) + "\n").encode())


def read_records(
    store: BaseArtifactStore,
    endpoint: str,
    start: datetime,
    end: datetime,
    *,
    variant: str | None = None,
    limit: int = 1000,
) -> tuple[list[CapturedRecord], int]:
    """The captured records of ``endpoint`` with ``start <= inference_time < end`` (at most
    ``limit``, oldest hour first), and how many files were read."""
    if end <= start:
        raise ValidationError("must be after start_time", "end_time")
    if end - start > timedelta(hours=MAX_HOURS_READ):
        raise ValidationError(f"at most {MAX_HOURS_READ // 24} days at a time", "start_time")
    records: list[CapturedRecord] = []
    files = 0
    for key in _files(store, endpoint, variant, start, end):
        files += 1
        for line in store.get_bytes(key).decode().splitlines():
            record = CapturedRecord.model_validate_json(line)
            if start <= record.inference_time < end:
                records.append(record)
        if len(records) >= limit:
            break
    # several processes (and flushes) write an hour's files side by side
    records.sort(key=lambda r: r.inference_time)
    return records[:limit], files


def _files(
    store: BaseArtifactStore,
    endpoint: str,
    variant: str | None,
    start: datetime,
    end: datetime,
) -> Iterator[str]:
    variants = [variant] if variant else _variants(store, endpoint)
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour < end:
        for name in variants:
            yield from store.list(hour_directory(endpoint, name, hour))
        hour += timedelta(hours=1)


def _variants(store: BaseArtifactStore, endpoint: str) -> list[str]:
    prefix = f"{PREFIX}/{endpoint}"
    return sorted({key[len(prefix) + 1 :].split("/", 1)[0] for key in store.list(prefix)})
