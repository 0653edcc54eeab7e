"""factorization-machines: learns interactions a linear model cannot, from one-hot ids or a
libsvm channel; served by numpy alone; bad input names its field; one journey through REST.

Data are generated here: clicks driven by user × item affinity through latent factors of
mean zero, so that no user and no item clicks more than another on average.
"""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import OneHotEncoder

from shipyard.core.artifacts import LocalArtifactStore
from shipyard.core.errors import ValidationError
from shipyard.data.tables import read_table, resolve_table
from shipyard.training.algorithms import get_algorithm, load_model
from shipyard.training.algorithms.fm_model import Factors
from shipyard.training.algorithms.metrics import evaluate

ALGORITHM = "factorization-machines"
IDS = ["user_id", "item_id", "device"]
CLICKS = {"categorical_columns": ",".join(IDS)}
USERS, ITEMS = 2000, 500


def interactions(rows: int, seed: int = 0, users: int = USERS, items: int = ITEMS) -> pd.DataFrame:
    """Clicks of `users` users on `items` items from three devices (which have no effect):
    the probability of a click is sigmoid(3 <p_u, q_i> / 2), p and q of 4 standard normals."""
    rng = np.random.default_rng(seed)
    user_factors = np.random.default_rng(1).normal(size=(users, 4))
    item_factors = np.random.default_rng(2).normal(size=(items, 4))
    user, item = rng.integers(0, users, rows), rng.integers(0, items, rows)
    affinity = (user_factors[user] * item_factors[item]).sum(axis=1) / 2.0
    return pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in user],
            "item_id": [f"i{i}" for i in item],
            "device": rng.choice(["mobile", "desktop", "tablet"], rows),
            "clicked": (rng.random(rows) < expit(3.0 * affinity)).astype(int),
        }
    )


@dataclass
class Fitted:
    train: pd.DataFrame
    held_out: pd.DataFrame
    metrics: dict[str, float]
    logged: list[tuple[str, float, int | None]]
    model_dir: Path


def fit(
    train: pd.DataFrame,
    validation: pd.DataFrame | None,
    target: str,
    model_dir: Path,
    should_stop: Any = None,
    **hyperparameters: Any,
) -> tuple[dict[str, float], list[tuple[str, float, int | None]]]:
    algorithm = get_algorithm(ALGORITHM)
    logged: list[tuple[str, float, int | None]] = []
    metrics = algorithm.fit(
        train,
        validation,
        target,
        algorithm.validate_hyperparameters(hyperparameters),
        model_dir,
        lambda name, value, step: logged.append((name, value, step)),
        cpu_count=1,
        should_stop=should_stop,
    )
    return metrics, logged


