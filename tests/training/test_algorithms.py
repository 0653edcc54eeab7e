"""Tests of the built-in algorithms: one contract run against every algorithm, then specifics."""

from __future__ import annotations

import functools
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms import (
    ALGORITHM_NAMES,
    LoadedModel,
    get_algorithm,
    load_model,
)
from shipyard.training.algorithms.model_io import MANIFEST_FILE

SUPERVISED = ("lightgbm", "linear-learner", "random-forest", "xgboost")
BOOSTERS = ("lightgbm", "xgboost")
DOCUMENTS = ("text-classification",)  # learns from a column of text, not from numbers
TIME_SERIES = ("forecasting",)  # learns from a long table of series (test_forecasting.py)
NUMERIC_FEATURES = tuple(n for n in ALGORITHM_NAMES if n not in DOCUMENTS + TIME_SERIES)
FAST = {  # small models so the whole file runs in seconds
    "anomaly-detection": {"num_trees": 10},
    "factorization-machines": {"epochs": 2},
    "forecasting": {"prediction_length": 7, "num_iterations": 10},
    "kmeans": {"k": 4},
    "lightgbm": {"num_iterations": 20, "num_leaves": 7, "min_data_in_leaf": 5},
    "linear-learner": {},
    "random-forest": {"num_trees": 10},
    "text-classification": {"max_features": 1000},
    "xgboost": {"num_round": "20", "max_depth": "3"},  # strings, as SageMaker passes them
}
CLASSIFIER_METRICS = ("accuracy", "auc", "f1", "logloss", "precision", "recall")
METRIC_NAMES = {
    "binary_classification": CLASSIFIER_METRICS,
    "multiclass_classification": CLASSIFIER_METRICS,
    "regression": ("mae", "r2", "rmse"),
}


@functools.cache
def _dataset(name: str) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """A fixed 70/30 split of a bundled data set (or generated blobs); treat as read-only."""
    if name == "blobs":
        points, _ = make_blobs(300, n_features=3, centers=4, random_state=0)
        frame = pd.DataFrame(points, columns=["x", "y", "z"])
        target = None
    else:
        loader = {
            "breast_cancer": load_breast_cancer,
            "diabetes": load_diabetes,
            "iris": load_iris,
        }[name]
        frame = loader(as_frame=True).frame
        target = "target"
    train = frame.sample(frac=0.7, random_state=0)
    return train, frame.drop(train.index), target


CASES = [("kmeans", "blobs", "clustering")] + [
    (algorithm, dataset, problem_type)
    for algorithm in SUPERVISED
    for dataset, problem_type in (
        ("breast_cancer", "binary_classification"),
        ("iris", "multiclass_classification"),
        ("diabetes", "regression"),
    )
]


@dataclass
class Trained:
    algorithm: str
    problem_type: str
    train: pd.DataFrame
    validation: pd.DataFrame
    target: str | None
    metrics: dict[str, float]
    logged: list[tuple[str, float, int | None]]
    model_dir: Path

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.drop(columns=[self.target]) if self.target else frame


@pytest.fixture(scope="module", params=CASES, ids=["-".join(case[:2]) for case in CASES])
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    algorithm_name, dataset, problem_type = request.param
    train, validation, target = _dataset(dataset)
    algorithm = get_algorithm(algorithm_name)
    logged: list[tuple[str, float, int | None]] = []
    model_dir = tmp_path_factory.mktemp(algorithm_name)
    metrics = algorithm.fit(
        train,
        validation,
        target,
        algorithm.validate_hyperparameters(FAST[algorithm_name]),
        model_dir,
        lambda name, value, step: logged.append((name, value, step)),
        cpu_count=1,
    )
    return Trained(
        algorithm_name, problem_type, train, validation, target, metrics, logged, model_dir
    )


