"""Uploaded model files in every safe format: registered, served, and answering as the
library that made them does; and files that are not what they claim, refused."""

from __future__ import annotations

import io
import operator
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import skops.io
import xgboost as xgb
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from shipyard.training.algorithms import ModelManifest, load_model


def dataset(name: str) -> tuple[pd.DataFrame, pd.Series]:
    loader = {"bc": load_breast_cancer, "iris": load_iris, "diabetes": load_diabetes}[name]
    frame = loader(as_frame=True).frame
    return frame.drop(columns=["target"]), frame["target"]


def xgboost_file(suffix: str) -> Callable[[Path], tuple[bytes, Any]]:
    def build(directory: Path) -> tuple[bytes, Any]:
        x, y = dataset("iris")
        booster = xgb.train(
            {"objective": "multi:softprob", "num_class": 3, "max_depth": 2},
            xgb.DMatrix(x.values, label=y),
            10,
        )
        path = directory / f"model{suffix}"
        booster.save_model(path)
        return path.read_bytes(), booster.predict(xgb.DMatrix(x.values[:20]))

    return build


def lightgbm_file(directory: Path) -> tuple[bytes, Any]:
    x, y = dataset("diabetes")
    booster = lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(x.values, y), 20)
    path = directory / "model.txt"
    booster.save_model(path)
    return path.read_bytes(), booster.predict(x.values[:20])


def skops_forest(directory: Path) -> tuple[bytes, Any]:
    x, y = dataset("iris")  # fitted on a DataFrame: served by feature name
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(x, y)
    buffer = io.BytesIO()
    skops.io.dump(forest, buffer)
    return buffer.getvalue(), forest.predict_proba(x.head(20))


def onnx_classifier(directory: Path) -> tuple[bytes, Any]:
    x, y = dataset("bc")
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x.values, y)
    graph = to_onnx(model, x.values[:1].astype(np.float32))
    return graph.SerializeToString(), model.predict_proba(x.values[:20])


def onnx_regressor(directory: Path) -> tuple[bytes, Any]:
    x, y = dataset("diabetes")
    model = LinearRegression().fit(x.values, y)
    graph = to_onnx(model, x.values[:1].astype(np.float32))
    return graph.SerializeToString(), model.predict(x.values[:20])


FORMATS = {
    "xgboost-ubj": ("xgboost", "model.ubj", "iris", xgboost_file(".ubj")),
    "xgboost-json": ("xgboost", "model.json", "iris", xgboost_file(".json")),
    "lightgbm-text": ("lightgbm", "model.txt", "diabetes", lightgbm_file),
    "skops": ("skops", "forest.skops", "iris", skops_forest),
    "onnx-classifier": ("onnx", "lr.onnx", "bc", onnx_classifier),
    "onnx-regressor": ("onnx", "lin.onnx", "diabetes", onnx_regressor),
}
OUTPUTS = {
    "iris": {"problem_type": "multiclass_classification", "classes": [0, 1, 2]},
    "bc": {"problem_type": "binary_classification", "classes": [0, 1]},
    "diabetes": {"problem_type": "regression"},
}


