"""The features a forecasting booster sees, computed by mlforecast from the history alone.

Every lag is at least `prediction_length` periods back, and the rolling means end there,
so the features of all the periods forecast come from observed values: no forecast feeds
the features of another. That makes the forecast direct — one pass of mlforecast's
`preprocess` over the history and the future rows, then every quantile booster on the
same matrix — and keeps each quantile booster calibrated (a recursive p90 would feed its
own p90 back into its lags). The target and the lag features are divided by each row's
local level (the longest rolling mean), DeepAR's scaling. Calendar features: day of week
and of year, month, and with a `holiday_country` the holidays in each period and the days
to and since the nearest one, from the `holidays` package.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import holidays
import numpy as np
import pandas as pd
from mlforecast import MLForecast
from mlforecast.lag_transforms import RollingMean
from pydantic import BaseModel, ConfigDict

SERIES, TIME, TARGET = "unique_id", "ds", "y"  # mlforecast's column names
LEVEL = "local_level"
"""The column of a feature frame that holds each row's local level."""
LEVEL_FLOOR = 0.1
"""The local level is at least this fraction of the series' scale."""
DateFeature = Callable[[pd.DatetimeIndex], np.ndarray]


@dataclass(frozen=True)
class Calendar:
    """What a frequency implies: its step, its seasons and its default features."""

    step: pd.Timedelta
    season_length: int
    """The seasonal naive period: of MASE's scale, and of the default seasonal lags."""
    year: int
    """Periods in a year that keeps the weekday (52 weeks): the yearly lag."""
    recent_lags: int
    """How many consecutive lags from prediction_length on, by default."""
    seasonal_repeats: int
    """How many more seasons of the same period (weekday) before those, by default."""
    rolling_windows: tuple[int, ...]
    date_features: tuple[str, ...]


CALENDARS: dict[str, Calendar] = {
    "D": Calendar(
        step=pd.Timedelta(days=1),
        season_length=7,
        year=364,
        recent_lags=7,
        seasonal_repeats=3,
        rolling_windows=(7, 28),
        date_features=("dayofweek", "dayofyear", "month"),
    ),
    "W": Calendar(
        step=pd.Timedelta(weeks=1),
        season_length=52,
        year=52,
        recent_lags=4,
        seasonal_repeats=0,
        rolling_windows=(4, 13),
        date_features=("dayofyear", "month"),
    ),
}


def calendar_of(frequency: str) -> Calendar:
    """The calendar of a pandas alias this package uses: "D", or "W-MON" … "W-SUN"."""
    return CALENDARS[frequency.split("-")[0]]


def default_lags(prediction_length: int, calendar: Calendar, yearly_lag: bool) -> list[int]:
    """The recent run of lags from `prediction_length`, the same period of the seasons before
    it, and the lag one (weekday-aligned) year back, rounded up to whole years past the
    horizon."""
    h = prediction_length
    lags = set(range(h, h + calendar.recent_lags))
    first_season = math.ceil(h / calendar.season_length) * calendar.season_length
    lags |= {
        first_season + k * calendar.season_length for k in range(1, calendar.seasonal_repeats + 1)
    }
    if yearly_lag:
        lags.add(math.ceil(h / calendar.year) * calendar.year)
    return sorted(lags)