class TestAlgorithmContract:
    """What every algorithm promises, checked on every problem type it solves."""

    def test_reports_the_metric_names_of_its_problem_type(self, trained: Trained) -> None:
        if trained.problem_type == "clustering":
            expected = {"train:msd", "train:inertia", "validation:msd"}
        else:
            names = METRIC_NAMES[trained.problem_type]
            expected = {
                f"{channel}:{name}" for channel in ("train", "validation") for name in names
            }
        assert set(trained.metrics) == expected
        assert all(isinstance(value, float) for value in trained.metrics.values())

    def test_logs_each_final_metric_without_a_step(self, trained: Trained) -> None:
        final = {name: value for name, value, step in trained.logged if step is None}
        assert final == trained.metrics

    def test_manifest_describes_the_model(self, trained: Trained) -> None:
        manifest = json.loads((trained.model_dir / MANIFEST_FILE).read_text())
        assert manifest["algorithm"] == trained.algorithm
        assert manifest["problem_type"] == trained.problem_type
        assert manifest["feature_names"] == list(trained.features(trained.train).columns)
        assert manifest["target"] == trained.target
        assert manifest["format"] in {"xgboost-ubj", "lightgbm-text", "skops"}
        if trained.problem_type.endswith("classification"):
            assert manifest["classes"] == sorted(trained.train[trained.target].unique().tolist())
        else:
            assert manifest["classes"] is None

    def test_model_directory_holds_no_pickle(self, trained: Trained) -> None:
        manifest = json.loads((trained.model_dir / MANIFEST_FILE).read_text())
        files = {path.name: path.read_bytes() for path in trained.model_dir.iterdir()}
        assert set(files) == {MANIFEST_FILE, manifest["model_file"]}
        assert not any(content.startswith(b"\x80") for content in files.values())
        if manifest["format"] == "skops":
            model_file = trained.model_dir / manifest["model_file"]
            with zipfile.ZipFile(model_file) as archive:
                assert not any(
                    archive.read(member).startswith(b"\x80") for member in archive.namelist()
                )
            untrusted = skops.io.get_untrusted_types(file=model_file)
            assert set(untrusted) <= get_algorithm(trained.algorithm).trusted_types

    def test_reloaded_model_reproduces_the_training_metrics(self, trained: Trained) -> None:
        model = load_model(trained.model_dir)
        assert isinstance(model, LoadedModel)
        assert (model.algorithm, model.problem_type) == (trained.algorithm, trained.problem_type)
        output = model.predict(trained.features(trained.train))
        assert len(output["predictions"]) == len(trained.train)
        metrics = trained.metrics
        if trained.problem_type == "clustering":
            msd = np.mean(np.square(output["distances"]))
            assert msd == pytest.approx(metrics["train:msd"], rel=1e-6)
            assert set(output["predictions"]) <= set(range(4))
        elif trained.problem_type == "regression":
            errors = np.asarray(output["predictions"]) - trained.train[trained.target].to_numpy()
            assert np.sqrt(np.mean(errors**2)) == pytest.approx(metrics["train:rmse"], rel=1e-6)
        else:
            labels = trained.train[trained.target].tolist()
            accuracy = np.mean(np.asarray(output["predictions"]) == np.asarray(labels))
            assert accuracy == pytest.approx(metrics["train:accuracy"])
            probabilities = np.asarray(output["probabilities"])
            assert probabilities.shape == (len(labels), len(model.classes))
            picked = probabilities[
                np.arange(len(labels)), [model.classes.index(label) for label in labels]
            ]
            logloss = -np.mean(np.log(np.clip(picked, 1e-15, 1)))
            assert logloss == pytest.approx(metrics["train:logloss"], rel=1e-6, abs=1e-9)

    def test_columns_in_any_order_or_by_position_predict_the_same(self, trained: Trained) -> None:
        model = load_model(trained.model_dir)
        features = trained.features(trained.validation).head(5)
        expected = model.predict(features)
        _assert_same_output(model.predict(features[features.columns[::-1]]), expected)
        _assert_same_output(model.predict(pd.DataFrame(features.to_numpy())), expected)  # no header
        _assert_same_output(model.predict(features.head(1)), expected, rows=1)

    def test_wrong_feature_count_is_rejected(self, trained: Trained) -> None:
        model = load_model(trained.model_dir)
        features = trained.features(trained.validation).head(2)
        n = len(model.feature_names)
        with pytest.raises(ValidationError, match=f"expected {n} features") as error:
            model.predict(pd.DataFrame(features.to_numpy()[:, :-1]))
        assert error.value.field == "instances"
        with pytest.raises(ValidationError, match="missing: ") as error:
            model.predict(features.drop(columns=[features.columns[0]]))
        assert error.value.field == "instances"

    def test_non_numeric_instance_is_rejected(self, trained: Trained) -> None:
        model = load_model(trained.model_dir)
        features = trained.features(trained.validation).head(2).astype(object)
        features.iloc[0, 0] = "abc"
        with pytest.raises(ValidationError) as error:
            model.predict(features)
        assert error.value.field == "instances"


@pytest.mark.parametrize("name", ALGORITHM_NAMES)
class TestHyperparameterContract:
    def test_defaults_are_filled_in(self, name: str) -> None:
        hyperparameters = get_algorithm(name).validate_hyperparameters(FAST[name])
        assert set(FAST[name]) < set(hyperparameters)
        json.dumps(hyperparameters)  # recorded in the manifest as is

    def test_unknown_hyperparameter_is_rejected(self, name: str) -> None:
        with pytest.raises(ValidationError, match="unknown hyperparameter 'foo'; expected one of"):
            get_algorithm(name).validate_hyperparameters({**FAST[name], "foo": 1})


