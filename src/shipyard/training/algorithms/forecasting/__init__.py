"""Demand forecasting for many related time series (the role of SageMaker DeepAR and Amazon
Forecast): global LightGBM quantile boosters over mlforecast's lag, rolling and calendar
features, with holidays.

    series      checks the long table (timestamp, ids, target, covariates), numbers series
    features    the features and how they are made (recorded in the manifest)
    forecaster  one booster per quantile, on every series at once; the forecast itself
    accuracy    WAPE, MASE, weighted quantile loss, coverage (Amazon Forecast's definitions)
    backtest    scoring on the train channel's last horizons, or on a validation channel
    model       the model directory, its checks on load, and the endpoint's requests
    algorithm   the hyperparameters, the fit with backtests
"""

from shipyard.training.algorithms.forecasting.algorithm import ForecastingAlgorithm

__all__ = ["ForecastingAlgorithm"]
