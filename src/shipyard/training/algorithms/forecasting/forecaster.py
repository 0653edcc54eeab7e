"""The forecaster: one global LightGBM quantile booster per quantile, for every series.

One model learns from every series at once, on targets and lags relative to each row's
local level (see `features`), so that series of different levels and trends share one
shape; the forecast is multiplied back by the level. Each quantile has its own booster
(LightGBM's quantile objective), trained on the same feature matrix; where two boosters
cross, the values of a period are sorted (the monotone rearrangement, which can only bring
each quantile closer to the truth).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from shipyard.training.algorithms.forecasting.features import (
    LEVEL,
    SERIES,
    TARGET,
    TIME,
    FeatureConfig,
)
from shipyard.training.algorithms.forecasting.series import future_periods

POINT_QUANTILE = 0.5
"""The point forecast is the median: WAPE and MASE are absolute errors, which it minimises."""


def quantile_name(tau: float) -> str:
    """0.1 -> "p10", 0.025 -> "p2.5": the name of a quantile in forecasts and metrics."""
    return f"p{round(tau * 100, 4):g}"


@dataclass(frozen=True)
class BoosterSettings:
    """The LightGBM parameters of every quantile booster."""

    num_iterations: int
    learning_rate: float
    num_leaves: int
    min_data_in_leaf: int
    seed: int
    num_threads: int | None = None

    def params(self, tau: float) -> dict[str, object]:
        return {
            "objective": "quantile",
            "alpha": tau,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,  # with `deterministic`: the same model on every run
            "num_threads": self.num_threads or 0,  # 0: OpenMP's default
            "verbose": -1,
        }


@dataclass(frozen=True)
class Forecast:
    """`values[i, k, t]`: quantile k of period t after the end of series `codes[i]`, whose
    timestamp is `timestamps[i, t]`."""

    codes: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray


class Forecaster:
    """Forecasts the `prediction_length` periods after each series' end.

    `history` holds the last `config.history_length` periods of every series (SERIES, TIME,
    TARGET, the covariate features); `scales[i]` is series i's scale (which floors its local
    level); `boosters` map each quantile to its booster; `nonnegative` clips forecasts at 0.
    """

    def __init__(
        self,
        config: FeatureConfig,
        boosters: Mapping[float, lgb.Booster],
        history: pd.DataFrame,
        scales: np.ndarray,
        nonnegative: bool,
    ) -> None:
        self.config = config
        self.boosters = dict(sorted(boosters.items()))
        self.quantiles = list(self.boosters)
        self.history = history
        self.scales = scales
        self.nonnegative = nonnegative
        self.feature_names = self.boosters[POINT_QUANTILE].feature_name()

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        config: FeatureConfig,
        quantiles: Sequence[float],
        settings: BoosterSettings,
    ) -> Forecaster:
        """Train on a series frame (see `series.Panel.frame`) whose every series is longer
        than `config.history_length`. Forecasts are clipped at 0 when no target is negative."""
        scales = series_scales(frame)
        features = config.feature_frame(frame, scales)
        complete = features[features.groupby(SERIES).cumcount() >= config.history_length]
        names = config.feature_names(features)
        dataset = lgb.Dataset(
            complete[names].to_numpy(np.float64),
            label=complete[TARGET].to_numpy(),
            feature_name=names,
            free_raw_data=False,  # one binned dataset for every quantile's booster
        )
        boosters = {
            tau: lgb.train(settings.params(tau), dataset, num_boost_round=settings.num_iterations)
            for tau in quantiles
        }
        history = frame.groupby(SERIES).tail(config.history_length).reset_index(drop=True)
        return cls(config, boosters, history, scales, bool((frame[TARGET] >= 0).all()))

    def forecast(self, codes: np.ndarray, covariates: pd.DataFrame | None = None) -> Forecast:
        """Forecast the distinct series `codes`, in that order. `covariates` holds SERIES,
        TIME and the covariate features of their forecast periods (None without covariates).
        """
        h = self.config.prediction_length
        ordered = np.sort(codes)
        future = future_periods(self.history, ordered, h, self.config.frequency)
        if self.config.covariates:
            assert covariates is not None
            future = future.merge(covariates, on=[SERIES, TIME], how="left", validate="1:1")
        future[TARGET] = 0.0  # a placeholder: no feature of a forecast period reads a target in it
        tail = self.history[self.history[SERIES].isin(ordered)]
        frame = pd.concat([tail, future], ignore_index=True).sort_values([SERIES, TIME])
        features = self.config.feature_frame(frame, self.scales)
        ahead = features[features.groupby(SERIES).cumcount(ascending=False) < h]
        matrix = ahead[self.feature_names].to_numpy(np.float64)
        relative = np.stack([b.predict(matrix) for b in self.boosters.values()])
        values = relative * ahead[LEVEL].to_numpy()[None, :]
        values = values.reshape(len(self.quantiles), len(ordered), h).transpose(1, 0, 2)
        values = np.sort(values, axis=1)
        if self.nonnegative:
            values = np.maximum(values, 0.0)
        timestamps = ahead[TIME].to_numpy().reshape(len(ordered), h)
        back = np.searchsorted(ordered, codes)
        return Forecast(np.asarray(codes), timestamps[back], values[back])


def series_scales(frame: pd.DataFrame) -> np.ndarray:
    """The mean absolute target of each series 0..n-1 (1 for a series of zeros)."""
    scales = frame[TARGET].abs().groupby(frame[SERIES]).mean().to_numpy()
    return np.where(scales > 0, scales, 1.0)
