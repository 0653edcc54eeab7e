"""The `forecasting` algorithm: accuracy against the seasonal naive baseline, calibrated
quantiles, holiday spikes, a model that reloads to the same numbers, and bad input named.

Data are generated here: items x stores with a per-series level and trend, a weekly and a
yearly pattern, multiplicative noise, and sales 2.5 times higher on the holidays of the
United States (the `holidays` package). The last 28 days hold July 4th, 2023, a fixed-date
holiday that a year's lag (364 days, weekday-aligned) misses.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import holidays
import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms import get_algorithm, load_model
from shipyard.training.algorithms.forecasting.model import ForecastModel
from shipyard.training.algorithms.model_io import MANIFEST_FILE

US_HOLIDAYS = holidays.country_holidays("US", years=range(2019, 2025))
HORIZON = 28
WEEKLY = np.array([0.8, 0.9, 0.95, 1.0, 1.1, 1.4, 1.3])
IDS = ["item_id", "store_id"]
FAST = {"num_iterations": 40, "num_leaves": 15}


def demand(
    items: int = 5,
    stores: int = 6,
    days: int = 3 * 365,
    start: str = "2020-07-21",
    seed: int = 0,
    promo: bool = False,
) -> pd.DataFrame:
    """Daily sales of items x stores; with `promo`, a known-in-advance 0/1 promotion column
    that lifts sales by 60% on the days it is 1."""
    rng = np.random.default_rng(seed)
    timestamps = pd.date_range(start, periods=days, freq="D")
    holiday = np.array([day in US_HOLIDAYS for day in timestamps.date])
    yearly = 1 + 0.3 * np.sin(2 * np.pi * timestamps.dayofyear.to_numpy() / 365.25)
    shape = WEEKLY[timestamps.dayofweek] * yearly * np.where(holiday, 2.5, 1.0)
    frames = []
    for item in range(items):
        for store in range(stores):
            level = 20 * np.exp(rng.normal(0, 0.6))
            trend = 1 + rng.uniform(0, 0.3) * np.arange(days) / 365
            on_promo = (rng.random(days) < 0.15).astype(int) if promo else np.zeros(days, int)
            noise = np.exp(rng.normal(0, 0.1, days))
            frame = {
                "timestamp": timestamps,
                "item_id": f"i{item}",
                "store_id": f"s{store}",
                "sales": level * trend * shape * (1 + 0.6 * on_promo) * noise,
            }
            if promo:
                frame["promo"] = on_promo
            frames.append(pd.DataFrame(frame))
    return pd.concat(frames, ignore_index=True)


def split(frame: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(history, the last `horizon` days of every series)."""
    cut = frame["timestamp"].max() - pd.Timedelta(days=horizon)
    return frame[frame["timestamp"] <= cut], frame[frame["timestamp"] > cut]


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.abs(actual - forecast).sum() / np.abs(actual).sum())


def mase(history: np.ndarray, actual: np.ndarray, forecast: np.ndarray) -> float:
    """(series, periods) arrays; the scale is the 7-day seasonal naive error in sample."""
    scale = np.abs(history[:, 7:] - history[:, :-7]).mean(axis=1)
    return float(np.mean(np.abs(actual - forecast).mean(axis=1) / scale))


def by_series(frame: pd.DataFrame) -> np.ndarray:
    """The sales as (series, days), series in (item_id, store_id) order."""
    ordered = frame.sort_values([*IDS, "timestamp"])
    return ordered["sales"].to_numpy().reshape(ordered.groupby(IDS).ngroups, -1)


@dataclass
class Fitted:
    model: ForecastModel
    metrics: dict[str, float]
    model_dir: Path
    history: pd.DataFrame
    actual: pd.DataFrame
    forecasts: dict[str, np.ndarray]
    """Each output key ("p10", ...) as (series, days), in `by_series` order."""


def fit(tmp_path: Path, frame: pd.DataFrame, **hyperparameters: Any) -> Fitted:
    """Train on all but the last prediction_length days (HORIZON unless given), with those
    days as the validation channel."""
    params = {"prediction_length": HORIZON, "item_id_columns": "item_id,store_id", **FAST}
    history, actual = split(frame, (params | hyperparameters)["prediction_length"])
    algorithm = get_algorithm("forecasting")
    model, metrics = algorithm.train(
        history,
        actual,
        "sales",
        algorithm.validate_hyperparameters(params | hyperparameters),
        tmp_path,
        cpu_count=2,
    )
    covariates = [c for c in frame.columns if c not in (*IDS, "timestamp", "sales")]
    instances = [  # each series, with its covariates' values over the horizon
        {**dict(zip(IDS, ids, strict=True)), **{c: rows[c].tolist() for c in covariates}}
        for ids, rows in actual.sort_values("timestamp").groupby(IDS)
    ]
    answer = model.predict(pd.DataFrame(instances))["forecasts"]
    forecasts = {key: np.array([f[key] for f in answer]) for key in ("p10", "p50", "p90")}
    return Fitted(model, metrics, tmp_path, history, actual, forecasts)


