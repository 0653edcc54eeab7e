"""A compact, mergeable histogram: fixed log-scale buckets with about 1 % relative error.

A value v > 0 falls in bucket ``ceil(log(v) / log(GAMMA))`` (keys "+i"), a negative one in
"-i" of its magnitude, and anything within ``ZERO`` of 0 in "0". Every value of a bucket is
within ``RELATIVE_ERROR`` of the bucket's representative, so a percentile read from merged
histograms is within that error of the exact one (the DDSketch construction). Merging is
adding counts, so roll-ups of roll-ups stay exact in count and bounded in error.

A query reads percentiles of many periods at once: ``PeriodSamples`` holds the weighted
samples (histogram buckets or exact values) of every period in flat arrays and finds each
period's nearest rank with numpy, with the same rule as ``percentile`` and
``exact_percentile`` for one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

import numpy as np

RELATIVE_ERROR = 0.01
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
LOG_GAMMA = math.log(GAMMA)
ZERO = 1e-12
RANK_TOLERANCE = 1e-9  # a running count this close to a rank reaches it

Histogram = dict[str, float]


def bucket_key(value: float) -> str:
    magnitude = abs(value)
    if magnitude < ZERO:
        return "0"
    index = math.ceil(math.log(magnitude) / LOG_GAMMA)
    return f"{'+' if value > 0 else '-'}{index}"


@lru_cache(maxsize=65_536)  # a few thousand keys cover any real range; reads look up many
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
        if seen >= rank - RANK_TOLERANCE:
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
        if seen >= rank - RANK_TOLERANCE:
            return value
    return ordered[-1][0]


class PeriodSamples:
    """The weighted samples of many periods (numbered 0..periods-1), sorted per period.

    Ranks are counted on running sums of the weights: exactly as ``percentile`` does for
    whole-number counts (every count a roll-up or a value makes); fractional counts may
    differ from a one-period loop in the last bits of a sum, never in the rule.
    """

    def __init__(
        self,
        owners: Sequence[int] | np.ndarray,
        values: Sequence[float] | np.ndarray,
        counts: Sequence[float] | np.ndarray,
        periods: int,
    ) -> None:
        owner = np.asarray(owners, dtype=np.intp)
        value = np.asarray(values, dtype=np.float64)
        count = np.asarray(counts, dtype=np.float64)
        positive = count > 0
        if not positive.all():
            owner, value, count = owner[positive], value[positive], count[positive]
        order = np.lexsort((value, owner))
        self._owner, self._value = owner[order], value[order]
        self._sizes = np.bincount(self._owner, minlength=periods)
        ends = np.cumsum(self._sizes)
        self._starts = ends - self._sizes
        running = np.cumsum(count[order])
        before = np.concatenate(([0.0], running))[self._starts]
        self._within = running - before[self._owner]
        self.totals = np.concatenate(([0.0], running))[ends] - before
        self._any = self.totals > 0

    def percentile(
        self, q: float, minimum: Sequence[float], maximum: Sequence[float]
    ) -> list[float | None]:
        """``percentile`` of each period's histogram, clamped to its exact [minimum, maximum]."""
        low, high = np.asarray(minimum, dtype=np.float64), np.asarray(maximum, dtype=np.float64)
        if q <= 0:
            found = low
        elif q >= 100:
            found = high
        else:
            hit, ranked = self._ranked(q)
            found = np.clip(np.where(hit, ranked, high), low, high)
        return self._where_any(found)

    def exact_percentile(self, q: float) -> list[float | None]:
        """``exact_percentile`` of each period's values."""
        if not len(self._value):
            return [None] * len(self._sizes)
        first = self._value[np.minimum(self._starts, len(self._value) - 1)]
        if q <= 0:
            return self._where_any(first)
        last = self._value[np.maximum(self._starts + self._sizes - 1, 0)]
        hit, ranked = self._ranked(q)
        return self._where_any(np.where(hit, ranked, last))

    def _ranked(self, q: float) -> tuple[np.ndarray, np.ndarray]:
        """Per period: whether a sample reaches rank q, and the first that does."""
        threshold = q / 100 * self.totals - RANK_TOLERANCE
        # running sums only grow within a period: the samples short of the rank come first
        short = np.bincount(
            self._owner[self._within < threshold[self._owner]], minlength=len(self._sizes)
        )
        hit = short < self._sizes
        if not len(self._value):
            return hit, np.zeros(len(self._sizes))
        return hit, self._value[np.minimum(self._starts + short, len(self._value) - 1)]

    def _where_any(self, found: np.ndarray) -> list[float | None]:
        return [
            v if has else None for v, has in zip(found.tolist(), self._any.tolist(), strict=True)
        ]
