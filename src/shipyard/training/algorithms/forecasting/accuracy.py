"""Forecast accuracy metrics, with Amazon Forecast's definitions, in numpy.

Over the series i and periods t of a held-out horizon, with y the actual values, ŷ the
point forecast (the p50) and q(τ) the forecast of quantile τ:

    WAPE    = Σ |y - ŷ| / Σ |y|
    wQL[τ]  = 2 Σ [τ · max(y - q(τ), 0) + (1 - τ) · max(q(τ) - y, 0)] / Σ |y|
    wQL     = the mean of wQL[τ] over the quantiles
    MASE    = the mean over series of  mean_t |y - ŷ| / s_i,  where s_i is the mean absolute
              error of the seasonal naive forecast on series i's history,
              mean_t |y_t - y_{t-m}|, with m the season length (7 days, 52 weeks)
    coverage = the share of actual values within [q(lowest), q(highest)]

A metric whose denominator is zero is undefined and left out (a series with a zero naive
error is left out of MASE).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np


def wape(actual: np.ndarray, point: np.ndarray) -> float | None:
    total = float(np.abs(actual).sum())
    return float(np.abs(actual - point).sum()) / total if total > 0 else None


def weighted_quantile_loss(actual: np.ndarray, forecast: np.ndarray, tau: float) -> float | None:
    total = float(np.abs(actual).sum())
    if total == 0:
        return None
    under = np.maximum(actual - forecast, 0.0)
    over = np.maximum(forecast - actual, 0.0)
    return 2.0 * float((tau * under + (1.0 - tau) * over).sum()) / total


def mase(actual: np.ndarray, point: np.ndarray, naive_errors: np.ndarray) -> float | None:
    """`actual` and `point` are (series, periods); `naive_errors` the s_i, one per series."""
    scored = naive_errors > 0
    if not scored.any():
        return None
    errors = np.abs(actual - point).mean(axis=1)
    return float(np.mean(errors[scored] / naive_errors[scored]))


def seasonal_naive_errors(histories: Iterable[np.ndarray], season_length: int) -> np.ndarray:
    """s_i of each history: the mean |y_t - y_{t-m}|, or 0 when it is not longer than m."""
    return np.array(
        [
            float(np.abs(h[season_length:] - h[:-season_length]).mean())
            if len(h) > season_length
            else 0.0
            for h in histories
        ]
    )


def coverage(actual: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    return float(np.mean((actual >= low) & (actual <= high)))


def accuracy_metrics(
    actual: np.ndarray,
    forecasts: np.ndarray,
    quantiles: Sequence[float],
    names: Sequence[str],
    naive_errors: np.ndarray,
) -> dict[str, float]:
    """The metrics of one horizon, unprefixed: wape, mase, wql, wql_<name> per quantile and,
    with two quantiles or more, coverage. `actual` is (series, periods), `forecasts`
    (series, quantiles, periods) in `quantiles` order, which holds 0.5, the point forecast."""
    point = forecasts[:, list(quantiles).index(0.5), :]
    losses = {
        f"wql_{name}": weighted_quantile_loss(actual, forecasts[:, k, :], tau)
        for k, (tau, name) in enumerate(zip(quantiles, names, strict=True))
    }
    defined = [loss for loss in losses.values() if loss is not None]
    metrics: dict[str, float | None] = {
        "wape": wape(actual, point),
        "mase": mase(actual, point, naive_errors),
        "wql": float(np.mean(defined)) if defined else None,
        **losses,
    }
    if len(quantiles) >= 2:
        metrics["coverage"] = coverage(actual, forecasts[:, 0, :], forecasts[:, -1, :])
    return {name: value for name, value in metrics.items() if value is not None}


def average(windows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each metric's mean over the backtest windows that define it."""
    names = sorted({name for window in windows for name in window})
    return {
        name: float(np.mean([window[name] for window in windows if name in window]))
        for name in names
    }
