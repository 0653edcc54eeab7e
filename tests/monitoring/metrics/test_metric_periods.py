"""The read path's many-periods-at-once pieces against their one-period rules: percentiles
of ``PeriodSamples`` against ``percentile`` / ``exact_percentile``, and the datapoints that
``new_statistic_datapoint`` builds against pydantic's own."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from shipyard.monitoring.metrics import histograms
from shipyard.monitoring.metrics.schemas import StatisticDatapoint, new_statistic_datapoint

QS = (0.0, 0.1, 1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 100.0)


def random_periods(
    seed: int, periods: int, *, whole_counts: bool
) -> list[list[tuple[float, float]]]:
    """Weighted samples per period: some periods empty, some counts zero, ties of values."""
    rng = np.random.default_rng(seed)
    made = []
    for _ in range(periods):
        size = int(rng.integers(0, 12))
        values = np.round(rng.lognormal(2.0, 1.5, size) * rng.choice([-1, 1], size), 1)
        if whole_counts:
            counts = rng.integers(0, 5, size).astype(float)
        else:
            counts = rng.integers(0, 8, size) / 4  # quarters: exact in binary
        made.append(list(zip(values.tolist(), counts.tolist(), strict=True)))
    return made


def flat(samples: list[list[tuple[float, float]]]) -> tuple[list[int], list[float], list[float]]:
    owners = [i for i, pairs in enumerate(samples) for _ in pairs]
    values = [v for pairs in samples for v, _ in pairs]
    counts = [c for pairs in samples for _, c in pairs]
    return owners, values, counts


@pytest.mark.parametrize("whole_counts", [True, False])
def test_exact_percentiles_follow_the_one_period_rule(whole_counts: bool) -> None:
    periods = random_periods(3, 300, whole_counts=whole_counts)
    samples = histograms.PeriodSamples(*flat(periods), len(periods))
    for q in QS:
        expected = [histograms.exact_percentile(pairs, q) for pairs in periods]
        assert samples.exact_percentile(q) == expected, q


@pytest.mark.parametrize("whole_counts", [True, False])
def test_histogram_percentiles_follow_the_one_period_rule(whole_counts: bool) -> None:
    periods = random_periods(5, 300, whole_counts=whole_counts)
    merged = [histograms.of_values(pairs) for pairs in periods]
    # the samples of a period as its histograms' buckets, a key seen in several pieces
    owners, values, counts = [], [], []
    for position, histogram in enumerate(merged):
        for key, count in histogram.items():
            for part in (count / 2, count / 2):
                owners.append(position)
                values.append(histograms.bucket_value(key))
                counts.append(part)
    minimum = [min((v for v, _ in p), default=0.0) for p in periods]
    maximum = [max((v for v, _ in p), default=0.0) for p in periods]
    samples = histograms.PeriodSamples(owners, values, counts, len(periods))
    for q in QS:
        expected = [
            histograms.percentile(h, q, low, high)
            for h, low, high in zip(merged, minimum, maximum, strict=True)
        ]
        assert samples.percentile(q, minimum, maximum) == expected, q


def test_no_samples_no_percentiles() -> None:
    samples = histograms.PeriodSamples([], [], [], 3)
    assert samples.exact_percentile(50) == [None, None, None]
    assert samples.percentile(99, [1.0] * 3, [2.0] * 3) == [None, None, None]


def test_a_built_datapoint_is_the_one_pydantic_builds() -> None:
    at = datetime(2026, 12, 2, 4, 30, tzinfo=UTC)
    fields = {"timestamp": at, "sample_count": 3.0, "values": {"p99": 2.5}, "unit": "Seconds"}
    built = new_statistic_datapoint(at, 3.0, {"p99": 2.5}, "Seconds")
    constructed = StatisticDatapoint.model_construct(**fields)
    assert built == constructed == StatisticDatapoint.model_validate(fields)
    assert built.model_fields_set == constructed.model_fields_set
    assert built.model_dump_json() == constructed.model_dump_json()
    built.unit = None  # an instance of its own: setting a field touches no other
    assert new_statistic_datapoint(at, 3.0, {}, "Seconds").model_fields_set == set(fields)
