"""Checks a long table of related time series and numbers its series for the forecaster.

    timestamp   item_id  store_id  sales  price     one row per series and period: the
    2024-01-01  i1       s1        12.0   2.49      timestamp, the id columns, the target,
    2024-01-02  i1       s1        15.0   2.49      and known-in-advance numeric covariates
    ...                                             (every other column)

Series are numbered 0..n-1 in the sorted order of their ids; that number is the series
column mlforecast sees. Every check raises ValidationError naming the field to fix.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms.dataset import NUMERIC_KINDS, shorten_names
from shipyard.training.algorithms.forecasting.features import (
    CALENDARS,
    SERIES,
    TARGET,
    TIME,
    calendar_of,
)

TIMESTAMP_FIELD = "hyperparameters.timestamp_column"
ID_FIELD = "hyperparameters.item_id_columns"
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


@dataclass(frozen=True)
class ColumnRoles:
    """Which column of a channel is what; every other column is a covariate."""

    timestamp: str
    item_ids: tuple[str, ...]
    target: str
    covariates: tuple[str, ...]

    @classmethod
    def of(
        cls, columns: Sequence[Hashable], timestamp: str, item_ids: Sequence[str], target: str
    ) -> ColumnRoles:
        """Raises ValidationError when a named column is missing or named twice."""
        names = [str(c) for c in columns]
        if timestamp not in names:
            raise ValidationError(_not_found(timestamp, names), TIMESTAMP_FIELD)
        for column in item_ids:
            if column not in names:
                raise ValidationError(_not_found(column, names), ID_FIELD)
        if target not in names:
            raise ValidationError(_not_found(target, names), "target")
        taken = {timestamp, target}
        if taken & set(item_ids) or timestamp == target:
            raise ValidationError(
                "the timestamp, the target and the id columns must be different columns",
                ID_FIELD,
            )
        covariates = tuple(c for c in names if c not in taken and c not in item_ids)
        return cls(timestamp, tuple(item_ids), target, covariates)

    @property
    def columns(self) -> set[str]:
        return {self.timestamp, *self.item_ids, self.target, *self.covariates}

    def covariate_features(self) -> dict[str, str]:
        """Each covariate's feature name: LightGBM takes no JSON punctuation in a name, and a
        prefix keeps covariates apart from the generated features."""
        features = {c: "covariate_" + re.sub(r"[^0-9A-Za-z_]", "_", c) for c in self.covariates}
        if len(set(features.values())) < len(features):
            raise ValidationError(
                f"covariate names {shorten_names(list(features))} are too alike once "
                "punctuation is replaced by '_'; rename them",
                "channels.train",
            )
        return features


@dataclass(frozen=True)
class Panel:
    """The checked series: `frame` holds SERIES (the series number), TIME, TARGET and the
    covariate features, sorted, one row per period and no gaps; row i of `series` holds the
    id values of series i; `frequency` is the pandas alias ("D", "W-MON" … "W-SUN")."""

    frame: pd.DataFrame
    series: pd.DataFrame
    frequency: str

    def describe(self, code: int) -> str:
        return describe(self.series, code)


def describe(series: pd.DataFrame, code: int) -> str:
    """Series `code` as its ids name it, for messages: (item_id='i1', store_id='s3')."""
    return "(" + ", ".join(f"{k}={_plain(v)!r}" for k, v in series.iloc[code].items()) + ")"


def read_panel(
    frame: pd.DataFrame, roles: ColumnRoles, frequency: str, channel: str = "train"
) -> Panel:
    """Check the channel and number its series. `frequency` is "auto", "D" or "W"."""
    field = f"channels.{channel}"
    if len(frame) == 0:
        raise ValidationError(f"channel '{channel}' has no rows", field)
    table = _normalized(frame, roles, channel)
    groups = table.groupby(list(roles.item_ids), sort=True)
    series = groups.size().index.to_frame(index=False)
    table.insert(0, SERIES, groups.ngroup().to_numpy())
    table = table.drop(columns=list(roles.item_ids)).sort_values([SERIES, TIME])
    table = table.reset_index(drop=True)
    _check_unique_periods(table, series, field)
    return Panel(table, series, _frequency(table, series, frequency, field))


def read_horizon(
    frame: pd.DataFrame, roles: ColumnRoles, panel: Panel, prediction_length: int
) -> pd.DataFrame:
    """The validation channel as a series frame: for each series it names, exactly the
    `prediction_length` periods after that series' end in the train channel."""
    field = "channels.validation"
    if len(frame) == 0:
        raise ValidationError("channel 'validation' has no rows", field)
    names = {str(c) for c in frame.columns}
    if names != roles.columns:
        raise ValidationError(
            "columns differ from channel 'train': missing "
            f"{sorted(roles.columns - names)}, unexpected {sorted(names - roles.columns)}",
            field,
        )
    table = _normalized(frame, roles, "validation")
    lookup = {series_key(row): code for code, row in enumerate(panel.series.itertuples(False))}
    ids = table[list(roles.item_ids)].itertuples(index=False)
    codes = [lookup.get(series_key(row), -1) for row in ids]
    if min(codes) < 0:
        unknown = table.iloc[codes.index(-1)][list(roles.item_ids)].to_dict()
        raise ValidationError(f"series {unknown} is not in channel 'train'", field)
    table.insert(0, SERIES, codes)
    table = table.drop(columns=list(roles.item_ids)).sort_values([SERIES, TIME])
    expected = future_periods(panel.frame, np.unique(codes), prediction_length, panel.frequency)
    matched = expected.merge(table[[SERIES, TIME]], on=[SERIES, TIME], how="outer", indicator=True)
    wrong = pd.concat(
        [matched[matched["_merge"] != "both"], table[table.duplicated([SERIES, TIME])]]
    )
    if len(wrong):
        raise ValidationError(
            f"must hold the {prediction_length} periods after the end of each of its series "
            f"in channel 'train', each once; series {panel.describe(int(wrong[SERIES].iloc[0]))} "
            "does not",
            field,
        )
    return table.reset_index(drop=True)