@pytest.fixture(scope="module")
def clicks(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    """40,000 clicks: 32,000 to train on, 8,000 held out (the validation channel)."""
    data = interactions(40_000)
    train, held_out = data.iloc[:32_000], data.iloc[32_000:]
    model_dir = tmp_path_factory.mktemp("fm-clicks")
    metrics, logged = fit(train, held_out, "clicked", model_dir, **CLICKS)
    return Fitted(train, held_out, metrics, logged, model_dir)


def test_beats_logistic_regression_on_the_same_one_hot_features(clicks: Fitted) -> None:
    encoder = OneHotEncoder(handle_unknown="ignore").fit(clicks.train[IDS])
    linear = LogisticRegression(max_iter=1000).fit(
        encoder.transform(clicks.train[IDS]), clicks.train["clicked"]
    )
    held_out = clicks.held_out
    linear_auc = roc_auc_score(
        held_out["clicked"], linear.predict_proba(encoder.transform(held_out[IDS]))[:, 1]
    )
    served = load_model(clicks.model_dir).predict(held_out[IDS])
    fm_auc = roc_auc_score(held_out["clicked"], np.array(served["probabilities"])[:, 1])
    assert linear_auc < 0.55  # no user or item alone tells a click
    assert fm_auc > linear_auc + 0.15, (fm_auc, linear_auc)
    assert clicks.metrics["validation:auc"] == pytest.approx(fm_auc)


def test_logs_curves_per_epoch_then_the_final_metrics(clicks: Fitted) -> None:
    for name in ("train:auc", "train:logloss", "validation:auc", "validation:logloss"):
        steps = [step for logged, _, step in clicks.logged if logged == name]
        assert steps == [*range(10), None], name
    finals = {name for name, _, step in clicks.logged if step is None}
    assert finals == set(clicks.metrics)
    emitted = get_algorithm(ALGORITHM).emitted_metrics(
        {"predictor_type": "binary_classifier"}, ["train", "validation"]
    )
    assert emitted.final == finals
    assert emitted.stepped == {name for name, _, step in clicks.logged if step is not None}


def test_emitted_metrics_cover_both_problem_types_under_auto() -> None:
    algorithm = get_algorithm(ALGORITHM)
    emitted = algorithm.emitted_metrics({}, ["train", "validation"])
    assert {"validation:auc", "validation:rmse", "train:r2"} <= emitted.final
    assert "validation:mae" in emitted.stepped
    assert algorithm.emitted_metrics({}, ["train"]).stepped == frozenset()


def test_the_reloaded_model_serves_without_torch_as_in_training(
    clicks: Fitted, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    ours = (
        "shipyard.training.algorithms.factorization_machines",
        "shipyard.training.algorithms.fm_",
    )
    for name in [m for m in sys.modules if m.startswith(ours)]:
        monkeypatch.delitem(sys.modules, name)  # so that they are imported again, torchless
    model = load_model(clicks.model_dir)
    probabilities = np.array(model.predict(clicks.held_out[IDS])["probabilities"])
    codes = clicks.held_out["clicked"].to_numpy()
    assert evaluate("binary_classification", "validation", codes, probabilities) == {
        name: value for name, value in clicks.metrics.items() if name.startswith("validation:")
    }
    files = sorted(p.name for p in clicks.model_dir.iterdir())
    assert files == ["feature-space.json", "model.npz", "shipyard-model.json"]
    manifest = json.loads((clicks.model_dir / "shipyard-model.json").read_text())
    assert manifest["options"] == {"feature_space_file": "feature-space.json"}
    assert manifest["feature_names"] == IDS
    assert manifest["classes"] == [0, 1]


def test_unseen_and_missing_ids_score_as_the_out_of_vocabulary_bucket(clicks: Fitted) -> None:
    model = load_model(clicks.model_dir)
    answer = model.predict(
        pd.DataFrame.from_records(
            [
                {"user_id": "newcomer", "item_id": "i3", "device": "mobile"},
                {"user_id": "stranger", "item_id": "i3", "device": "mobile"},
                {"user_id": None, "item_id": "i3", "device": "mobile"},
                {"user_id": "u17", "item_id": "i3", "device": "smart-tv"},
            ]
        )
    )
    first, second, missing, _ = answer["probabilities"]
    assert first == second == missing
    assert all(p in (0, 1) for p in answer["predictions"])
    assert all(sum(pair) == pytest.approx(1.0) for pair in answer["probabilities"])


def test_positional_columns_predict_as_named_ones(clicks: Fitted) -> None:
    model = load_model(clicks.model_dir)
    records = clicks.held_out[IDS].head(20)
    positional = pd.DataFrame(records.to_numpy())  # as a CSV body without header reads
    assert model.predict(positional) == model.predict(records)
    assert model.predict(records[IDS[::-1]]) == model.predict(records)


def test_validation_ids_unseen_in_training_are_fine(tmp_path: Path) -> None:
    data = interactions(6000)
    known = data["user_id"].isin([f"u{u}" for u in range(1000)])
    metrics, _ = fit(data[known], data[~known], "clicked", tmp_path, epochs=2, **CLICKS)
    assert {"validation:auc", "validation:logloss"} <= set(metrics)


def test_rare_ids_share_the_bucket_and_the_vocabulary_is_capped(tmp_path: Path) -> None:
    data = interactions(3000)
    fit(
        data,
        None,
        "clicked",
        tmp_path,
        epochs=1,
        min_category_count=3,
        max_categories=100,
        **CLICKS,
    )
    space = json.loads((tmp_path / "feature-space.json").read_text())
    users = data["user_id"].value_counts()
    kept = {column["name"]: column["categories"] for column in space["columns"]}
    assert len(kept["user_id"]) == min(100, int((users >= 3).sum()))
    assert set(kept["user_id"]) <= set(users[users >= 3].index)
    assert sorted(kept["device"]) == ["desktop", "mobile", "tablet"]


def test_the_pairwise_identity_equals_the_explicit_sum() -> None:
    rng = np.random.default_rng(0)
    matrix = sparse.random(30, 12, density=0.3, format="csr", dtype=np.float32, random_state=1)
    factors = Factors(
        0.5,
        rng.normal(size=12).astype(np.float32),
        rng.normal(size=(12, 3)).astype(np.float32),
    )
    dense = matrix.toarray().astype(np.float64)
    v = factors.pairwise.astype(np.float64)
    explicit = [
        factors.bias
        + row @ factors.linear
        + sum(v[i] @ v[j] * row[i] * row[j] for i in range(12) for j in range(i + 1, 12))
        for row in dense
    ]
    np.testing.assert_allclose(factors.score(matrix), explicit, rtol=1e-4, atol=1e-4)


def test_the_same_seed_trains_the_same_model(tmp_path: Path) -> None:
    data = interactions(3000)
    first, _ = fit(data, data, "clicked", tmp_path / "a", epochs=2, **CLICKS)
    again, _ = fit(data, data, "clicked", tmp_path / "b", epochs=2, **CLICKS)
    other, _ = fit(data, data, "clicked", tmp_path / "c", epochs=2, seed=7, **CLICKS)
    assert first == again
    assert first != other
    with np.load(tmp_path / "a" / "model.npz") as a, np.load(tmp_path / "b" / "model.npz") as b:
        for name in ("bias", "linear", "pairwise"):
            np.testing.assert_array_equal(a[name], b[name])


def test_early_stopping_keeps_the_best_epoch(tmp_path: Path) -> None:
    data = interactions(6000)
    overfitting = {"learning_rate": 0.1, "factors_wd": 0.0, "epochs": 40}
    metrics, logged = fit(
        data.iloc[:4000],
        data.iloc[4000:],
        "clicked",
        tmp_path,
        early_stopping_patience=2,
        early_stopping_tolerance=0.0,
        **overfitting,
        **CLICKS,
    )
    curve = [
        value for name, value, step in logged if name == "validation:logloss" and step is not None
    ]
    assert len(curve) < 40
    assert metrics["validation:logloss"] == min(curve)
    assert curve.index(min(curve)) == len(curve) - 3  # then two epochs without improvement


def test_should_stop_ends_the_training(tmp_path: Path) -> None:
    data = interactions(2000)

    def stop_after_step_one(step: int, metrics: Any) -> str | None:
        assert "validation:auc" in metrics
        return "pruned" if step == 1 else None

    _, logged = fit(
        data, data, "clicked", tmp_path, should_stop=stop_after_step_one, epochs=8, **CLICKS
    )
    assert {step for _, _, step in logged} == {0, 1, None}


def test_a_regressor_learns_from_ids_and_numbers(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    users, items = rng.integers(0, 200, 8000), rng.integers(0, 50, 8000)
    taste = rng.normal(size=(200, 2))[users] * rng.normal(size=(50, 2))[items]
    frame = pd.DataFrame(
        {"user": users, "item": items, "price": rng.uniform(0, 500, 8000)}  # ids as numbers
    )
    frame["rating"] = 3 + taste.sum(axis=1) - frame["price"] / 250 + rng.normal(0, 0.3, 8000)
    hyperparameters = {"predictor_type": "regressor", "categorical_columns": "user,item"}
    metrics, _ = fit(frame.iloc[:6000], frame.iloc[6000:], "rating", tmp_path, **hyperparameters)
    assert metrics["validation:r2"] > 0.5
    model = load_model(tmp_path)
    by_number = model.predict(pd.DataFrame([{"user": 17, "item": 3, "price": 100.0}]))
    by_text = model.predict(pd.DataFrame([{"user": "17", "item": "3", "price": 100}]))
    assert set(by_number) == {"predictions"}
    assert by_number == by_text


def test_a_libsvm_channel_trains_and_serves_sparse_features(tmp_path: Path) -> None:
    data = interactions(8000, users=300, items=60)  # a universe 8,000 rows can learn
    user = data["user_id"].str[1:].astype(int)
    item = data["item_id"].str[1:].astype(int) + 300
    lines = [f"{c} {u}:1 {i}:1" for c, u, i in zip(data["clicked"], user, item, strict=True)]
    path = tmp_path / "clicks.libsvm"
    path.write_text("\n".join(lines) + "\n")
    store = LocalArtifactStore(tmp_path / "artifacts")
    table = resolve_table(str(path), store=store, roots=[tmp_path], declared_format=None, field="t")
    assert (table.format, table.columns) == ("libsvm", ["label", "features"])
    frame = read_table(path, table.format)
    metrics, _ = fit(frame.iloc[:6000], frame.iloc[6000:], "label", tmp_path / "model")
    assert metrics["validation:auc"] > 0.7

    model = load_model(tmp_path / "model")
    assert model.feature_names == ["features"]
    u, i = int(user.iloc[0]), int(item.iloc[0])
    ways = [
        {"features": {str(u): 1.0, str(i): 1.0}},  # as JSON records arrive
        {"features": f"{u}:1 {i}:1"},
        {"features": f"1 {u}:1 {i}:1"},  # a whole libsvm line: the label is ignored
        {"features": {str(u): 1, str(i): 1, "999999": 1.0}},  # unknown to the model: left out
    ]
    answers = [model.predict(pd.DataFrame.from_records([way])) for way in ways]
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["predictions"] == model.predict(frame.iloc[:1][["features"]])["predictions"]


@pytest.mark.parametrize(
    ("hyperparameters", "change", "field"),
    [
        ({"foo": 1}, None, "hyperparameters.foo"),
        ({"categorical_columns": "user_id,nope"}, None, "hyperparameters.categorical_columns"),
        ({"categorical_columns": "clicked"}, None, "hyperparameters.categorical_columns"),
        ({"predictor_type": "regressor"}, "text_target", "hyperparameters.predictor_type"),
        ({}, "three_classes", "hyperparameters.predictor_type"),
        ({"categorical_columns": "user_id"}, None, "channels.train"),  # item_id is text
        ({"early_stopping_patience": 2}, None, "hyperparameters.early_stopping_patience"),
        (CLICKS, "missing_number", "channels.train"),
        ({"num_factors": 0}, None, "hyperparameters.num_factors"),
    ],
)
def test_bad_input_names_its_field(
    hyperparameters: dict[str, Any], change: str | None, field: str, tmp_path: Path
) -> None:
    train = interactions(200)
    if change == "text_target":
        train["clicked"] = train["clicked"].map({0: "no", 1: "yes"})
    elif change == "three_classes":
        train["clicked"] = np.arange(len(train)) % 3
        hyperparameters = CLICKS
    elif change == "missing_number":
        train["price"] = np.where(np.arange(len(train)) % 7, 1.0, np.nan)
    algorithm = get_algorithm(ALGORITHM)
    with pytest.raises(ValidationError) as raised:
        algorithm.fit(train, None, "clicked", hyperparameters, tmp_path, lambda *_: None)
    assert raised.value.field == field, raised.value.message


def test_a_validation_channel_with_other_columns_is_refused(tmp_path: Path) -> None:
    train = interactions(200)
    with pytest.raises(ValidationError, match="missing \\['device'\\]") as raised:
        fit(train, train.drop(columns=["device"]), "clicked", tmp_path, epochs=1, **CLICKS)
    assert raised.value.field == "channels.validation"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"user_id": "u1", "item_id": "i1"}, "missing ['device']"),
        ({"user_id": "u1", "item_id": "i1", "device": "mobile", "colour": "red"}, "unexpected"),
    ],
)
def test_bad_records_are_refused_naming_instances(
    clicks: Fitted, record: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", "\\[")) as raised:
        load_model(clicks.model_dir).predict(pd.DataFrame([record]))
    assert raised.value.field == "instances"


@pytest.fixture(scope="module")
def sparse_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on a tiny libsvm channel."""
    directory = tmp_path_factory.mktemp("fm-sparse")
    path = directory / "tiny.libsvm"
    path.write_text("1 3:1 5:1\n0 4:1\n1 3:1\n0 4:1 5:1\n")
    fit(read_table(path, "libsvm"), None, "label", directory / "model", epochs=1)
    return directory / "model"


@pytest.mark.parametrize(
    "features",
    [{"3": "high"}, {"three": 1.0}, "3:1 4", "3:x", 17, {"-3": 1.0}],
)
def test_bad_sparse_features_are_refused_naming_instances(
    features: Any, sparse_model_dir: Path
) -> None:
    with pytest.raises(ValidationError) as raised:
        load_model(sparse_model_dir).predict(pd.DataFrame({"features": [features]}))
    assert raised.value.field == "instances"
    assert raised.value.message.startswith("instances: feature 'features'")


def test_training_without_torch_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ValidationError, match=r"pip install 'shipyard\[torch\]'") as raised:
        fit(interactions(100), None, "clicked", tmp_path, **CLICKS)
    assert raised.value.field == "algorithm"


# ---- through REST ----------------------------------------------------------------------
def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_train_deploy_and_invoke_through_rest(api: Any, tmp_path: Path) -> None:
    data = interactions(12_000)
    train_path, validation_path = tmp_path / "train.csv", tmp_path / "validation.csv"
    data.iloc[:10_000].to_csv(train_path, index=False)
    data.iloc[10_000:].to_csv(validation_path, index=False)
    job = unique("fm-clicks")
    created = api.post(
        "/api/v1/training-jobs",
        json={
            "name": job,
            "algorithm": ALGORITHM,
            "target": "clicked",
            "hyperparameters": {**CLICKS, "epochs": "4"},
            "channels": {"train": str(train_path), "validation": str(validation_path)},
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["hyperparameters"]["num_factors"] == 16  # defaults filled in
    described = api.wait_for_job(job)
    assert described["status"] == "Completed", described["failure_reason"]
    assert described["final_metrics"]["validation:auc"] > 0.5
    points = api.get(f"/api/v1/training-jobs/{job}/metrics", params={"name": "validation:auc"})
    assert [p["step"] for p in points.json()["metrics"]] == [0, 1, 2, 3, None]

    model = api.post("/api/v1/models", json={"name": job, "training_job_name": job})
    assert model.status_code == 201, model.text
    assert model.json()["feature_names"] == IDS
    config = api.post(
        "/api/v1/endpoint-configs",
        json={"name": job, "production_variants": [{"model_name": job}]},
    )
    assert config.status_code == 201, config.text
    endpoint = api.post("/api/v1/endpoints", json={"name": job, "endpoint_config_name": job})
    assert endpoint.status_code == 201, endpoint.text
    assert api.wait_for_endpoint(job)["status"] == "InService"

    records = [
        {"user_id": "u17", "item_id": "i3", "device": "mobile"},
        {"user_id": "somebody-new", "item_id": "i3", "device": "tablet"},
    ]
    answer = api.client.post(
        f"/api/v1/endpoints/{job}/invocations",
        json={"instances": records},
        headers=api.headers,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"predictions", "probabilities"}
    assert all(p in (0, 1) for p in body["predictions"])
    assert [len(pair) for pair in body["probabilities"]] == [2, 2]

    refused = api.client.post(
        f"/api/v1/endpoints/{job}/invocations",
        json={"instances": [{"user_id": "u17"}]},
        headers=api.headers,
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["message"].startswith("instances: ")


def test_rest_refuses_what_would_fail_before_queueing(
    api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interactions(50).to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "clicks.libsvm").write_text("1 3:1\n0 4:1\n")
    request = {
        "algorithm": ALGORITHM,
        "target": "clicked",
        "channels": {"train": str(tmp_path / "train.csv")},
    }
    cases = [
        ({"hyperparameters": {"categorical_columns": "user_id,nope"}}, "categorical_columns"),
        (
            {"algorithm": "xgboost", "channels": {"train": str(tmp_path / "clicks.libsvm")}},
            "channels.train: algorithm 'xgboost' does not read libsvm channels",
        ),
    ]
    for change, needle in cases:
        response = api.post(
            "/api/v1/training-jobs", json={**request, **change, "name": unique("fm")}
        )
        assert response.status_code == 400, response.text
        assert needle in response.json()["error"]["message"]

    monkeypatch.setitem(sys.modules, "torch", None)
    response = api.post("/api/v1/training-jobs", json={**request, "name": unique("fm")})
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert message.startswith("algorithm: ") and "pip install 'shipyard[torch]'" in message