@pytest.mark.parametrize("name", NUMERIC_FEATURES)
def test_non_numeric_feature_is_rejected(name: str, tmp_path: Path) -> None:
    train = pd.DataFrame({"colour": ["red", "blue"] * 10, "size": range(20), "label": [0, 1] * 10})
    algorithm = get_algorithm(name)
    params = algorithm.validate_hyperparameters(FAST[name])
    with pytest.raises(ValidationError, match="'colour'") as error:
        algorithm.fit(train, None, "label", params, tmp_path, _ignore)
    assert error.value.field == "channels.train"


def _ignore(name: str, value: float, step: int | None) -> None:
    pass


def _assert_same_output(
    actual: dict[str, list[Any]], expected: dict[str, list[Any]], rows: int | None = None
) -> None:
    """Equal labels, numbers equal but for BLAS rounding (which depends on memory layout)."""
    assert actual.keys() == expected.keys()
    for key, values in actual.items():
        if key == "predictions" and not isinstance(values[0], float):
            assert values == expected[key][:rows]
        else:
            np.testing.assert_allclose(values, expected[key][:rows], rtol=1e-9)


def _fit(
    name: str,
    train: pd.DataFrame,
    validation: pd.DataFrame | None,
    target: str | None,
    model_dir: Path,
    **hyperparameters: Any,
) -> dict[str, float]:
    algorithm = get_algorithm(name)
    params = algorithm.validate_hyperparameters({**FAST[name], **hyperparameters})
    return algorithm.fit(train, validation, target, params, model_dir, _ignore, cpu_count=1)


def _field_error(call: Any, *args: Any, **kwargs: Any) -> ValidationError:
    with pytest.raises(ValidationError) as error:
        call(*args, **kwargs)
    return error.value


@pytest.mark.parametrize("name", BOOSTERS)
def test_boosters_log_a_curve_per_iteration(name: str, tmp_path: Path) -> None:
    train, validation, target = _dataset("breast_cancer")
    logged: list[tuple[str, float, int | None]] = []
    algorithm = get_algorithm(name)
    params = algorithm.validate_hyperparameters(FAST[name])
    algorithm.fit(
        train,
        validation,
        target,
        params,
        tmp_path,
        lambda metric, value, step: logged.append((metric, value, step)),
    )
    steps: dict[str, list[int]] = {}
    for metric, _, step in logged:
        if step is not None:
            steps.setdefault(metric, []).append(step)
    assert {metric.split(":")[0] for metric in steps} == {"train", "validation"}
    assert "validation:auc" in steps
    assert all(values == list(range(20)) for values in steps.values())


def test_boosters_log_no_curve_without_validation(tmp_path: Path) -> None:
    train, _, target = _dataset("breast_cancer")
    logged: list[int | None] = []
    algorithm = get_algorithm("xgboost")
    algorithm.fit(
        train,
        None,
        target,
        algorithm.validate_hyperparameters(FAST["xgboost"]),
        tmp_path,
        lambda metric, value, step: logged.append(step),
    )
    assert logged and set(logged) == {None}


def test_xgboost_on_breast_cancer_reaches_a_validation_auc_of_095(tmp_path: Path) -> None:
    train, validation, target = _dataset("breast_cancer")
    assert _fit("xgboost", train, validation, target, tmp_path)["validation:auc"] >= 0.95


def test_linear_learner_regression_on_diabetes(tmp_path: Path) -> None:
    train, validation, target = _dataset("diabetes")
    metrics = _fit("linear-learner", train, validation, target, tmp_path, l1="0.01")
    assert metrics["train:rmse"] > 0
    assert metrics["validation:r2"] > 0.3
    assert load_model(tmp_path).manifest.hyperparameters["l1"] == 0.01


@pytest.mark.parametrize("early_stopping", ["xgboost", "lightgbm"])
def test_early_stopping_keeps_the_best_iteration(early_stopping: str, tmp_path: Path) -> None:
    train, validation, target = _dataset("breast_cancer")
    metrics = _fit(
        early_stopping,
        train,
        validation,
        target,
        tmp_path,
        early_stopping_rounds=3,
        **{"num_round" if early_stopping == "xgboost" else "num_iterations": 500},
    )
    model = load_model(tmp_path)
    output = model.predict(validation.drop(columns=[target]))
    accuracy = np.mean(np.asarray(output["predictions"]) == validation[target].to_numpy())
    assert accuracy == pytest.approx(metrics["validation:accuracy"])


