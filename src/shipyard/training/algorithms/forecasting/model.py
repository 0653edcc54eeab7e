"""The forecasting model on disk and at the endpoint.

A model directory holds, beside `shipyard-model.json` (whose `options` are a
`ForecastOptions`: the column roles, the feature configuration, the quantiles, and the
SHA-256 of every file):

    booster-p10.txt, booster-p50.txt, ...   one LightGBM booster per quantile (text format)
    history.parquet                         the tail of history each series' features need
    series.parquet                          the ids (id_0, id_1, ...) and scale of each series

Loading checks that it finds what was written, file by file, then rebuilds the forecaster.
An invocation names series by their id columns and gets their forecasts:

    {"instances": [{"item_id": "i1", "store_id": "s3"}]}
    -> {"forecasts": [{"item_id": "i1", "store_id": "s3", "timestamps": [...],
                       "p10": [...], "p50": [...], "p90": [...]}]}
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms.forecasting.features import SERIES, TARGET, TIME, FeatureConfig
from shipyard.training.algorithms.forecasting.forecaster import (
    Forecast,
    Forecaster,
    quantile_name,
)
from shipyard.training.algorithms.forecasting.series import (
    future_periods,
    series_key,
)
from shipyard.training.algorithms.model_io import (
    Features,
    LoadedModel,
    ModelManifest,
    as_frame,
)

HISTORY_FILE = "history.parquet"
SERIES_FILE = "series.parquet"
SCALE = "scale"


def booster_file(tau: float) -> str:
    return f"booster-{quantile_name(tau)}.txt"


class ForecastOptions(BaseModel):
    """The manifest's `options` for a forecasting model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timestamp_column: str
    item_id_columns: list[str]
    covariates: dict[str, str]
    """Each covariate's column (and request field) name, to its feature name."""
    features: FeatureConfig
    quantiles: list[float]
    nonnegative: bool
    series_count: int
    files: dict[str, str]
    """Every file of the model but the manifest, to its SHA-256."""

    @field_validator("files")
    @classmethod
    def _plain_file_names(cls, value: dict[str, str]) -> dict[str, str]:
        # a tampered manifest must not point the loader outside the model directory
        for name in value:
            if Path(name).name != name or name in {"", ".", ".."}:
                raise ValueError(f"files must be plain file names, got {name!r}")
        return value


def write_model_files(
    model_dir: Path, forecaster: Forecaster, series: pd.DataFrame
) -> dict[str, str]:
    """Write the boosters, the history and the series table; their SHA-256 by file name."""
    model_dir.mkdir(parents=True, exist_ok=True)
    for tau, booster in forecaster.boosters.items():
        booster.save_model(model_dir / booster_file(tau))
    forecaster.history.to_parquet(model_dir / HISTORY_FILE, index=False)
    table = series.set_axis([f"id_{k}" for k in range(series.shape[1])], axis=1)
    table.assign(**{SCALE: forecaster.scales}).to_parquet(model_dir / SERIES_FILE, index=False)
    names = [*map(booster_file, forecaster.quantiles), HISTORY_FILE, SERIES_FILE]
    return {name: _sha256(model_dir / name) for name in names}


def read_model_files(model_dir: Path, manifest: ModelManifest) -> ForecastModel:
    """Rebuild the model `write_model_files` wrote; ValueError for anything else."""
    options = ForecastOptions.model_validate(manifest.options)
    expected = {*map(booster_file, options.quantiles), HISTORY_FILE, SERIES_FILE}
    if set(options.files) != expected:
        raise ValueError(f"{model_dir}: the manifest lists {sorted(options.files)}")
    for name, digest in options.files.items():
        if not (model_dir / name).is_file() or _sha256(model_dir / name) != digest:
            raise ValueError(f"{model_dir / name} is missing or not the file that was written")
    boosters = {tau: _booster(model_dir / booster_file(tau), tau) for tau in options.quantiles}
    history = pd.read_parquet(model_dir / HISTORY_FILE)
    table = pd.read_parquet(model_dir / SERIES_FILE)
    _check_tables(options, history, table)
    series = table.drop(columns=SCALE).set_axis(options.item_id_columns, axis=1)
    forecaster = Forecaster(
        options.features, boosters, history, table[SCALE].to_numpy(), options.nonnegative
    )
    sample = options.features.feature_frame(history[history[SERIES] == 0], forecaster.scales)
    if options.features.feature_names(sample) != forecaster.feature_names or any(
        b.feature_name() != forecaster.feature_names for b in boosters.values()
    ):
        raise ValueError(f"{model_dir}: the boosters' features are not the ones the model makes")
    return ForecastModel(manifest, forecaster, series)