class FeatureConfig(BaseModel):
    """How the features are made; recorded in the model's manifest, so that loading rebuilds
    exactly the features the boosters were trained on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frequency: str
    prediction_length: int
    lags: list[int]
    rolling_windows: list[int]
    date_features: list[str]
    holiday_country: str | None
    covariates: list[str]
    """The feature names of the known-in-advance covariates, columns of the series frame."""

    @property
    def calendar(self) -> Calendar:
        return calendar_of(self.frequency)

    @property
    def history_length(self) -> int:
        """Periods of history the features of one period need: the longest lag, or the
        longest rolling window ending at lag prediction_length."""
        windows = [self.prediction_length + w - 1 for w in self.rolling_windows]
        return max([*self.lags, *windows])

    def feature_frame(self, frame: pd.DataFrame, scales: np.ndarray) -> pd.DataFrame:
        """`frame` (SERIES, TIME, TARGET, covariates; sorted, one row per period) with the
        features added, and TARGET and the lag features relative to each row's local level
        (see `_local_level`), which the returned frame holds as LEVEL. `scales[i]` is series
        i's scale. Rows whose history is too short for the features hold NaN."""
        engine = self._engine()
        # the frame is checked and regular by construction; mlforecast's checks cost time
        features = engine.preprocess(frame, static_features=[], dropna=False, validate_data=False)
        assert isinstance(features, pd.DataFrame)
        level = self._local_level(features, scales, engine)
        relative = [TARGET, *engine.ts.transforms]
        features[relative] = features[relative].to_numpy() / level[:, None]
        features[LEVEL] = level
        return features

    def _local_level(
        self, features: pd.DataFrame, scales: np.ndarray, engine: MLForecast
    ) -> np.ndarray:
        """Each row's local level: the mean of the longest rolling window (which ends
        prediction_length periods back, so it is known when forecasting), at least
        LEVEL_FLOOR times the series' scale so that a window of zeros divides nothing by 0.
        Relative to it, a trending series looks the same at every level, which trees need:
        they cannot extrapolate."""
        longest = max(self.rolling_windows)
        window = next(
            name
            for name, transform in engine.ts.transforms.items()
            if isinstance(transform, RollingMean) and transform.window_size == longest
        )
        floor = LEVEL_FLOOR * scales[features[SERIES].to_numpy()]
        return np.fmax(features[window].to_numpy(), floor)

    def feature_names(self, features: pd.DataFrame) -> list[str]:
        """The columns of a `feature_frame` result that the boosters take, in order."""
        return [c for c in features.columns if c not in (SERIES, TIME, TARGET, LEVEL)]

    def _engine(self) -> MLForecast:
        return MLForecast(
            models=[],
            freq=self.frequency,
            lags=self.lags,
            lag_transforms={self.prediction_length: [RollingMean(w) for w in self.rolling_windows]},
            date_features=[*self.date_features, *self._holiday_features()],
        )

    def _holiday_features(self) -> list[DateFeature]:
        if self.holiday_country is None:
            return []
        return holiday_features(self.holiday_country, self.calendar.step.days)


def holiday_features(country: str, period_days: int) -> list[DateFeature]:
    """mlforecast date features `holiday`, `days_to_holiday` and `days_since_holiday`: how
    many of `country`'s holidays fall in the `period_days` days from each timestamp, and the
    days from the timestamp to the next holiday and since the last one (0 on a holiday)."""

    def holiday(dates: pd.DatetimeIndex) -> np.ndarray:
        days, calendar = _days(dates), _holiday_dates(country, *_years(dates))
        ends = np.searchsorted(calendar, days + np.timedelta64(period_days, "D"))
        return (ends - np.searchsorted(calendar, days)).astype(np.float64)

    def days_to_holiday(dates: pd.DatetimeIndex) -> np.ndarray:
        days, calendar = _days(dates), _holiday_dates(country, *_years(dates))
        return (calendar[np.searchsorted(calendar, days)] - days).astype(np.float64)

    def days_since_holiday(dates: pd.DatetimeIndex) -> np.ndarray:
        days, calendar = _days(dates), _holiday_dates(country, *_years(dates))
        return (days - calendar[np.searchsorted(calendar, days, side="right") - 1]).astype(
            np.float64
        )

    return [holiday, days_to_holiday, days_since_holiday]


def _days(dates: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(dates.values, dtype="datetime64[D]")


def _years(dates: pd.DatetimeIndex) -> tuple[int, int]:
    # a year either side, so every date has a holiday before and after it
    return int(dates.year.min()) - 1, int(dates.year.max()) + 1


@cache
def _holiday_dates(country: str, first_year: int, last_year: int) -> np.ndarray:
    """The sorted holiday dates of `country` (observed days included) over those years."""
    calendar = holidays.country_holidays(country, years=range(first_year, last_year + 1))
    return np.array(sorted(calendar), dtype="datetime64[D]")