@pytest.mark.parametrize("name", BOOSTERS)
def test_early_stopping_needs_a_validation_channel(name: str, tmp_path: Path) -> None:
    train, _, target = _dataset("breast_cancer")
    error = _field_error(_fit, name, train, None, target, tmp_path, early_stopping_rounds=3)
    assert error.field == "hyperparameters.early_stopping_rounds"


@pytest.mark.parametrize("name", SUPERVISED)
def test_string_labels_round_trip(name: str, tmp_path: Path) -> None:
    train, validation, target = _dataset("iris")
    species = np.array(["setosa", "versicolor", "virginica"], dtype=object)
    train = train.assign(target=species[train[target]])
    validation = validation.assign(target=species[validation[target]])
    _fit(name, train, validation, target, tmp_path)
    model = load_model(tmp_path)
    assert model.problem_type == "multiclass_classification"
    assert model.classes == list(species)
    predictions = model.predict(validation.drop(columns=[target]))["predictions"]
    assert set(predictions) <= set(species)
    assert np.mean(np.asarray(predictions) == validation[target].to_numpy()) > 0.8


def test_bool_target_is_binary_with_bool_classes(tmp_path: Path) -> None:
    train, _, target = _dataset("breast_cancer")
    _fit("xgboost", train.assign(target=train[target] == 1), None, target, tmp_path)
    model = load_model(tmp_path)
    assert (model.problem_type, model.classes) == ("binary_classification", [False, True])


def test_hyperparameter_strings_are_typed() -> None:
    hyperparameters = get_algorithm("xgboost").validate_hyperparameters(
        {
            "max_depth": "5",
            "eta": "0.1",
            "eval_metric": "auc, logloss",
            "num_class": "None",
            "lambda": "2",
        }
    )
    assert hyperparameters["max_depth"] == 5
    assert hyperparameters["eta"] == 0.1
    assert hyperparameters["eval_metric"] == ["auc", "logloss"]
    assert hyperparameters["num_class"] is None
    assert hyperparameters["lambda"] == 2.0
    assert hyperparameters["num_round"] == 100
    linear = get_algorithm("linear-learner").validate_hyperparameters({"normalize_data": "false"})
    assert linear["normalize_data"] is False


@pytest.mark.parametrize(
    ("name", "hyperparameters", "field", "message"),
    [
        ("xgboost", {"max_depth": -1}, "max_depth", "must be >= 0 and <= 30, got -1"),
        ("xgboost", {"eta": "0"}, "eta", "must be > 0 and <= 1"),
        ("xgboost", {"objective": "rank:pairwise"}, "objective", "must be one of"),
        ("xgboost", {"eval_metric": "auc,bogus"}, "eval_metric", "must be one of"),
        ("xgboost", {"num_round": "many"}, "num_round", "must be a valid integer"),
        ("lightgbm", {"max_depth": 0}, "max_depth", "must be -1 (no limit) or >= 1"),
        ("random-forest", {"max_features": 1.5}, "max_features", "a fraction in (0, 1]"),
        ("random-forest", {"max_depth": 0}, "max_depth", "must be >= 1"),
        ("kmeans", {}, "k", "is required"),
        ("linear-learner", {"class_weight": "even"}, "class_weight", "'balanced'"),
    ],
)
def test_invalid_hyperparameters_name_the_field(
    name: str, hyperparameters: dict[str, Any], field: str, message: str
) -> None:
    error = _field_error(get_algorithm(name).validate_hyperparameters, hyperparameters)
    assert error.field == f"hyperparameters.{field}"
    assert message in error.message


def test_valid_edge_hyperparameters_are_accepted() -> None:
    lightgbm = get_algorithm("lightgbm").validate_hyperparameters({"max_depth": "-1"})
    assert lightgbm["max_depth"] == -1
    forest = get_algorithm("random-forest").validate_hyperparameters(
        {"max_depth": "None", "max_features": "0.5"}
    )
    assert (forest["max_depth"], forest["max_features"]) == (None, 0.5)


def test_unknown_algorithm_is_rejected() -> None:
    error = _field_error(get_algorithm, "foo")
    assert error.field == "algorithm"
    expected = ", ".join(ALGORITHM_NAMES)
    assert error.message == f"algorithm: unknown algorithm 'foo'; expected one of {expected}"
    assert "kmeans, lightgbm" in error.message  # sorted