class ForecastModel(LoadedModel):
    """Serves the forecasts of named series; predictions are a pure function of the files."""

    def __init__(
        self, manifest: ModelManifest, forecaster: Forecaster, series: pd.DataFrame
    ) -> None:
        super().__init__(manifest)
        self.options = ForecastOptions.model_validate(manifest.options)
        self.forecaster = forecaster
        self.series = series
        self._codes = {series_key(row): code for code, row in enumerate(series.itertuples(False))}

    def predict(self, features: Features) -> dict[str, list[Any]]:
        """Forecast each instance's series: the instance's id fields name it, and with
        covariates each covariate field holds its `prediction_length` future values. Raises
        ValidationError on `instances` or `instances.<field>`."""
        features = as_frame(features)
        if len(features) == 0:
            return {"forecasts": []}
        codes = self._series_of(features)
        forecast = self.forecaster.forecast(codes, self._future_covariates(features, codes))
        return {"forecasts": [self._entry(forecast, i) for i in range(len(codes))]}

    def raw_predict(self, matrix: np.ndarray) -> np.ndarray:
        """Forecasts (series, quantiles, periods) of the distinct series numbers (0 to the
        series count - 1, in the sorted order of their ids) in the matrix's first column, for
        a model without covariates."""
        if self.options.covariates:
            raise ValidationError("this model needs the covariates of the forecast", "instances")
        codes = np.asarray(matrix).reshape(len(matrix), -1)[:, 0].astype(np.int64)
        if len(np.unique(codes)) < len(codes) or not all(0 <= c < len(self.series) for c in codes):
            raise ValidationError("must be distinct numbers of the model's series", "instances")
        return self.forecaster.forecast(codes).values

    def _series_of(self, features: pd.DataFrame) -> np.ndarray:
        ids, covariates = self.options.item_id_columns, list(self.options.covariates)
        if not all(isinstance(c, str) for c in features.columns):
            raise ValidationError(
                f"name each series by its id fields ({', '.join(ids)}) in JSON records",
                "instances",
            )
        unexpected = sorted(set(features.columns) - {*ids, *covariates})
        if unexpected:
            raise ValidationError(
                f"unexpected fields {unexpected}; an instance has {', '.join(ids + covariates)}",
                "instances",
            )
        for column in ids:
            if column not in features.columns or features[column].isna().any():
                raise ValidationError("is required in every instance", f"instances.{column}")
        codes = [self._codes.get(series_key(row), -1) for row in features[ids].itertuples(False)]
        for position, code in enumerate(codes):
            named = dict(zip(ids, features[ids].iloc[position].tolist(), strict=True))
            if code < 0:
                raise ValidationError(
                    f"unknown series {named}; the model forecasts the "
                    f"{len(self.series)} series of its train channel",
                    "instances",
                )
            if code in codes[:position]:
                raise ValidationError(f"series {named} is named twice", "instances")
        return np.array(codes, dtype=np.int64)

    def _future_covariates(self, features: pd.DataFrame, codes: np.ndarray) -> pd.DataFrame | None:
        if not self.options.covariates:
            return None
        h = self.options.features.prediction_length
        future = future_periods(self.forecaster.history, codes, h, self.options.features.frequency)
        for column, feature in self.options.covariates.items():
            if column not in features.columns:
                raise ValidationError(
                    f"is required: the {h} values of the periods forecast", f"instances.{column}"
                )
            values = [_future_values(v, h, f"instances.{column}") for v in features[column]]
            future[feature] = np.concatenate(values)
        return future

    def _entry(self, forecast: Forecast, i: int) -> dict[str, Any]:
        ids = self.series.iloc[int(forecast.codes[i])]
        entry: dict[str, Any] = {k: v.item() if hasattr(v, "item") else v for k, v in ids.items()}
        entry["timestamps"] = _timestamps(forecast.timestamps[i])
        for k, tau in enumerate(self.forecaster.quantiles):
            entry[quantile_name(tau)] = forecast.values[i, k].tolist()
        return entry


def _future_values(value: Any, h: int, field: str) -> np.ndarray:
    if not isinstance(value, list | tuple | np.ndarray) or len(value) != h:
        raise ValidationError(f"must be a list of the {h} values of the periods forecast", field)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value) or not all(
        math.isfinite(v) for v in value
    ):
        raise ValidationError("must hold finite numbers only", field)
    return np.asarray(value, dtype=np.float64)


def _timestamps(values: np.ndarray) -> list[str]:
    """Dates when every timestamp is a midnight, else ISO 8601 timestamps."""
    index = pd.DatetimeIndex(values)
    if (index == index.normalize()).all():
        return [str(t) for t in index.strftime("%Y-%m-%d")]
    return [t.isoformat() for t in index]


def _booster(path: Path, tau: float) -> lgb.Booster:
    booster = lgb.Booster(model_file=str(path))
    params = booster.params
    if params.get("objective") != "quantile" or not math.isclose(float(params["alpha"]), tau):
        raise ValueError(f"{path} is not the booster of quantile {tau}")
    return booster


def _check_tables(options: ForecastOptions, history: pd.DataFrame, table: pd.DataFrame) -> None:
    columns = [SERIES, TIME, TARGET, *options.covariates.values()]
    id_columns = [f"id_{k}" for k in range(len(options.item_id_columns))]
    counts = history.groupby(SERIES).size()
    if (
        list(history.columns) != columns
        or list(table.columns) != [*id_columns, SCALE]
        or len(table) != options.series_count
        or counts.index.tolist() != list(range(options.series_count))
        or (counts != options.features.history_length).any()
    ):
        raise ValueError("the history and series tables are not the ones the model wrote")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