@pytest.fixture(scope="module")
def with_holidays(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    return fit(tmp_path_factory.mktemp("holidays"), demand(), holiday_country="US")


@pytest.fixture(scope="module")
def without_holidays(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    return fit(tmp_path_factory.mktemp("plain"), demand())


# ---- accuracy ---------------------------------------------------------------------------
def test_beats_the_seasonal_naive_forecast_by_a_clear_margin(with_holidays: Fitted) -> None:
    history, actual = by_series(with_holidays.history), by_series(with_holidays.actual)
    naive = np.tile(history[:, -7:], HORIZON // 7)  # the last week, repeated
    point = with_holidays.forecasts["p50"]
    assert wape(actual, point) < 0.7 * wape(actual, naive)
    assert mase(history, actual, point) < 0.7 * mase(history, actual, naive)
    assert wape(actual, point) < 0.15  # the noise alone costs about 0.08


def test_reports_amazon_forecast_metrics_of_the_validation_horizon(with_holidays: Fitted) -> None:
    metrics, forecasts = with_holidays.metrics, with_holidays.forecasts
    history, actual = by_series(with_holidays.history), by_series(with_holidays.actual)
    assert set(metrics) == set(
        get_algorithm("forecasting").emitted_metrics({"prediction_length": 28}, ["train"]).final
    )
    assert metrics["validation:wape"] == pytest.approx(wape(actual, forecasts["p50"]))
    assert metrics["validation:mase"] == pytest.approx(mase(history, actual, forecasts["p50"]))
    p90 = forecasts["p90"]
    pinball = 0.9 * np.maximum(actual - p90, 0) + 0.1 * np.maximum(p90 - actual, 0)
    assert metrics["validation:wql_p90"] == pytest.approx(2 * pinball.sum() / actual.sum())
    losses = [metrics[f"validation:wql_{name}"] for name in ("p10", "p50", "p90")]
    assert metrics["validation:wql"] == pytest.approx(np.mean(losses))
    assert metrics["validation:wql_p50"] == pytest.approx(metrics["validation:wape"])


def test_quantiles_are_ordered_and_cover_about_80_percent(with_holidays: Fitted) -> None:
    p10, p50, p90 = (with_holidays.forecasts[k] for k in ("p10", "p50", "p90"))
    assert (p10 <= p50).all() and (p50 <= p90).all()
    actual = by_series(with_holidays.actual)
    covered = float(np.mean((actual >= p10) & (actual <= p90)))
    assert 0.6 <= covered <= 0.95
    assert with_holidays.metrics["validation:coverage"] == pytest.approx(covered)


def test_holiday_spikes_are_forecast_with_holiday_country(
    with_holidays: Fitted, without_holidays: Fitted
) -> None:
    days = pd.date_range(with_holidays.actual["timestamp"].min(), periods=HORIZON, freq="D")
    on_holiday = np.array([day in US_HOLIDAYS for day in days.date])
    assert on_holiday.sum() == 1  # July 4th
    actual = by_series(with_holidays.actual)[:, on_holiday]
    with_error = wape(actual, with_holidays.forecasts["p50"][:, on_holiday])
    without_error = wape(actual, without_holidays.forecasts["p50"][:, on_holiday])
    assert with_error < 0.3 * without_error
    assert with_error < 0.2
    assert with_holidays.metrics["validation:wape"] < without_holidays.metrics["validation:wape"]


# ---- the model directory ----------------------------------------------------------------
def test_reloads_to_the_same_forecasts_and_timestamps(with_holidays: Fitted) -> None:
    instances = pd.DataFrame(
        [{"item_id": "i1", "store_id": "s3"}, {"item_id": "i0", "store_id": "s0"}]
    )
    in_memory = with_holidays.model.predict(instances)
    loaded = load_model(with_holidays.model_dir)
    assert loaded.predict(instances) == in_memory
    assert with_holidays.model.predict(instances) == in_memory  # deterministic
    raw = loaded.raw_predict(np.array([[0], [4]]))  # series by number, in sorted id order
    assert raw.shape == (2, 3, HORIZON)
    assert raw[1].tolist() == [
        with_holidays.forecasts[k][4].tolist() for k in ("p10", "p50", "p90")
    ]
    first = in_memory["forecasts"][0]
    assert set(first) == {"item_id", "store_id", "timestamps", "p10", "p50", "p90"}
    assert (first["item_id"], first["store_id"]) == ("i1", "s3")
    assert first["timestamps"][0] == "2023-06-23" and first["timestamps"][-1] == "2023-07-20"
    assert all(len(first[key]) == HORIZON for key in ("timestamps", "p10", "p50", "p90"))
    files = {p.name for p in with_holidays.model_dir.iterdir()}
    assert files == {
        MANIFEST_FILE,
        "booster-p10.txt",
        "booster-p50.txt",
        "booster-p90.txt",
        "history.parquet",
        "series.parquet",
    }
    assert not any(
        p.suffix in (".pkl", ".pickle", ".joblib") for p in with_holidays.model_dir.iterdir()
    )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: (d / "booster-p90.txt").write_text((d / "booster-p10.txt").read_text()),
        lambda d: (d / "history.parquet").unlink(),
        lambda d: (d / "series.parquet").write_bytes(b"PAR1"),
        lambda d: (d / MANIFEST_FILE).write_text(
            (d / MANIFEST_FILE).read_text().replace('"nonnegative": true', '"nonnegative": 1.5')
        ),
    ],
    ids=["swapped booster", "missing history", "rewritten series", "edited options"],
)
def test_refuses_to_load_what_it_did_not_write(
    with_holidays: Fitted, tmp_path: Path, tamper
) -> None:
    copy = tmp_path / "model"
    shutil.copytree(with_holidays.model_dir, copy)
    tamper(copy)
    with pytest.raises(ValueError):
        load_model(copy)


# ---- the endpoint's requests --------------------------------------------------------------
@pytest.mark.parametrize(
    ("instances", "field", "needle"),
    [
        ([{"item_id": "i9", "store_id": "s0"}], "instances", "unknown series"),
        ([{"item_id": "i1"}], "instances.store_id", "required"),
        ([{"item_id": "i1", "store_id": None}], "instances.store_id", "required"),
        ([{"item_id": "i1", "store_id": "s1", "colour": "red"}], "instances", "colour"),
        ([{"item_id": "i1", "store_id": "s1"}] * 2, "instances", "twice"),
        ([["i1", "s1"]], "instances", "id fields"),
    ],
)
def test_bad_requests_name_their_field(with_holidays: Fitted, instances, field, needle) -> None:
    with pytest.raises(ValidationError) as raised:
        with_holidays.model.predict(pd.DataFrame(instances))
    assert raised.value.field == field
    assert needle in raised.value.message


def test_covariates_are_taken_from_the_request(tmp_path: Path) -> None:
    frame = demand(items=2, stores=3, days=2 * 365, promo=True)
    fitted = fit(tmp_path, frame, yearly_lag=False, prediction_length=14, min_data_in_leaf=20)
    model = fitted.model
    assert model.feature_names == ["item_id", "store_id", "promo"]
    series = {"item_id": "i1", "store_id": "s2"}
    plain = model.predict(pd.DataFrame([{**series, "promo": [0] * 14}]))["forecasts"][0]
    promoted = model.predict(pd.DataFrame([{**series, "promo": [1] * 14}]))["forecasts"][0]
    assert np.mean(promoted["p50"]) > 1.3 * np.mean(plain["p50"])
    for bad, needle in ((series, "required"), ({**series, "promo": [1] * 13}, "14 values")):
        with pytest.raises(ValidationError) as raised:
            model.predict(pd.DataFrame([bad]))
        assert raised.value.field == "instances.promo"
        assert needle in raised.value.message


def test_weekly_series_with_backtests(tmp_path: Path) -> None:
    daily = demand(items=2, stores=3, start="2020-01-06")  # a Monday
    weekly = (
        daily.groupby(
            [*IDS, pd.Grouper(key="timestamp", freq="W-MON", label="left", closed="left")]
        )["sales"]
        .sum()
        .reset_index()
    )
    algorithm = get_algorithm("forecasting")
    params = {"prediction_length": 8, "item_id_columns": IDS, "backtest_windows": 2, **FAST}
    model, metrics = algorithm.train(
        weekly, None, "sales", params | {"min_data_in_leaf": 10}, tmp_path
    )
    assert model.options.features.frequency == "W-MON"
    forecast = model.predict(pd.DataFrame([{"item_id": "i0", "store_id": "s1"}]))["forecasts"][0]
    steps = np.diff(pd.to_datetime(forecast["timestamps"])).astype("timedelta64[D]").astype(int)
    assert steps.tolist() == [7] * 7
    assert metrics["validation:wape"] < 0.2
    assert set(metrics) == set(algorithm.emitted_metrics(params, ["train"]).final)


# ---- bad input ----------------------------------------------------------------------------
def tiny() -> pd.DataFrame:
    """Two daily series of 120 days: enough for the TINY hyperparameters' 14 days of lags."""
    days = pd.date_range("2024-01-01", periods=120, freq="D")
    rng = np.random.default_rng(1)
    return pd.concat(
        [
            pd.DataFrame(
                {"date": days.strftime("%Y-%m-%d"), "sku": sku, "units": rng.poisson(9, 120)}
            )
            for sku in ("a", "b")
        ],
        ignore_index=True,
    )


TINY = {
    "prediction_length": 7,
    "timestamp_column": "date",
    "item_id_columns": "sku",
    "lags": "7,14",
    "rolling_windows": "7",
    "num_iterations": 5,
    "min_data_in_leaf": 5,
}


BAD_FITS: dict[str, tuple[Any, dict[str, Any], str, str]] = {
    # case: (change to the frame, hyperparameters over TINY, field, words of the message)
    "unknown hyperparameter": (
        None,
        {"context_length": 5},
        "hyperparameters.context_length",
        "unknown",
    ),
    "prediction_length missing": (
        None,
        {"prediction_length": None},
        "hyperparameters.prediction_length",
        "",
    ),
    "prediction_length 0": (
        None,
        {"prediction_length": 0},
        "hyperparameters.prediction_length",
        ">= 1",
    ),
    "prediction_length too long": (
        None,
        {"prediction_length": 5000},
        "hyperparameters.prediction_length",
        "<= 1000",
    ),
    "lag inside the horizon": (
        None,
        {"lags": "3,14"},
        "hyperparameters.lags",
        "at least prediction_length",
    ),
    "unknown country": (None, {"holiday_country": "XX"}, "hyperparameters.holiday_country", "XX"),
    "quantile of 1.5": (
        None,
        {"quantiles": "0.1,1.5"},
        "hyperparameters.quantiles",
        "between 0 and 1",
    ),
    "timestamp column missing": (
        None,
        {"timestamp_column": "day"},
        "hyperparameters.timestamp_column",
        "'day' not found",
    ),
    "id column missing": (
        None,
        {"item_id_columns": "sku,store"},
        "hyperparameters.item_id_columns",
        "'store' not found",
    ),
    "timestamps that do not parse": (
        lambda f: f.assign(date=f["date"].where(f.index != 5, "next tuesday")),
        {},
        "hyperparameters.timestamp_column",
        "'next tuesday'",
    ),
    "numeric timestamps": (
        lambda f: f.assign(date=range(len(f))),
        {},
        "hyperparameters.timestamp_column",
        "numbers",
    ),
    "duplicate rows": (
        lambda f: pd.concat([f, f.iloc[[3]]]),
        {},
        "channels.train",
        "more than one row",
    ),
    "a gap": (lambda f: f.drop(index=50), {}, "channels.train", "without gaps"),
    "frequency the timestamps do not follow": (
        None,
        {"frequency": "W"},
        "hyperparameters.frequency",
        "W",
    ),
    "series too short": (
        lambda f: f[(f["sku"] == "a") | (f.index >= 230)],
        {},
        "channels.train",
        "'b'",
    ),
    "target with missing values": (
        lambda f: f.assign(units=f["units"].astype(float).where(f.index != 7)),
        {},
        "target",
        "missing",
    ),
    "text covariate": (lambda f: f.assign(colour="red"), {}, "channels.train", "colour"),
    "id with missing values": (
        lambda f: f.assign(sku=f["sku"].where(f.index != 9)),
        {},
        "channels.train",
        "sku",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FITS))
def test_bad_input_names_its_field(case: str, tmp_path: Path) -> None:
    change, overrides, field, needle = BAD_FITS[case]
    frame = tiny() if change is None else change(tiny())
    params = {k: v for k, v in (TINY | overrides).items() if v is not None}
    with pytest.raises(ValidationError) as raised:
        get_algorithm("forecasting").fit(frame, None, "units", params, tmp_path, lambda *_: None)
    assert raised.value.field == field, raised.value.message
    assert needle in raised.value.message


def test_the_tiny_frame_itself_trains(tmp_path: Path) -> None:
    """The premise of the cases above: each breaks one thing of a frame that fits."""
    metrics = get_algorithm("forecasting").fit(
        tiny(), None, "units", TINY, tmp_path, lambda *_: None
    )
    assert 0 < metrics["validation:wape"] < 1


def test_a_validation_channel_must_be_the_horizon_after_train(tmp_path: Path) -> None:
    frame = tiny()
    history, after = frame[frame.index % 120 < 113], frame[frame.index % 120 >= 113]
    algorithm = get_algorithm("forecasting")
    for validation in (after.iloc[1:], after.assign(extra=1), after.assign(sku="c")):
        with pytest.raises(ValidationError) as raised:
            algorithm.fit(history, validation, "units", TINY, tmp_path, lambda *_: None)
        assert raised.value.field == "channels.validation"


def test_columns_are_checked_before_a_job_is_queued() -> None:
    algorithm = get_algorithm("forecasting")
    params = algorithm.validate_hyperparameters(TINY)
    algorithm.check_columns(params, "units", {"train": ["date", "sku", "units"]})
    with pytest.raises(ValidationError) as raised:
        algorithm.check_columns(params, "units", {"train": ["day", "sku", "units"]})
    assert raised.value.field == "hyperparameters.timestamp_column"
    with pytest.raises(ValidationError) as raised:
        algorithm.check_columns(
            params, "units", {"train": ["date", "sku", "units"], "validation": ["date", "units"]}
        )
    assert raised.value.field == "hyperparameters.item_id_columns"


# ---- through the REST API -----------------------------------------------------------------
def test_train_deploy_and_forecast_through_the_api(api, tmp_path: Path) -> None:
    frame = demand(items=2, stores=2)
    history, actual = split(frame, HORIZON)
    csv = tmp_path / "sales.csv"
    history.assign(timestamp=history["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(csv, index=False)
    job = f"forecast-{uuid.uuid4().hex[:8]}"
    created = api.post(
        "/api/v1/training-jobs",
        json={
            "name": job,
            "algorithm": "forecasting",
            "target": "sales",
            "hyperparameters": {
                "prediction_length": HORIZON,
                "item_id_columns": "item_id,store_id",
                "holiday_country": "US",
                "num_iterations": 30,
                "min_data_in_leaf": 50,
            },
            "channels": {"train": str(csv)},
        },
    )
    assert created.status_code == 201, created.text
    described = api.wait_for_job(job)
    assert described["status"] == "Completed", described["failure_reason"]
    assert described["final_metrics"]["validation:wape"] < 0.3

    assert (
        api.post("/api/v1/models", json={"name": job, "training_job_name": job}).status_code == 201
    )
    config = {"name": job, "production_variants": [{"model_name": job}]}
    assert api.post("/api/v1/endpoint-configs", json=config).status_code == 201
    endpoint = {"name": job, "endpoint_config_name": job}
    assert api.post("/api/v1/endpoints", json=endpoint).status_code == 201
    assert api.wait_for_endpoint(job)["status"] == "InService"

    instances = [{"item_id": "i1", "store_id": "s0"}, {"item_id": "i0", "store_id": "s1"}]
    response = api.post(f"/api/v1/endpoints/{job}/invocations", json={"instances": instances})
    assert response.status_code == 200, response.text
    forecasts = response.json()["forecasts"]
    assert [(f["item_id"], f["store_id"]) for f in forecasts] == [("i1", "s0"), ("i0", "s1")]
    days = pd.date_range(actual["timestamp"].min(), periods=HORIZON, freq="D").strftime("%Y-%m-%d")
    for forecast, ids in zip(forecasts, instances, strict=True):
        assert forecast["timestamps"] == days.tolist()
        assert np.all(np.diff([forecast[k] for k in ("p10", "p50", "p90")], axis=0) >= 0)
        truth = actual[
            (actual["item_id"] == ids["item_id"]) & (actual["store_id"] == ids["store_id"])
        ]
        assert wape(truth["sales"].to_numpy(), np.array(forecast["p50"])) < 0.3

    as_csv = api.client.post(
        f"/api/v1/endpoints/{job}/invocations",
        json={"instances": instances},
        headers={**api.headers, "Accept": "text/csv"},
    )
    assert as_csv.status_code == 400 and "Accept" in as_csv.json()["error"]["message"]
    unknown = api.post(
        f"/api/v1/endpoints/{job}/invocations",
        json={"instances": [{"item_id": "i7", "store_id": "s0"}]},
    )
    assert unknown.status_code == 400
    assert "instances" in unknown.json()["error"]["message"]