@pytest.mark.parametrize("name", SUPERVISED)
def test_missing_target_column_is_rejected(name: str, tmp_path: Path) -> None:
    train, validation, _ = _dataset("breast_cancer")
    error = _field_error(_fit, name, train, validation, "label", tmp_path)
    assert error.field == "target"
    assert "target column 'label' not found in channel 'train'; columns are: " in error.message


def test_target_missing_from_validation_is_rejected(tmp_path: Path) -> None:
    train, validation, target = _dataset("breast_cancer")
    error = _field_error(
        _fit, "xgboost", train, validation.drop(columns=[target]), target, tmp_path
    )
    assert (error.field, "channel 'validation'" in error.message) == ("target", True)


def test_validation_with_other_features_is_rejected(tmp_path: Path) -> None:
    train, validation, target = _dataset("breast_cancer")
    validation = validation.rename(columns={"mean radius": "radius"})
    error = _field_error(_fit, "xgboost", train, validation, target, tmp_path)
    assert error.field == "channels.validation"
    assert "'mean radius'" in error.message and "'radius'" in error.message


def test_binary_objective_needs_two_classes(tmp_path: Path) -> None:
    train, _, target = _dataset("iris")
    error = _field_error(
        _fit, "xgboost", train, None, target, tmp_path, objective="binary:logistic"
    )
    assert error.field == "hyperparameters.objective"


def test_kmeans_ignores_a_named_target_and_checks_k(tmp_path: Path) -> None:
    train, validation, _ = _dataset("blobs")
    train = train.assign(label=1)
    _fit("kmeans", train, validation, "label", tmp_path)
    assert load_model(tmp_path).feature_names == ["x", "y", "z"]
    error = _field_error(_fit, "kmeans", train.head(3), None, None, tmp_path / "small")
    assert error.field == "hyperparameters.k"


def test_missing_values_only_where_the_algorithm_accepts_them(tmp_path: Path) -> None:
    train, _, target = _dataset("breast_cancer")
    train = train.copy()
    train.iloc[0, 0] = np.nan
    _fit("xgboost", train, None, target, tmp_path / "xgboost")
    row = train.drop(columns=[target]).head(1)
    assert len(load_model(tmp_path / "xgboost").predict(row)["predictions"]) == 1
    error = _field_error(_fit, "linear-learner", train, None, target, tmp_path / "linear")
    assert error.field == "channels.train"
    assert "'mean radius'" in error.message


def test_skops_types_outside_the_allow_list_are_refused(tmp_path: Path) -> None:
    train, _, target = _dataset("breast_cancer")
    _fit("linear-learner", train, None, target, tmp_path)
    features = train.drop(columns=[target]).to_numpy()
    foreign = Pipeline([("scale", _ForeignScaler()), ("model", LogisticRegression())])
    foreign.fit(features, train[target].to_numpy())
    skops.io.dump(foreign, tmp_path / "model.skops")
    with pytest.raises(ValueError, match="_ForeignScaler"):
        load_model(tmp_path)


def test_manifest_cannot_point_outside_the_model_directory(tmp_path: Path) -> None:
    train, _, target = _dataset("breast_cancer")
    _fit("xgboost", train, None, target, tmp_path)
    manifest = json.loads((tmp_path / MANIFEST_FILE).read_text())
    manifest["model_file"] = "../model.ubj"
    (tmp_path / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="plain file name"):
        load_model(tmp_path)


class _ForeignScaler(StandardScaler):
    """A type the loader never wrote, standing in for anything smuggled into a model file."""


@pytest.mark.parametrize("n_classes", [2, 3])
def test_numpy_metrics_match_scikit_learn(n_classes: int) -> None:
    from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

    from shipyard.training.algorithms.metrics import classification_metrics

    rng = np.random.default_rng(3)
    codes = rng.integers(0, n_classes, 500)
    probabilities = rng.dirichlet(np.ones(n_classes), 500)
    probabilities[:50] = np.round(probabilities[:50], 1)  # ties
    problem = "binary_classification" if n_classes == 2 else "multiclass_classification"
    ours = classification_metrics("train", codes, probabilities, problem)
    average = "binary" if n_classes == 2 else "macro"
    precision, recall, f1, _ = precision_recall_fscore_support(
        codes, probabilities.argmax(axis=1), average=average, zero_division=0
    )
    auc = (
        roc_auc_score(codes, probabilities[:, 1])
        if n_classes == 2
        else np.mean([roc_auc_score(codes == k, probabilities[:, k]) for k in range(n_classes)])
    )
    assert ours["train:precision"] == pytest.approx(precision)
    assert ours["train:recall"] == pytest.approx(recall)
    assert ours["train:f1"] == pytest.approx(f1)
    assert ours["train:auc"] == pytest.approx(auc)
