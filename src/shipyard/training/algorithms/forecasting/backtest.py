"""Scoring a forecaster: on backtests over the train channel, or on a validation horizon."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from shipyard.training.algorithms.forecasting import accuracy
from shipyard.training.algorithms.forecasting.features import SERIES, TARGET, TIME, FeatureConfig
from shipyard.training.algorithms.forecasting.forecaster import (
    BoosterSettings,
    Forecaster,
    quantile_name,
)


def backtest(
    frame: pd.DataFrame,
    config: FeatureConfig,
    quantiles: Sequence[float],
    settings: BoosterSettings,
    windows: int,
) -> dict[str, float]:
    """Amazon Forecast's backtests: for each of the last `windows` horizons of every series,
    train on the history before it and score its forecast; the metrics' means over them."""
    h = config.prediction_length
    from_end = frame.groupby(SERIES).cumcount(ascending=False)
    scores = []
    for window in range(1, windows + 1):
        history = frame[from_end >= window * h].reset_index(drop=True)
        horizon = frame[(from_end < window * h) & (from_end >= (window - 1) * h)]
        forecaster = Forecaster.fit(history, config, quantiles, settings)
        scores.append(score(forecaster, history, horizon.reset_index(drop=True)))
    return accuracy.average(scores)


def score(forecaster: Forecaster, history: pd.DataFrame, horizon: pd.DataFrame) -> dict[str, float]:
    """The accuracy of `forecaster` (trained on `history`) on `horizon`, a series frame of
    the `prediction_length` periods after the end of each series it holds."""
    codes = np.unique(horizon[SERIES].to_numpy())
    forecast = forecaster.forecast(codes, horizon.drop(columns=TARGET))
    h = forecaster.config.prediction_length
    actual = horizon.sort_values([SERIES, TIME])[TARGET].to_numpy().reshape(len(codes), h)
    grouped = history.groupby(SERIES)[TARGET]
    naive_errors = accuracy.seasonal_naive_errors(
        (grouped.get_group(code).to_numpy() for code in codes),
        forecaster.config.calendar.season_length,
    )
    names = [quantile_name(tau) for tau in forecaster.quantiles]
    return accuracy.accuracy_metrics(
        actual, forecast.values, forecaster.quantiles, names, naive_errors
    )
