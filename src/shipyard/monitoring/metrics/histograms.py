"""A compact, mergeable histogram: fixed log-scale buckets with about 1 % relative error.

A value v > 0 falls in bucket ``ceil(log(v) / log(GAMMA))`` (keys "+i"), a negative one in
"-i" of its magnitude, and anything within ``ZERO`` of 0 in "0". Every value of a bucket is
within ``RELATIVE_ERROR`` of the bucket's representative, so a percentile read from merged
histograms is within that error of the exact one (the DDSketch construction). Merging is
adding counts, so roll-ups of roll-ups stay exact in count and bounded in error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

RELATIVE_ERROR = 0.01
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
LOG_GAMMA = math.log(GAMMA)
ZERO = 1e-12

Histogram = dict[str, float]


def bucket_key(value: float) -> str:
    magnitude = abs(value)
    if magnitude < ZERO:
        return "0"
    index = math.ceil(math.log(magnitude) / LOG_GAMMA)
    return f"{'+' if value > 0 else '-'}{index}"


def bucket_value(key: str) -> float:
    """The representative of a bucket: the value with the least relative error to all in it."""
    if key == "0":
        return 0.0
    index = int(key[1:])
    magnitude = 2 * GAMMA**index / (GAMMA + 1)
    return magnitude if key[0] == "+" else -magnitude


def add(histogram: Histogram, value: float, count: float = 1.0) -> None:
    key = bucket_key(value)
    histogram[key] = histogram.get(key, 0.0) + count


def merge(into: Histogram, other: Mapping[str, float]) -> None:
    for key, count in other.items():
        into[key] = into.get(key, 0.0) + count


def of_values(pairs: Iterable[tuple[float, float]]) -> Histogram:
    histogram: Histogram = {}
    for value, count in pairs:
        add(histogram, value, count)
    return histogram


def percentile(
    histogram: Mapping[str, float], q: float, minimum: float, maximum: float
) -> float | None:
    """The nearest-rank q-th percentile (0-100), clamped to the exact [minimum, maximum]."""
    buckets = sorted(((bucket_value(k), c) for k, c in histogram.items() if c > 0))
    total = sum(c for _, c in buckets)
    if total <= 0:
        return None
    if q <= 0:
        return minimum
    if q >= 100:
        return maximum
    rank = q / 100 * total
    seen = 0.0
    for value, count in buckets:
        seen += count
        if seen >= rank - 1e-9:
            return min(max(value, minimum), maximum)
    return maximum


def exact_percentile(pairs: list[tuple[float, float]], q: float) -> float | None:
    """The nearest-rank percentile of weighted values (numpy's ``method="inverted_cdf"``)."""
    ordered = sorted(p for p in pairs if p[1] > 0)
    total = sum(c for _, c in ordered)
    if total <= 0:
        return None
    if q <= 0:
        return ordered[0][0]
    rank = q / 100 * total
    seen = 0.0
    for value, count in ordered:
        seen += count
        if seen >= rank - 1e-9:
            return value
    return ordered[-1][0]
