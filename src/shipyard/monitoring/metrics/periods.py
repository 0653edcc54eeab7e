"""The periods of a query: their merged statistics as columns, and their samples for the
percentiles, filled from the rows a query reads and turned into one column per statistic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from shipyard.monitoring.metrics.histograms import PeriodSamples

Column = Sequence[float | None]


class Periods:
    """The statistics of each period that has data, as columns in the order first seen.

    ``add`` merges a row the way a period's aggregate does (counts and sums added, the
    extremes kept); ``add_samples`` keeps weighted samples (histogram buckets or exact
    values) for the percentiles, each naming its period by position.
    """

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.counts: list[float] = []
        self.sums: list[float] = []
        self.minimums: list[float] = []
        self.maximums: list[float] = []
        self.units: list[str | None] = []
        self.positions: dict[int, int] = {}
        self._samples: list[tuple[ArrayLike, ArrayLike, ArrayLike]] = []

    def __len__(self) -> int:
        return len(self.starts)

    def add(
        self, start: int, count: float, total: float, low: float, high: float, unit: Any
    ) -> int:
        """Merge one row's statistics into its period; returns the period's position."""
        position = self.positions.get(start)
        if position is None:
            position = self.positions[start] = len(self.starts)
            self.starts.append(start)
            self.counts.append(count)
            self.sums.append(total)
            self.minimums.append(low)
            self.maximums.append(high)
            self.units.append(unit)
        else:
            self.counts[position] += count
            self.sums[position] += total
            self.minimums[position] = min(self.minimums[position], low)
            self.maximums[position] = max(self.maximums[position], high)
        return position

    def add_rows(self, starts: list[int], rows: Sequence[Sequence[Any]]) -> list[int]:
        """Merge rows of (…, count, sum, minimum, maximum, unit) starting at column 1, each
        into the period starting at ``starts[i]``; returns each row's position."""
        if not self.starts and len(set(starts)) == len(starts):
            # one row per period into no periods yet (a GROUP BY, a roll-up per period):
            # the rows are the columns
            self.starts = starts
            self.counts = [row[1] for row in rows]
            self.sums = [row[2] for row in rows]
            self.minimums = [row[3] for row in rows]
            self.maximums = [row[4] for row in rows]
            self.units = [row[5] for row in rows]
            self.positions = {start: i for i, start in enumerate(starts)}
            return list(range(len(starts)))
        add = self.add
        return [add(start, *row[1:6]) for start, row in zip(starts, rows, strict=True)]

    def add_samples(self, owners: ArrayLike, values: ArrayLike, weights: ArrayLike) -> None:
        """Weighted samples, the i-th of the period at position ``owners[i]`` (lists or
        arrays of one length)."""
        self._samples.append((owners, values, weights))

    def samples(self) -> PeriodSamples:
        def joined(index: int, dtype: type) -> np.ndarray:
            parts: list[np.ndarray] = [
                np.asarray(chunk[index], dtype=dtype) for chunk in self._samples
            ]
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        return PeriodSamples(
            joined(0, np.intp), joined(1, np.float64), joined(2, np.float64), len(self)
        )

    def order(self) -> list[int]:
        """The positions, oldest period first."""
        return sorted(range(len(self.starts)), key=self.starts.__getitem__)

    def columns(self, wanted: Sequence[str], *, exact: bool) -> list[tuple[str, Column]]:
        """Each statistic of ``wanted`` (checked names) as a column over the positions, None
        where a period has no value for it. Percentiles are exact from exact values, else
        read from the histograms and clamped to each period's minimum and maximum."""
        columns: dict[str, Column] = {}
        samples: PeriodSamples | None = None
        for statistic in wanted:
            if statistic in columns:
                continue
            if statistic == "SampleCount":
                columns[statistic] = self.counts
            elif statistic == "Sum":
                columns[statistic] = self.sums
            elif statistic == "Average":
                columns[statistic] = [s / c for s, c in zip(self.sums, self.counts, strict=True)]
            elif statistic == "Minimum":
                columns[statistic] = self.minimums
            elif statistic == "Maximum":
                columns[statistic] = self.maximums
            else:
                if samples is None:
                    samples = self.samples()
                q = float(statistic[1:])
                columns[statistic] = (
                    samples.exact_percentile(q)
                    if exact
                    else samples.percentile(q, self.minimums, self.maximums)
                )
        return list(columns.items())