@pytest.mark.parametrize("case", sorted(FORMATS))
def test_an_uploaded_model_serves_what_its_library_predicts(api, registry, tmp_path, case):
    model_format, file_name, data, build = FORMATS[case]
    content, expected = build(tmp_path)
    x, _ = dataset(data)
    group = registry.group()
    package = registry.register(
        group,
        model_data_uri=registry.upload(file_name, content),
        model_format=model_format,
        inference_spec={
            "framework_version": "1.0",
            "input_schema": {"features": list(x.columns)},
            "output_schema": OUTPUTS[data],
        },
        approval_status="Approved",
    ).json()
    assert package["model_data_uri"] == f"shipyard://model-packages/{group}/1/model"
    assert package["model_format"] == (case if case.startswith("xgb") else package["model_format"])
    assert package["inference_spec"]["framework_version"] == "1.0"
    stored = api.client.app.state.context.store.local_path(f"model-packages/{group}/1/model")
    assert sorted(p.name for p in stored.iterdir())[-1] == "shipyard-model.json"

    endpoint = registry.deploy(package["model_package_name"])
    assert endpoint["status"] == "InService", endpoint["failure_reason"]
    answer = registry.invoke(endpoint["name"], x.head(20).to_dict(orient="records"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    if "probabilities" in body:
        assert np.allclose(body["probabilities"], expected, atol=1e-4)
        assert body["predictions"] == np.asarray(expected).argmax(axis=1).tolist()
    else:
        assert np.allclose(body["predictions"], expected, rtol=1e-3, atol=1e-2)


def test_files_that_are_not_their_declared_format_are_refused(api, registry, tmp_path):
    x, y = dataset("bc")
    group = registry.group()
    spec = {
        "input_schema": {"features": list(x.columns)},
        "output_schema": OUTPUTS["bc"],
    }
    estimator = LogisticRegression(max_iter=5000).fit(x.values, y)
    pickled = pickle.dumps(estimator)
    untrusted = make_pipeline(
        FunctionTransformer(operator.neg), StandardScaler(), LogisticRegression()
    ).fit(x, y)
    buffer = io.BytesIO()
    skops.io.dump(untrusted, buffer)
    too_few = LogisticRegression(max_iter=5000).fit(x.values[:, :3], y)
    narrow = io.BytesIO()
    skops.io.dump(too_few, narrow)
    cases = [
        ("model.skops", pickled, "skops", ("model_data_uri", "pickle")),
        ("model.pkl", b"{}", "xgboost", ("model_data_uri", "pickle")),
        ("model.bin", b"x\x9c" + b"\x00" * 20, "onnx", ("model_data_uri", "pickle")),
        ("model.ubj", b"not a model", "xgboost", ("model_data_uri", "XGBoost")),
        ("model.json", b'{"not": "a booster"}', "xgboost", ("model_data_uri",)),
        ("model.txt", b"version=4\n", "lightgbm", ("model_data_uri", "LightGBM")),
        ("model.txt", b"tree\nnonsense", "lightgbm", ("model_data_uri",)),
        ("model.onnx", b"\x08\x07garbage", "onnx", ("model_data_uri",)),
        ("model.skops", b"PK\x03\x04broken", "skops", ("model_data_uri",)),
        ("model.skops", buffer.getvalue(), "skops", ("model_data_uri", "_operator.neg")),
        ("model.skops", narrow.getvalue(), "skops", ("inference_spec.input_schema", "30")),
    ]
    for name, content, model_format, needles in cases:
        uri = registry.upload(name, content)
        response = api.post(
            f"/api/v1/model-package-groups/{group}/packages",
            json={"model_data_uri": uri, "model_format": model_format, "inference_spec": spec},
        )
        registry.error(response, 400, *needles)
    assert api.get(f"/api/v1/model-package-groups/{group}").json()["package_count"] == 0


def test_onnxruntime_is_imported_only_to_load_an_onnx_model() -> None:
    code = (
        "import sys, shipyard.training.algorithms, shipyard.serving.host;"
        "assert 'onnxruntime' not in sys.modules, 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_an_onnx_classifier_answers_in_the_order_of_the_manifest_classes(tmp_path) -> None:
    x, y = dataset("iris")
    model = LogisticRegression(max_iter=1000).fit(x.values, y)
    graph = to_onnx(model, x.values[:1].astype(np.float32))
    (tmp_path / "model.onnx").write_bytes(graph.SerializeToString())
    ModelManifest(
        algorithm="onnx",
        problem_type="multiclass_classification",
        target=None,
        feature_names=list(x.columns),
        classes=["setosa", "versicolor", "virginica"],
        model_file="model.onnx",
        format="onnx",
        library="onnxruntime",
        library_version="1",
        hyperparameters={},
    ).write(tmp_path)
    loaded = load_model(tmp_path)
    answer = loaded.predict(x.head(5))
    assert answer["predictions"] == ["setosa"] * 5
    assert np.allclose(answer["probabilities"], model.predict_proba(x.values[:5]), atol=1e-5)
