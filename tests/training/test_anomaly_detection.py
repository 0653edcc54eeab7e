"""The anomaly-detection algorithm (an isolation forest): directly, then through REST.

Data are generated: records from a 4-dimensional standard normal, and anomalies drawn
uniformly from a box six standard deviations wide, labelled 1 in the validation channel.
"""

from __future__ import annotations

import json
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms import get_algorithm, load_model
from shipyard.training.algorithms.model_io import MANIFEST_FILE

FEATURES = ["a", "b", "c", "d"]
FAST = {"num_trees": 50}
BASE_METRICS = {"anomaly_rate", "score_mean", "score_std"}
LABELLED_METRICS = {"auc", "f1", "precision", "recall"}


def records(rows: int, anomaly_rate: float, seed: int) -> pd.DataFrame:
    """`rows` records, about `anomaly_rate` of them anomalies, with their `label`."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, len(FEATURES)))
    anomalous = rng.random(rows) < anomaly_rate
    values[anomalous] = rng.uniform(-6, 6, size=(int(anomalous.sum()), len(FEATURES)))
    frame = pd.DataFrame(values, columns=FEATURES)
    frame["label"] = anomalous.astype(int)
    return frame


@dataclass
class Fitted:
    train: pd.DataFrame
    validation: pd.DataFrame
    metrics: dict[str, float]
    logged: list[tuple[str, float, int | None]]
    model_dir: Path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    """Trained on unlabelled records, scored against a labelled validation channel."""
    train = records(1000, 0.02, seed=0).drop(columns=["label"])
    validation = records(400, 0.05, seed=1)
    algorithm = get_algorithm("anomaly-detection")
    logged: list[tuple[str, float, int | None]] = []
    model_dir = tmp_path_factory.mktemp("anomaly")
    metrics = algorithm.fit(
        train,
        validation,
        "label",
        algorithm.validate_hyperparameters({**FAST, "contamination": 0.05}),
        model_dir,
        lambda name, value, step: logged.append((name, value, step)),
        cpu_count=1,
    )
    return Fitted(train, validation, metrics, logged, model_dir)


def fit(
    train: pd.DataFrame,
    validation: pd.DataFrame | None,
    target: str | None,
    model_dir: Path,
    **hyperparameters: object,
) -> dict[str, float]:
    algorithm = get_algorithm("anomaly-detection")
    params = algorithm.validate_hyperparameters({**FAST, **hyperparameters})
    return algorithm.fit(train, validation, target, params, model_dir, _ignore, cpu_count=1)


def _ignore(name: str, value: float, step: int | None) -> None:
    pass


# ---- the algorithm -----------------------------------------------------------------------
def test_a_labelled_validation_channel_scores_the_detector(fitted: Fitted) -> None:
    expected = {f"train:{m}" for m in BASE_METRICS} | {
        f"validation:{m}" for m in BASE_METRICS | LABELLED_METRICS
    }
    assert set(fitted.metrics) == expected
    assert fitted.metrics["validation:auc"] >= 0.95
    assert fitted.metrics["validation:recall"] >= 0.8
    # a contamination of 5% puts the threshold at the 95th percentile of the train scores
    assert fitted.metrics["train:anomaly_rate"] == pytest.approx(0.05, abs=0.002)
    assert {(name, value) for name, value, step in fitted.logged if step is None} == set(
        fitted.metrics.items()
    )


def test_emitted_metrics_announce_what_a_labelled_fit_reports(fitted: Fitted) -> None:
    algorithm = get_algorithm("anomaly-detection")
    params = algorithm.validate_hyperparameters(FAST)
    with_validation = algorithm.emitted_metrics(params, ["train", "validation"])
    assert set(fitted.metrics) == with_validation.final
    assert with_validation.stepped == frozenset()
    without = algorithm.emitted_metrics(params, ["train"])
    assert without.final == {f"train:{m}" for m in BASE_METRICS}


def test_manifest_and_model_file(fitted: Fitted) -> None:
    manifest = json.loads((fitted.model_dir / MANIFEST_FILE).read_text())
    assert manifest["algorithm"] == "anomaly-detection"
    assert manifest["problem_type"] == "anomaly_detection"
    assert (manifest["target"], manifest["classes"]) == ("label", None)
    assert manifest["feature_names"] == FEATURES
    assert manifest["format"] == "skops"
    assert {path.name for path in fitted.model_dir.iterdir()} == {MANIFEST_FILE, "model.skops"}
    model_file = fitted.model_dir / "model.skops"
    with zipfile.ZipFile(model_file) as archive:  # skops, no pickle inside
        assert not any(archive.read(name).startswith(b"\x80") for name in archive.namelist())
    untrusted = skops.io.get_untrusted_types(file=model_file)
    assert set(untrusted) <= get_algorithm("anomaly-detection").trusted_types


def test_reloaded_model_flags_what_scores_above_zero(fitted: Fitted) -> None:
    model = load_model(fitted.model_dir)
    features = fitted.validation[FEATURES]
    output = model.predict(features)
    assert set(output) == {"predictions", "scores"}
    scores = np.asarray(output["scores"])
    assert output["predictions"] == (scores > 0).astype(int).tolist()
    assert np.mean(output["predictions"]) == pytest.approx(
        fitted.metrics["validation:anomaly_rate"]
    )
    assert scores.mean() == pytest.approx(fitted.metrics["validation:score_mean"], rel=1e-9)
    far_and_usual = pd.DataFrame([[5.0, -5.0, 5.0, -5.0], [0.0] * 4], columns=FEATURES)
    far, usual = model.predict(far_and_usual)["scores"]
    assert far > 0 > usual


def test_columns_in_any_order_or_by_position_score_the_same(fitted: Fitted) -> None:
    model = load_model(fitted.model_dir)
    features = fitted.validation[FEATURES].head(5)
    expected = model.predict(features)
    assert model.predict(features[FEATURES[::-1]]) == expected
    assert model.predict(pd.DataFrame(features.to_numpy())) == expected
    assert model.predict(features.head(0)) == {"predictions": [], "scores": []}
    with pytest.raises(ValidationError, match="expected 4 features") as error:
        model.predict(pd.DataFrame(features.to_numpy()[:, :3]))
    assert error.value.field == "instances"


def test_without_labels_only_the_scores_are_summarised(tmp_path: Path) -> None:
    train = records(300, 0.02, seed=2)  # the label is in train: kept out of the features
    validation = records(100, 0.05, seed=3).drop(columns=["label"])
    metrics = fit(train, validation, "label", tmp_path)
    assert set(metrics) == {f"{c}:{m}" for c in ("train", "validation") for m in BASE_METRICS}
    assert load_model(tmp_path).feature_names == FEATURES
    unnamed = fit(train.drop(columns=["label"]), None, None, tmp_path / "unnamed")
    assert set(unnamed) == {f"train:{m}" for m in BASE_METRICS}


def test_missing_values_are_accepted_and_small_data_needs_no_tuning(tmp_path: Path) -> None:
    train = records(40, 0.0, seed=4).drop(columns=["label"])  # fewer rows than a tree samples
    train.iloc[0, 0] = np.nan
    metrics = fit(train, None, None, tmp_path, contamination="auto")
    assert 0 <= metrics["train:anomaly_rate"] <= 1
    assert len(load_model(tmp_path).predict(train)["scores"]) == 40


@pytest.mark.parametrize(
    ("hyperparameters", "field"),
    [
        ({"contamination": 0}, "contamination"),
        ({"contamination": 0.6}, "contamination"),
        ({"contamination": "lots"}, "contamination"),
        ({"num_trees": 0}, "num_trees"),
        ({"num_samples_per_tree": 1}, "num_samples_per_tree"),
        ({"max_features": 1.5}, "max_features"),
        ({"bootstrap": "sometimes"}, "bootstrap"),
        ({"num_round": 10}, "num_round"),
    ],
)
def test_bad_hyperparameters_name_the_field(hyperparameters: dict, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        get_algorithm("anomaly-detection").validate_hyperparameters(hyperparameters)
    assert error.value.field == f"hyperparameters.{field}"


def test_hyperparameters_arrive_as_strings_as_sagemaker_passes_them() -> None:
    validate = get_algorithm("anomaly-detection").validate_hyperparameters
    params = validate(
        {"num_trees": "200", "contamination": "0.01", "bootstrap": "true", "max_features": "0.5"}
    )
    assert (params["num_trees"], params["contamination"], params["bootstrap"]) == (200, 0.01, True)
    assert validate({"contamination": "AUTO"})["contamination"] == "auto"
    assert validate({})["contamination"] == "auto"


def test_bad_channels_name_the_field(tmp_path: Path) -> None:
    train = records(50, 0.0, seed=5)
    with_text = train.assign(colour=["red", "blue"] * 25)
    with pytest.raises(ValidationError, match="'colour'") as error:
        fit(with_text, None, "label", tmp_path)
    assert error.value.field == "channels.train"
    graded = records(50, 0.1, seed=6).assign(label=lambda f: f["label"].map({0: "ok", 1: "bad"}))
    with pytest.raises(ValidationError, match="1 or True") as error:
        fit(train, graded, "label", tmp_path)
    assert error.value.field == "target"
    with pytest.raises(ValidationError) as error:
        fit(train.head(0), None, None, tmp_path)
    assert error.value.field == "channels.train"


# ---- through REST --------------------------------------------------------------------------
def test_train_deploy_and_invoke_through_rest(api, tmp_path: Path) -> None:
    train_path, validation_path = tmp_path / "train.csv", tmp_path / "validation.csv"
    records(600, 0.02, seed=7).drop(columns=["label"]).to_csv(train_path, index=False)
    records(300, 0.05, seed=8).to_csv(validation_path, index=False)
    name = f"anomalies-{uuid.uuid4().hex[:8]}"
    created = api.post(
        "/api/v1/training-jobs",
        json={
            "name": name,
            "algorithm": "anomaly-detection",
            "target": "label",  # only in the validation channel: scores the detector
            "hyperparameters": {"num_trees": "50", "contamination": "0.05"},
            "channels": {"train": str(train_path), "validation": str(validation_path)},
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["hyperparameters"]["num_samples_per_tree"] == 256

    job = api.wait_for_job(name)
    assert job["status"] == "Completed", job["failure_reason"]
    assert job["final_metrics"]["validation:auc"] >= 0.9
    endpoint = api.deploy(name)
    assert endpoint["status"] == "InService", endpoint["failure_reason"]

    usual, far = {"a": 0.1, "b": -0.2, "c": 0.0, "d": 0.3}, {"a": 5, "b": -5, "c": 5, "d": -5}
    answer = api.invoke(name, json.dumps([usual, far]).encode(), "application/json")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["predictions"] == [0, 1]
    assert body["scores"][1] > 0 > body["scores"][0]
    as_csv = api.invoke(name, b"0.1,-0.2,0.0,0.3\n5,-5,5,-5\n", "text/csv")
    assert as_csv.json()["predictions"] == [0, 1]
    text = api.invoke(name, json.dumps([{**usual, "a": "high"}]).encode(), "application/json")
    assert text.status_code == 400 and "instances" in text.json()["error"]["message"]


def test_bad_requests_are_4xx_or_a_failure_naming_the_field(api, tmp_path: Path) -> None:
    train_path = tmp_path / "train.csv"
    records(60, 0.0, seed=9).assign(colour="red").to_csv(train_path, index=False)

    def create(**overrides: object):
        body = {
            "name": f"bad-anomalies-{uuid.uuid4().hex[:8]}",
            "algorithm": "anomaly-detection",
            "channels": {"train": str(train_path)},
            **overrides,
        }
        return body["name"], api.post("/api/v1/training-jobs", json=body)

    for overrides, field in (
        ({"hyperparameters": {"trees": 10}}, "hyperparameters.trees"),
        ({"hyperparameters": {"contamination": 0.9}}, "hyperparameters.contamination"),
        ({"target": "is_fraud"}, "target"),
    ):
        _, response = create(**overrides)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["message"].startswith(f"{field}:")
    # a column's type shows only once the job reads the table: the job fails, naming it
    name, response = create()
    assert response.status_code == 201, response.text
    job = api.wait_for_job(name)
    assert job["status"] == "Failed"
    assert job["failure_reason"].startswith("channels.train:")
    assert "'colour'" in job["failure_reason"]
