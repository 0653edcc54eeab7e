"""The store on SQLite and PostgreSQL: statistics and percentiles against numpy, roll-ups
against raw, retention, and the bad input the service refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from shipyard.core.clock import utcnow
from shipyard.core.db import Database
from shipyard.core.errors import InvalidState, ValidationError
from shipyard.monitoring.metrics import histograms, service
from shipyard.monitoring.metrics.datapoints import insert_datapoints
from shipyard.monitoring.metrics.histograms import RELATIVE_ERROR
from shipyard.monitoring.metrics.schemas import MetricDatum, StatisticSet

NAMESPACE = "App/Checkout"
DIMENSIONS = {"Service": "api", "Region": "local"}
PERCENTILES = ("p0", "p10", "p50", "p90", "p99", "p99.9", "p100")


def hour_ago_aligned(hours: float) -> datetime:
    """A moment ``hours`` ago, on a whole hour so that every period starts in the data."""
    moment = utcnow() - timedelta(hours=hours)
    return moment.replace(minute=0, second=0, microsecond=0)


def put_series(db: Database, start: datetime, values: np.ndarray, step_s: float) -> None:
    data = [
        MetricDatum(
            metric_name="Latency",
            dimensions=DIMENSIONS,
            value=float(value),
            unit="Milliseconds",
            timestamp=start + timedelta(seconds=i * step_s),
        )
        for i, value in enumerate(values)
    ]
    with db.session_scope() as session:
        for first in range(0, len(data), 1000):
            assert service.put_metric_data(session, NAMESPACE, data[first : first + 1000]) == len(
                data[first : first + 1000]
            )


def statistics(
    db: Database, start: datetime, end: datetime, period: int, now: datetime | None = None
) -> list:
    with db.session_scope() as session:
        return service.get_metric_statistics(
            session,
            namespace=NAMESPACE,
            metric_name="Latency",
            dimensions=dict(reversed(DIMENSIONS.items())),  # any order names the same series
            start_time=start,
            end_time=end,
            period=period,
            statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum", *PERCENTILES],
            now=now,
        )


def test_statistics_and_percentiles_match_numpy(database: Database) -> None:
    rng = np.random.default_rng(7)
    start = hour_ago_aligned(2)
    values = rng.lognormal(3.0, 0.8, 3600)  # one per second for an hour
    put_series(database, start, values, 1.0)
    points = statistics(database, start, start + timedelta(hours=1), 600)
    assert len(points) == 6
    for index, point in enumerate(points):
        assert point.timestamp == start + timedelta(minutes=10 * index)
        chunk = values[index * 600 : (index + 1) * 600]
        assert point.sample_count == 600 == point.values["SampleCount"]
        assert point.values["Sum"] == pytest.approx(chunk.sum())
        assert point.values["Average"] == pytest.approx(chunk.mean())
        assert point.values["Minimum"] == chunk.min() and point.values["Maximum"] == chunk.max()
        for name in PERCENTILES:
            expected = np.percentile(chunk, float(name[1:]), method="inverted_cdf")
            assert point.values[name] == pytest.approx(expected), name
        assert point.unit == "Milliseconds"


def test_values_with_counts_and_statistic_sets(database: Database) -> None:
    start = hour_ago_aligned(1)
    data = [
        MetricDatum(metric_name="Size", values=[1.0, 2.0, 10.0], counts=[5, 3, 2], timestamp=start),
        MetricDatum(
            metric_name="Size",
            statistic_values=StatisticSet(sample_count=10, sum=100, minimum=0.5, maximum=40),
            timestamp=start + timedelta(seconds=5),
        ),
    ]
    with database.session_scope() as session:
        service.put_metric_data(session, NAMESPACE, data)
        [point] = service.get_metric_statistics(
            session,
            namespace=NAMESPACE,
            metric_name="Size",
            dimensions={},
            start_time=start,
            end_time=start + timedelta(minutes=1),
            period=60,
            statistics=["SampleCount", "Sum", "Minimum", "Maximum", "p50"],
        )
    assert point.values["SampleCount"] == 20 and point.values["Sum"] == 5 + 6 + 20 + 100
    assert point.values["Minimum"] == 0.5 and point.values["Maximum"] == 40
    assert point.values["p50"] == 1.0  # from the values only: a statistic set has none


def test_roll_ups_answer_as_raw_within_the_histogram_error(database: Database) -> None:
    rng = np.random.default_rng(11)
    start = hour_ago_aligned(6)
    values = rng.gamma(2.0, 50.0, 7200)  # one every 2 s for four hours
    put_series(database, start, values, 2.0)
    end = start + timedelta(hours=4)
    as_raw = statistics(database, start, end, 3600, now=start + timedelta(hours=1))
    service.maintain(database, now=utcnow() + timedelta(minutes=1))
    service.maintain(database, now=utcnow() + timedelta(minutes=1))  # idempotent
    rolled = statistics(database, start, end, 3600)
    assert len(as_raw) == len(rolled) == 4
    for raw, rollup in zip(as_raw, rolled, strict=True):
        assert raw.timestamp == rollup.timestamp
        for name in ("SampleCount", "Minimum", "Maximum"):
            assert rollup.values[name] == raw.values[name]
        for name in ("Sum", "Average"):
            assert rollup.values[name] == pytest.approx(raw.values[name])
        for name in PERCENTILES:
            assert rollup.values[name] == pytest.approx(raw.values[name], rel=RELATIVE_ERROR * 1.01)
    # and at one minute: every minute of roll-ups agrees with numpy within the error
    minutes = statistics(database, start, end, 60)
    assert len(minutes) == 240
    assert minutes[7].values["p50"] == pytest.approx(
        np.percentile(values[7 * 30 : 8 * 30], 50, method="inverted_cdf"), rel=0.0101
    )


def test_late_data_counts_once_rolled_up(database: Database) -> None:
    start = hour_ago_aligned(5)
    put_series(database, start, np.array([1.0, 2.0]), 1.0)
    service.maintain(database, now=utcnow() + timedelta(minutes=1))
    put_series(database, start, np.array([3.0]), 1.5)  # late: its minute is rolled up
    [before] = statistics(database, start, start + timedelta(minutes=1), 60)
    service.maintain(database, now=utcnow() + timedelta(minutes=1))
    [after] = statistics(database, start, start + timedelta(minutes=1), 60)
    assert before.values["SampleCount"] == after.values["SampleCount"] == 3
    assert before.values["Sum"] == after.values["Sum"] == 6


def test_percentiles_merge_roll_ups_with_raw_rows_not_yet_in_them(database: Database) -> None:
    start = hour_ago_aligned(5)
    put_series(database, start, np.array([4.0, 8.0, 15.0]), 10.0)
    service.maintain(database, now=utcnow() + timedelta(minutes=1))
    late = [
        MetricDatum(
            metric_name="Latency",
            dimensions=DIMENSIONS,
            values=[16.0, 23.0, 42.0],
            counts=[2, 1, 3],
            unit="Milliseconds",
            timestamp=start + timedelta(seconds=40),
        ),
        MetricDatum(
            metric_name="Latency",
            dimensions=DIMENSIONS,
            statistic_values=StatisticSet(sample_count=4, sum=12, minimum=1, maximum=5),
            unit="Milliseconds",
            timestamp=start + timedelta(seconds=50),
        ),
    ]
    with database.session_scope() as session:
        service.put_metric_data(session, NAMESPACE, late)
    [point] = statistics(database, start, start + timedelta(minutes=1), 60)
    samples = [(4.0, 1.0), (8.0, 1.0), (15.0, 1.0), (16.0, 2.0), (23.0, 1.0), (42.0, 3.0)]
    histogram = histograms.of_values(samples)
    assert point.values["SampleCount"] == 13 and point.values["Sum"] == 27 + 32 + 23 + 126 + 12
    assert point.values["Minimum"] == 1 and point.values["Maximum"] == 42
    for name in PERCENTILES:  # the statistic set has no values: not in the percentiles
        expected = histograms.percentile(histogram, float(name[1:]), 1.0, 42.0)
        assert point.values[name] == expected, name
    service.maintain(database, now=utcnow() + timedelta(minutes=1))
    [rolled] = statistics(database, start, start + timedelta(minutes=1), 60)
    assert rolled == point


def test_a_broken_constraint_on_write_is_invalid_state_on_every_backend(
    database: Database,
) -> None:
    row = (999_999, 1, 1, "None", 60, 1.0, 1.0, 1.0, 1.0, None)  # no such series
    with pytest.raises(InvalidState), database.session_scope() as session:
        insert_datapoints(session.connection(), [row])


def test_retention_drops_raw_then_minutes_and_keeps_hours(database: Database) -> None:
    start = hour_ago_aligned(1)
    put_series(database, start, np.arange(1.0, 121.0), 30.0)
    service.maintain(database, now=utcnow() + timedelta(minutes=1))
    end = start + timedelta(hours=1)
    assert sum(p.sample_count for p in statistics(database, start, end, 60)) == 120
    later = utcnow() + timedelta(days=20)
    service.maintain(database, now=later)
    with database.session_scope() as session:
        from sqlalchemy import func, select

        from shipyard.monitoring.metrics.models import MetricDatapoint, MetricRollup

        assert session.scalar(select(func.count()).select_from(MetricDatapoint)) == 0
        kept = session.execute(
            select(MetricRollup.resolution, func.sum(MetricRollup.sample_count)).group_by(
                MetricRollup.resolution
            )
        ).all()
    assert dict(kept) == {3600: 120}
    [hourly] = statistics(database, start, end, 3600, now=later)
    assert hourly.values["SampleCount"] == 120 and hourly.values["p50"] == pytest.approx(
        60, rel=0.0101
    )


def test_bad_input_names_the_field(database: Database) -> None:
    now = utcnow()
    with database.session_scope() as session:
        for namespace in ("Shipyard/Endpoints", "", "has space", "x" * 256):
            with pytest.raises(ValidationError) as caught:
                service.put_metric_data(session, namespace, [MetricDatum(metric_name="m", value=1)])
            assert caught.value.field == "namespace"
        for when in (now - timedelta(days=15), now + timedelta(hours=3)):
            with pytest.raises(ValidationError) as caught:
                service.put_metric_data(
                    session,
                    "App",
                    [
                        MetricDatum(metric_name="m", value=1),
                        MetricDatum(metric_name="m", value=1, timestamp=when),
                    ],
                )
            assert caught.value.field == "metric_data[1].timestamp"
        with pytest.raises(ValidationError) as caught:
            service.put_metric_data(session, "App", [MetricDatum(metric_name="m", value=1)] * 1001)
        assert caught.value.field == "metric_data"
        query = {
            "namespace": "App",
            "metric_name": "m",
            "dimensions": {},
            "start_time": now - timedelta(hours=1),
            "end_time": now,
        }
        for period in (0, 2, 15, 45, 86_400 * 8, 61):
            with pytest.raises(ValidationError) as caught:
                service.get_metric_statistics(session, **query, period=period, statistics=["Sum"])
            assert caught.value.field == "period"
        for statistic in ("Mean", "p101", "p", "P50", "p-1"):
            with pytest.raises(ValidationError) as caught:
                service.get_metric_statistics(session, **query, period=60, statistics=[statistic])
            assert caught.value.field == "statistics"
        assert (
            service.get_metric_statistics(session, **query, period=60, statistics=["p99.9"]) == []
        )


def test_platform_metrics_and_list_metrics(database: Database) -> None:
    at = datetime.now(UTC)
    with database.session_scope() as session:
        service.put_platform_metrics(
            session,
            service.ENDPOINTS_NAMESPACE,
            [
                MetricDatum(
                    metric_name="Invocations",
                    dimensions={"EndpointName": f"e{i % 3}", "VariantName": "AllTraffic"},
                    value=1,
                    timestamp=at,
                )
                for i in range(1500)  # bigger than one batch: split
            ],
        )
        service.put_metric_data(session, "App", [MetricDatum(metric_name="Other", value=1)])
        listed = service.list_metrics(session, namespace=service.ENDPOINTS_NAMESPACE)
        assert sorted(m.dimensions["EndpointName"] for m in listed) == ["e0", "e1", "e2"]
        assert len(service.list_metrics(session, dimensions={"EndpointName": "e1"})) == 1
        assert len(service.list_metrics(session, dimensions={"VariantName": None})) == 3
        assert [m.metric_name for m in service.list_metrics(session, namespace="App")] == ["Other"]
