"""The metrics chart of a training job page, built from its metric points."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

from shipyard.compute.service import MetricPoint
from shipyard.console.training import MAX_POINTS_PER_TRACE, metric_chart

AT = datetime(2026, 1, 1, tzinfo=UTC)


def point(name: str, step: int | None, value: float) -> MetricPoint:
    return MetricPoint(name=name, step=step, value=value, timestamp=AT)


def test_each_stepped_metric_is_one_line_and_final_values_are_left_out() -> None:
    points = [point("train:auc", s, 0.5 + s / 10) for s in range(3)]
    points += [point("validation:auc", s, 0.4 + s / 10) for s in range(3)]
    points += [point("validation:f1", None, 0.3)]

    chart = metric_chart(points, {"validation:f1": 0.3})

    assert chart is not None and chart["kind"] == "line"
    assert [(t["name"], t["x"]) for t in chart["data"]] == [
        ("train:auc", [0, 1, 2]),
        ("validation:auc", [0, 1, 2]),
    ]


def test_without_steps_the_final_metrics_are_bars() -> None:
    chart = metric_chart([point("rmse", None, 1.5)], {"rmse": 1.5, "mae": math.nan})

    assert chart is not None and chart["kind"] == "bar"
    assert chart["data"][0]["x"] == ["mae", "rmse"]
    assert chart["data"][0]["y"] == [None, 1.5]  # JSON has no NaN
    json.dumps(chart, allow_nan=False)


def test_no_metrics_no_chart() -> None:
    assert metric_chart([], {}) is None


def test_long_series_are_thinned_but_keep_their_last_point() -> None:
    points = [point("loss", s, 1 / (s + 1)) for s in range(10_001)]

    trace = metric_chart(points, {})["data"][0]

    assert len(trace["x"]) <= MAX_POINTS_PER_TRACE + 1
    assert trace["x"][0] == 0 and trace["x"][-1] == 10_000
    assert len(trace["x"]) == len(trace["y"])


def test_each_metric_gets_its_own_panel_with_a_line_per_channel() -> None:
    points = [point(f"{channel}:{metric}", s, 0.5) for channel in ("train", "validation")
              for metric in ("auc", "logloss") for s in range(3)]  # fmt: skip

    chart = metric_chart(points, {})

    assert chart is not None
    panels = {(t["name"], t["yaxis"]) for t in chart["data"]}
    assert panels == {
        ("train:auc", "y"), ("validation:auc", "y"),
        ("train:logloss", "y2"), ("validation:logloss", "y2"),
    }  # fmt: skip
    layout = chart["layout"]
    assert layout["yaxis"]["title"]["text"] == "auc"
    assert layout["yaxis2"]["title"]["text"] == "logloss"
    assert layout["yaxis"]["domain"][0] > layout["yaxis2"]["domain"][1]  # auc above logloss
    colours = {t["name"]: t["line"]["color"] for t in chart["data"]}
    assert colours["train:auc"] == colours["train:logloss"] != colours["validation:auc"]