def future_periods(
    history: pd.DataFrame, codes: np.ndarray, prediction_length: int, frequency: str
) -> pd.DataFrame:
    """SERIES and TIME of the `prediction_length` periods after each series' last period."""
    step = calendar_of(frequency).step.to_timedelta64()
    last = history.groupby(SERIES)[TIME].max().loc[codes].to_numpy()
    offsets = step * np.arange(1, prediction_length + 1)
    return pd.DataFrame(
        {
            SERIES: np.repeat(np.asarray(codes), prediction_length),
            TIME: (last[:, None] + offsets[None, :]).ravel(),
        }
    )


def series_key(values: Sequence[Any]) -> tuple[str, ...]:
    """The ids of a series as text, so that 3, 3.0 and "3" name the same series."""
    return tuple(_text(v) for v in values)


def _text(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _normalized(frame: pd.DataFrame, roles: ColumnRoles, channel: str) -> pd.DataFrame:
    """The ids as they are (text when not numeric), TIME parsed, TARGET and the covariate
    features as float64; raises ValidationError for a missing or ill-typed value."""
    field = f"channels.{channel}"
    frame = frame.reset_index(drop=True)
    by_name = {str(c): c for c in frame.columns}
    table = pd.DataFrame(index=frame.index)
    for column in roles.item_ids:
        values = frame[by_name[column]]
        if values.isna().any():
            raise ValidationError(f"id column '{column}' has missing values", field)
        table[column] = values if values.dtype.kind in NUMERIC_KINDS else values.astype(str)
    table[TIME] = _timestamps(frame[by_name[roles.timestamp]], roles.timestamp)
    table[TARGET] = _numbers(frame[by_name[roles.target]], roles.target, channel, "target")
    for column, feature in roles.covariate_features().items():
        table[feature] = _numbers(frame[by_name[column]], column, channel, field)
    return table


def _timestamps(values: pd.Series, column: str) -> pd.Series:
    if values.dtype.kind in NUMERIC_KINDS:
        raise ValidationError(
            f"column '{column}' holds numbers ({values.dtype}), not timestamps like 2024-01-31",
            TIMESTAMP_FIELD,
        )
    with warnings.catch_warnings():  # mixed formats fall back to dateutil, row by row: fine
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(values, errors="coerce")
    bad = parsed.isna()
    if bad.any():
        raise ValidationError(
            f"column '{column}' has a value that is not a timestamp: {values[bad].iloc[0]!r}",
            TIMESTAMP_FIELD,
        )
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):  # periods are wall-clock days and weeks
        parsed = parsed.dt.tz_localize(None)
    return parsed.astype("datetime64[ns]")


def _numbers(values: pd.Series, column: str, channel: str, field: str) -> np.ndarray:
    if values.dtype.kind not in NUMERIC_KINDS:
        raise ValidationError(
            f"column '{column}' has type {values.dtype}; the target and the covariates (the "
            "columns other than the timestamp and ids) must be numeric",
            field,
        )
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(numbers).all():
        count = int((~np.isfinite(numbers)).sum())
        raise ValidationError(
            f"column '{column}' has {count} missing or infinite values in channel '{channel}'",
            field,
        )
    return numbers


def _check_unique_periods(table: pd.DataFrame, series: pd.DataFrame, field: str) -> None:
    repeated = table.duplicated([SERIES, TIME])
    if repeated.any():
        row = table[repeated].iloc[0]
        raise ValidationError(
            f"series {describe(series, int(row[SERIES]))} has more than one row for "
            f"{row[TIME]}: one row per series and period",
            field,
        )


def _frequency(table: pd.DataFrame, series: pd.DataFrame, requested: str, field: str) -> str:
    """The pandas alias of the frequency the timestamps follow, without gaps."""
    steps = table.groupby(SERIES)[TIME].diff()
    if steps.isna().all():
        raise ValidationError("every series has a single row", field)
    step = steps.min() if requested == "auto" else CALENDARS[requested].step
    names = {calendar.step: name for name, calendar in CALENDARS.items()}
    if step not in names:
        raise ValidationError(
            f"the timestamps step by {step}; the frequency must be daily (D) or weekly (W)",
            field,
        )
    where = field if requested == "auto" else "hyperparameters.frequency"
    gaps = steps.notna() & (steps != step)
    if gaps.any():
        at = int(np.flatnonzero(gaps.to_numpy())[0])
        raise ValidationError(
            f"series {describe(series, int(table[SERIES].iloc[at]))} steps from "
            f"{table[TIME].iloc[at - 1]} to {table[TIME].iloc[at]}; with frequency "
            f"{names[step]} every series needs one row per period, without gaps",
            where,
        )
    if names[step] == "D":
        return "D"
    weekdays = np.unique(table[TIME].dt.dayofweek)
    if len(weekdays) > 1:
        raise ValidationError(
            "weekly timestamps must all fall on the same weekday; found "
            + ", ".join(WEEKDAYS[d] for d in weekdays),
            where,
        )
    return f"W-{WEEKDAYS[weekdays[0]]}"


def _not_found(column: str, names: list[str]) -> str:
    return f"column '{column}' not found; columns are: {shorten_names(names)}"
