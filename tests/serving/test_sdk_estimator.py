"""The SDK against a real ``shipyard up``: Estimator.fit on local files, deploy, predict."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import train_test_split

import shipyard
from shipyard.core.errors import NotFound, ShipyardError, ValidationError


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def write_split(loader, directory: Path) -> tuple[Path, Path, pd.DataFrame]:
    frame = loader(as_frame=True).frame
    train, validation = train_test_split(frame, test_size=0.3, random_state=0)
    directory.mkdir(parents=True, exist_ok=True)
    train.to_csv(directory / "train.csv", index=False)
    validation.to_csv(directory / "validation.csv", index=False)
    return directory / "train.csv", directory / "validation.csv", validation


@pytest.fixture
def session(live_server) -> Iterator[shipyard.Session]:
    with shipyard.Session(url=live_server.url, token=live_server.token) as session:
        yield session


def test_xgboost_estimator_fit_deploy_predict(session, tmp_path):
    train_path, validation_path, validation = write_split(load_breast_cancer, tmp_path)
    estimator = shipyard.Estimator(
        algorithm="xgboost",
        target="target",
        hyperparameters={"num_round": 30, "max_depth": 3},
        base_job_name=unique("sdk-xgb"),
        session=session,
    )
    job = estimator.fit({"train": train_path, "validation": str(validation_path)}, logs=False)

    assert estimator.latest_training_job is job
    description = estimator.describe()
    assert description["status"] == "Completed"
    assert description["final_metrics"]["validation:auc"] >= 0.95
    for channel in ("train", "validation"):  # the SDK uploaded the local files as datasets
        assert description["channels"][channel]["uri"].startswith("shipyard://datasets/")
    assert estimator.model_data == description["model_artifacts"]
    assert any(p["step"] == 29 for p in job.metrics("validation:auc"))

    predictor = estimator.deploy(unique("sdk-endpoint"))
    assert predictor.describe()["status"] == "InService"
    features = validation.drop(columns=["target"]).head(8)
    from_frame = predictor.predict(features)
    assert predictor.last_variant == "AllTraffic"
    from_records = predictor.predict(features.to_dict(orient="records"))
    from_array = predictor.predict(features.to_numpy())
    from_rows = predictor.predict(list(features.to_numpy()))
    from_one_row = predictor.predict(features.to_numpy()[0])
    assert from_frame == from_records == from_array == from_rows
    assert from_one_row["predictions"] == from_frame["predictions"][:1]
    assert len(from_frame["predictions"]) == 8
    assert len(from_frame["probabilities"]) == 8 and len(from_frame["probabilities"][0]) == 2
    labels = validation["target"].head(8).tolist()
    assert sum(p == y for p, y in zip(from_frame["predictions"], labels, strict=True)) >= 7

    with pytest.raises(ValidationError, match="instances"):
        predictor.predict([[1.0, 2.0]])

    predictor.delete_endpoint()
    with pytest.raises(NotFound):
        predictor.describe()
    with pytest.raises(NotFound):
        predictor.predict(features)


def test_linear_learner_regression_estimator(session, tmp_path):
    train_path, _, validation = write_split(load_diabetes, tmp_path)
    estimator = shipyard.Estimator(
        algorithm="linear-learner",
        target="target",
        hyperparameters={"predictor_type": "regressor"},
        base_job_name=unique("sdk-ll"),
        session=session,
    )
    # a DataFrame is uploaded for you too (as Parquet)
    estimator.fit({"train": train_path, "validation": validation}, logs=False)
    description = estimator.describe()
    assert description["status"] == "Completed"
    metrics = description["final_metrics"]
    assert {"train:rmse", "validation:rmse", "validation:r2"} <= set(metrics)
    assert metrics["validation:r2"] > 0.2
    assert description["channels"]["validation"]["format"] == "parquet"

    predictor = estimator.deploy(unique("sdk-ll-endpoint"))
    features = validation.drop(columns=["target"]).head(5)
    result = predictor.predict(features.to_numpy())
    assert len(result["predictions"]) == 5
    assert all(isinstance(value, float) for value in result["predictions"])
    assert "probabilities" not in result or result["probabilities"] is None
    predictor.delete_endpoint()

    # registered, approved and deployed from the registry
    group = shipyard.ModelPackageGroup.create(unique("sdk-ll-models"), session=session)
    package = estimator.register(group.name, approval_status="Approved")
    assert package.describe()["training_job_name"] == estimator.latest_training_job.name
    registered = package.deploy(unique("sdk-ll-registered"))
    assert registered.predict(features.to_numpy())["predictions"] == result["predictions"]
    registered.delete_endpoint()


def test_sdk_errors_are_shipyard_errors(session, live_server, tmp_path, monkeypatch):
    train_path, _, _ = write_split(load_breast_cancer, tmp_path)

    unknown = shipyard.Estimator(algorithm="gradient-magic", target="target", session=session)
    with pytest.raises(ValidationError, match="algorithm"):
        unknown.fit({"train": train_path})
    with pytest.raises(ValidationError, match="fit"):
        unknown.describe()

    no_target = shipyard.Estimator(algorithm="xgboost", target="nope", session=session)
    with pytest.raises(ValidationError, match="target"):
        no_target.fit({"train": train_path})

    missing_file = shipyard.Estimator(algorithm="xgboost", target="target", session=session)
    with pytest.raises(ValidationError, match="inputs"):
        missing_file.fit({"train": tmp_path / "no-such-file.csv"})

    with pytest.raises(NotFound):
        shipyard.TrainingJob("no-such-job", session).describe()
    with pytest.raises(ValidationError, match="name"):
        shipyard.TrainingJob("../models/x", session)
    with pytest.raises(ValidationError, match="endpoint_name"):
        shipyard.Predictor("a/b", session=session)
    with pytest.raises(NotFound):  # the server's bare 404 comes back typed too
        session.get("/api/v1/no-such-collection")

    monkeypatch.delenv("SHIPYARD_TOKEN", raising=False)
    with pytest.raises(ShipyardError, match="SHIPYARD_TOKEN"):
        shipyard.Session(url=live_server.url)
    with shipyard.Session(url=live_server.url, token="sy_0123456789abcdef_wrong") as wrong:
        with pytest.raises(ShipyardError) as raised:
            wrong.get("/api/v1/training-jobs")
        assert raised.value.code == "Unauthenticated"
    nowhere = shipyard.Session(url="http://127.0.0.1:9", token="sy_x_y", timeout=2)
    with nowhere, pytest.raises(ShipyardError, match="cannot reach"):
        nowhere.get("/api/v1/training-jobs")
