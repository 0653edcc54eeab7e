"""The `forecasting` algorithm: its hyperparameters, its fit with backtests, its model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import holidays
import lightgbm as lgb
import pandas as pd
from pydantic import BeforeValidator, Field, field_validator, model_validator

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms.base import BaseAlgorithm, Emitted, MetricLogger, StopCheck
from shipyard.training.algorithms.forecasting.backtest import backtest, score
from shipyard.training.algorithms.forecasting.features import (
    SERIES,
    FeatureConfig,
    calendar_of,
    default_lags,
)
from shipyard.training.algorithms.forecasting.forecaster import (
    POINT_QUANTILE,
    BoosterSettings,
    Forecaster,
    quantile_name,
)
from shipyard.training.algorithms.forecasting.model import (
    ForecastModel,
    ForecastOptions,
    booster_file,
    read_model_files,
    write_model_files,
)
from shipyard.training.algorithms.forecasting.series import (
    ColumnRoles,
    Panel,
    read_horizon,
    read_panel,
)
from shipyard.training.algorithms.hyperparameters import HyperparameterSchema, split_metric_list
from shipyard.training.algorithms.model_io import ModelManifest

MAX_QUANTILES = 9
CommaList = BeforeValidator(split_metric_list)


class ForecastingHyperparameters(HyperparameterSchema):
    """SageMaker DeepAR's and Amazon Forecast's names where they have one.

    Lags count periods back and must reach past the horizon (see `features`); None asks
    for the defaults of the frequency. The median (0.5), the point forecast, is always
    among the quantiles.
    """

    prediction_length: int = Field(ge=1, le=1000)
    timestamp_column: str = "timestamp"
    item_id_columns: Annotated[list[str], CommaList, Field(min_length=1)] = ["item_id"]
    frequency: Literal["auto", "D", "W"] = "auto"
    quantiles: Annotated[list[float], CommaList] = [0.1, 0.5, 0.9]
    holiday_country: str | None = None
    lags: Annotated[list[Annotated[int, Field(ge=1, le=2000)]], CommaList] | None = None
    yearly_lag: bool = True
    rolling_windows: (
        Annotated[list[Annotated[int, Field(ge=1, le=1000)]], CommaList, Field(min_length=1)] | None
    ) = None
    """Means over these windows, ending prediction_length back; the longest is the level."""
    backtest_windows: int = Field(1, ge=1, le=5)
    num_iterations: int = Field(100, ge=1, le=10_000)
    learning_rate: float = Field(0.1, gt=0, le=1)
    num_leaves: int = Field(31, ge=2, le=131_072)
    min_data_in_leaf: int = Field(100, ge=1)
    """Larger than LightGBM's 20: a leaf's p10 rests on a tenth of its rows."""
    seed: int = 0

    @field_validator("item_id_columns")
    @classmethod
    def _distinct_columns(cls, value: list[str]) -> list[str]:
        if len(set(value)) < len(value) or not all(value):
            raise ValueError("must name distinct, non-empty columns")
        return value

    @field_validator("quantiles")
    @classmethod
    def _quantiles_with_median(cls, value: list[float]) -> list[float]:
        if not all(0 < tau < 1 for tau in value):
            raise ValueError("each quantile must be between 0 and 1 (exclusive)")
        quantiles = sorted({round(tau, 6) for tau in (*value, POINT_QUANTILE)})
        if len(quantiles) > MAX_QUANTILES:
            raise ValueError(f"at most {MAX_QUANTILES} quantiles, the median included")
        if len({quantile_name(tau) for tau in quantiles}) < len(quantiles):
            raise ValueError("quantiles must differ by at least 0.0001")
        return quantiles

    @field_validator("holiday_country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.upper() not in holidays.list_supported_countries():
            raise ValueError(
                f"unknown country {value!r}; an ISO 3166 code the holidays package knows "
                "(US, GB, DE, FR, IN, ...)"
            )
        return value.upper()

    @field_validator("lags", "rolling_windows")
    @classmethod
    def _sorted(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else sorted(set(value))

    @model_validator(mode="after")
    def _lags_past_the_horizon(self) -> ForecastingHyperparameters:
        if self.lags is not None and (not self.lags or self.lags[0] < self.prediction_length):
            raise ValidationError(
                f"each lag must be at least prediction_length ({self.prediction_length}), so "
                "that no forecast feeds the features of another",
                "hyperparameters.lags",
            )
        return self


class ForecastingAlgorithm(BaseAlgorithm):
    """Global LightGBM quantile boosters over mlforecast features, for many related series.

    The train channel is a long table (see `series`); metrics come from backtests on its
    last `backtest_windows` horizons, or from the validation channel when one is given (the
    `prediction_length` periods after the train channel's end), as `validation:*`.
    """

    name = "forecasting"
    hyperparameters_schema = ForecastingHyperparameters
    model_format = "lightgbm-forecast"
    library = "lightgbm"
    library_version = lgb.__version__

    def check_columns(
        self,
        hyperparameters: Mapping[str, Any],
        target: str | None,
        columns: Mapping[str, Sequence[str]],
    ) -> None:
        params = ForecastingHyperparameters.parse(hyperparameters)
        for channel, names in columns.items():
            if channel in ("train", "validation") and target is not None:
                ColumnRoles.of(names, params.timestamp_column, params.item_id_columns, target)
        if "validation" in columns and set(columns["validation"]) != set(columns["train"]):
            raise ValidationError("must have the columns of channel 'train'", "channels.validation")

    def fit(
        self,
        train: pd.DataFrame,
        validation: pd.DataFrame | None,
        target: str | None,
        hyperparameters: Mapping[str, Any],
        model_dir: Path,
        log_metric: MetricLogger,
        cpu_count: int | None = None,
        should_stop: StopCheck | None = None,
    ) -> dict[str, float]:
        """See `BaseAlgorithm.fit`. Each booster trains its `num_iterations` in full, so
        `should_stop` is not consulted: no metric is reported per iteration."""
        _, metrics = self.train(train, validation, target, hyperparameters, model_dir, cpu_count)
        for name, value in metrics.items():
            log_metric(name, value, None)
        return metrics

    def train(
        self,
        train: pd.DataFrame,
        validation: pd.DataFrame | None,
        target: str | None,
        hyperparameters: Mapping[str, Any],
        model_dir: Path,
        cpu_count: int | None = None,
    ) -> tuple[ForecastModel, dict[str, float]]:
        """Backtest (or score on `validation`), train, write the model directory: the model
        in memory, and its `validation:*` metrics."""
        params = ForecastingHyperparameters.parse(hyperparameters)
        if target is None:
            raise ValidationError("is required: the column to forecast", "target")
        roles = ColumnRoles.of(
            train.columns, params.timestamp_column, params.item_id_columns, target
        )
        panel = read_panel(train, roles, params.frequency)
        config = feature_config(params, panel.frequency, roles)
        settings = BoosterSettings(
            params.num_iterations,
            params.learning_rate,
            params.num_leaves,
            params.min_data_in_leaf,
            params.seed,
            cpu_count,
        )
        if validation is None:
            _check_lengths(panel, config, params.backtest_windows * params.prediction_length)
            windows = params.backtest_windows
            metrics = backtest(panel.frame, config, params.quantiles, settings, windows)
            forecaster = Forecaster.fit(panel.frame, config, params.quantiles, settings)
        else:
            _check_lengths(panel, config, 0)
            horizon = read_horizon(validation, roles, panel, params.prediction_length)
            forecaster = Forecaster.fit(panel.frame, config, params.quantiles, settings)
            metrics = score(forecaster, panel.frame, horizon)
        files = write_model_files(model_dir, forecaster, panel.series)
        manifest = self._manifest(params, roles, forecaster, len(panel.series), files)
        manifest.write(model_dir)
        named = {f"validation:{name}": value for name, value in metrics.items()}
        return ForecastModel(manifest, forecaster, panel.series), named

    def _manifest(
        self,
        params: ForecastingHyperparameters,
        roles: ColumnRoles,
        forecaster: Forecaster,
        series_count: int,
        files: dict[str, str],
    ) -> ModelManifest:
        """The request fields (ids, covariates) are the model's feature names."""
        options = ForecastOptions(
            timestamp_column=roles.timestamp,
            item_id_columns=list(roles.item_ids),
            covariates=roles.covariate_features(),
            features=forecaster.config,
            quantiles=forecaster.quantiles,
            nonnegative=forecaster.nonnegative,
            series_count=series_count,
            files=files,
        )
        return ModelManifest(
            algorithm=self.name,
            problem_type="forecasting",
            target=roles.target,
            feature_names=[*roles.item_ids, *roles.covariates],
            classes=None,
            model_file=booster_file(POINT_QUANTILE),
            format=self.model_format,
            library=self.library,
            library_version=self.library_version,
            hyperparameters=params.to_dict(),
            options=options.model_dump(),
        )

    def emitted_metrics(
        self, hyperparameters: Mapping[str, Any], channels: Iterable[str]
    ) -> Emitted:
        quantiles = ForecastingHyperparameters.parse(hyperparameters).quantiles
        names = ["wape", "mase", "wql", *(f"wql_{quantile_name(tau)}" for tau in quantiles)]
        if len(quantiles) >= 2:
            names.append("coverage")
        return Emitted(f"validation:{name}" for name in names)

    def read_model(self, path: Path, manifest: ModelManifest) -> ForecastModel:
        return read_model_files(path.parent, manifest)


def feature_config(
    params: ForecastingHyperparameters, frequency: str, roles: ColumnRoles
) -> FeatureConfig:
    """The features these hyperparameters ask for, at the frequency the data follow."""
    calendar = calendar_of(frequency)
    lags = params.lags or default_lags(params.prediction_length, calendar, params.yearly_lag)
    windows = params.rolling_windows
    return FeatureConfig(
        frequency=frequency,
        prediction_length=params.prediction_length,
        lags=lags,
        rolling_windows=list(calendar.rolling_windows) if windows is None else windows,
        date_features=list(calendar.date_features),
        holiday_country=params.holiday_country,
        covariates=list(roles.covariate_features().values()),
    )


def _check_lengths(panel: Panel, config: FeatureConfig, held_out: int) -> None:
    """Every series needs the features' history, one period to train on, and what the
    backtests hold out."""
    needed = config.history_length + 1 + held_out
    lengths = panel.frame.groupby(SERIES).size()
    if lengths.min() < needed:
        code = int(lengths.idxmin())
        backtests = f", and {held_out} held out for the backtests" if held_out else ""
        raise ValidationError(
            f"series {panel.describe(code)} has {lengths.min()} periods; each needs at least "
            f"{needed}: {config.history_length} of history for the features (the longest lag "
            f"or rolling window), 1 to train on{backtests}. Shorten `lags`, set "
            "`yearly_lag` false, or lower `backtest_windows`",
            "channels.train",
        )
