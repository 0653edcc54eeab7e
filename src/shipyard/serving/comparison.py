"""How a shadow's answers compare with production's: the tallies a shadow's instance keeps
of the copies it answered, and how they add up.

A tally counts, per production variant and minute, the requests compared, the shadow's
errors, the rows that agreed, the absolute difference of numeric predictions, and both
latencies as histograms (microseconds in buckets of ×1.2: percentiles within 10%). The
shadow's instance fills them (:class:`Comparisons`), the host collects them about once a
second and writes them to ``shadow_comparisons``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

BUCKET_BASE = 1.2
MAX_BUCKET = 120  # 1.2**120 µs is about 9 hours


@dataclass
class Tally:
    requests: int = 0
    shadow_errors: int = 0
    rows: int = 0
    agreed_rows: int = 0
    numeric_rows: int = 0
    absolute_difference: float = 0.0
    production_latency: dict[int, int] = field(default_factory=dict)
    shadow_latency: dict[int, int] = field(default_factory=dict)

    def add_request(self, production_us: float, shadow_us: float) -> None:
        self.requests += 1
        count_into(self.production_latency, production_us)
        count_into(self.shadow_latency, shadow_us)

    def add_failure(self, production_us: float) -> None:
        """A copy the shadow never got (none of its instances was up): an error with no
        latency of its own."""
        self.requests += 1
        self.shadow_errors += 1
        count_into(self.production_latency, production_us)

    def compare(self, production: list[Any], shadow: list[Any]) -> None:
        for ours, theirs in zip(production, shadow, strict=False):
            self.rows += 1
            self.agreed_rows += ours == theirs
            if _is_number(ours) and _is_number(theirs):
                self.numeric_rows += 1
                self.absolute_difference += abs(float(ours) - float(theirs))

    def merged(self, other: Tally) -> Tally:
        return Tally(
            self.requests + other.requests,
            self.shadow_errors + other.shadow_errors,
            self.rows + other.rows,
            self.agreed_rows + other.agreed_rows,
            self.numeric_rows + other.numeric_rows,
            self.absolute_difference + other.absolute_difference,
            _int_keys(sum_histograms(self.production_latency, other.production_latency)),
            _int_keys(sum_histograms(self.shadow_latency, other.shadow_latency)),
        )

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Tally:
        fields = dict(document)
        for histogram in ("production_latency", "shadow_latency"):
            fields[histogram] = _int_keys(fields[histogram])
        return cls(**fields)


ComparisonKey = tuple[str, int]
"""The production variant and the minute (seconds since the epoch) of the copies."""


class Comparisons:
    """The tallies of one shadow instance since they were last taken."""

    def __init__(self) -> None:
        self._tallies: dict[ComparisonKey, Tally] = {}

    def add(
        self,
        key: ComparisonKey,
        production: tuple[bytes, str],
        production_us: float,
        shadow: tuple[bytes, str] | None,
        shadow_us: float,
    ) -> None:
        """One copy: production's answer (body, content type) and the shadow's, None when
        the shadow failed on it."""
        tally = self._tallies.setdefault(key, Tally())
        tally.add_request(production_us, shadow_us)
        answer = _predictions_or_none(shadow)
        if answer is None:
            tally.shadow_errors += 1
            return
        expected = _predictions_or_none(production)
        if expected is not None:  # an answer of production's that holds no predictions
            tally.compare(expected, answer)

    def take(self) -> bytes:
        """Every tally as JSON (``[{production_variant, minute, **tally}]``), then none."""
        taken, self._tallies = self._tallies, {}
        return json.dumps(
            [
                {"production_variant": variant, "minute": minute, **asdict(tally)}
                for (variant, minute), tally in taken.items()
            ]
        ).encode()


def tallies_of(body: bytes) -> list[tuple[ComparisonKey, Tally]]:
    """What :meth:`Comparisons.take` sent, as keys and tallies."""
    found = []
    for document in json.loads(body):
        key = (document.pop("production_variant"), int(document.pop("minute")))
        found.append((key, Tally.from_document(document)))
    return found


def predictions_of(body: bytes, content_type: str) -> list[Any]:
    """The predictions of an answer: a JSON answer's ``predictions``, or a CSV answer's
    lines (as numbers where they are)."""
    if content_type.startswith("text/csv"):
        return [_number_or_text(line) for line in body.decode().splitlines()]
    document = json.loads(body)
    predictions = document.get("predictions", []) if isinstance(document, dict) else []
    return list(predictions)


def count_into(histogram: dict[int, int], microseconds: float) -> None:
    bucket = min(MAX_BUCKET, max(0, int(math.log(max(microseconds, 1.0), BUCKET_BASE))))
    histogram[bucket] = histogram.get(bucket, 0) + 1


def bucket_microseconds(bucket: int) -> float:
    """The upper bound of a histogram bucket."""
    return float(BUCKET_BASE ** (bucket + 1))


def sum_histograms(a: Mapping[Any, int], b: Mapping[Any, int]) -> dict[str, int]:
    """Histograms as stored (JSON: string keys)."""
    total = {str(k): v for k, v in a.items()}
    for bucket, count in b.items():
        total[str(bucket)] = total.get(str(bucket), 0) + count
    return total


def _predictions_or_none(answer: tuple[bytes, str] | None) -> list[Any] | None:
    if answer is None:
        return None
    try:
        return predictions_of(*answer)
    except (ValueError, TypeError):  # not JSON or CSV, or predictions that are no list
        return None


def _int_keys(histogram: Mapping[Any, int]) -> dict[int, int]:
    return {int(k): v for k, v in histogram.items()}


def _number_or_text(value: str) -> Any:
    try:
        return float(value)
    except ValueError:
        return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
