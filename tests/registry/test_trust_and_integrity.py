"""No pickle from outside: an uploaded pickle is stored but never deserialized unless its
package was registered with trust (and the loader is told so by the database); and a model
directory whose bytes changed is never loaded."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from shipyard.serving import service as serving
from shipyard.serving.schemas import EndpointIn
from shipyard.training.algorithms import UntrustedModelError, load_model

GROUPS = "/api/v1/model-package-groups"


class Planter:
    """Unpickling this creates ``path``: what a malicious model file would do."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def bc_spec() -> tuple[dict, list[dict]]:
    frame = load_breast_cancer(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    spec = {
        "input_schema": {"features": features},
        "output_schema": {"problem_type": "binary_classification", "classes": [0, 1]},
    }
    return spec, frame[features].head(5).to_dict(orient="records")


def test_an_untrusted_pickle_is_never_loaded(api, registry, tmp_path) -> None:
    marker = tmp_path / "planted-by-the-pickle"
    spec, rows = bc_spec()
    uri = registry.upload("evil.pkl", pickle.dumps(Planter(marker)))
    group = registry.group()
    package = registry.register(
        group, model_data_uri=uri, model_format="pickle", inference_spec=spec
    ).json()
    assert package["model_format"] == "pickle" and package["trust_pickle"] is False

    # trust needs registry:TrustPickle, which this user lacks
    headers = registry.key_for(
        "no-trust",
        [{"effect": "Allow", "actions": ["registry:*", "data:*"], "resources": ["*"]}]
        + [{"effect": "Deny", "actions": ["registry:TrustPickle"], "resources": ["*"]}],
    )
    refused = api.client.post(
        f"{GROUPS}/{group}/packages",
        headers=headers,
        json={"model_data_uri": uri, "model_format": "pickle", "inference_spec": spec,
              "trust_pickle": True},
    )  # fmt: skip
    registry.error(refused, 403, "registry:TrustPickle")

    endpoint = registry.deploy(package["model_package_name"])
    assert endpoint["status"] == "Failed"
    assert endpoint["failure_reason"].startswith("UntrustedModelError: ")
    assert "trust_pickle" in endpoint["failure_reason"]
    registry.error(registry.invoke(endpoint["name"], rows), 409, endpoint["name"])

    # every other way in: the loader itself, a redeploy, a restore, the pending sweep
    context = api.client.app.state.context
    host = context.extras["model_host"]
    model_dir = context.store.local_path(f"model-packages/{group}/1/model")
    with pytest.raises(UntrustedModelError):
        load_model(model_dir)
    host.deploy(endpoint["name"])
    for thread in host.restore():
        thread.join(60)
    with context.db.session_scope() as session:
        config = serving.describe_endpoint(session, endpoint["name"]).endpoint_config_name
        serving.create_endpoint(
            session, EndpointIn(name=registry.unique("swept"), endpoint_config_name=config), "me"
        )
    assert host.deploy_pending()
    for item in api.get("/api/v1/endpoints").json()["items"]:
        api.wait_for_endpoint(item["name"])
    assert not marker.exists()


def test_a_trusted_pickle_loads_and_serves(api, registry) -> None:
    spec, rows = bc_spec()
    frame = load_breast_cancer(as_frame=True).frame
    estimator = LogisticRegression(max_iter=5000).fit(frame.drop(columns="target"), frame.target)
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    group = registry.group()
    package = registry.register(
        group,
        model_data_uri=registry.upload("lr.joblib", buffer.getvalue()),
        model_format="pickle",
        inference_spec=spec,
        trust_pickle=True,
    ).json()
    assert package["trust_pickle"] is True
    endpoint = registry.deploy(package["model_package_name"])
    assert endpoint["status"] == "InService", endpoint["failure_reason"]
    model = endpoint["production_variants"][0]["model_name"]
    assert api.get(f"/api/v1/models/{model}").json()["trust_pickle"] is True
    answer = registry.invoke(endpoint["name"], rows).json()
    expected = estimator.predict_proba(frame.drop(columns="target").head(5))
    assert np.allclose(answer["probabilities"], expected)


def test_a_model_whose_files_changed_is_not_loaded(api, registry) -> None:
    spec, rows = bc_spec()
    frame = load_breast_cancer(as_frame=True).frame
    estimator = LogisticRegression(max_iter=5000).fit(frame.drop(columns="target"), frame.target)
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    group = registry.group()
    package = registry.register(
        group,
        model_data_uri=registry.upload("lr.joblib", buffer.getvalue()),
        model_format="pickle",
        inference_spec=spec,
        trust_pickle=True,
    ).json()
    served = registry.deploy(package["model_package_name"])
    assert served["status"] == "InService", served["failure_reason"]
    _, config = registry.model_and_config(package["model_package_name"])

    context = api.client.app.state.context
    model_dir = context.store.local_path(f"model-packages/{group}/1/model")
    (model_dir / "model.pkl").write_bytes(pickle.dumps(Planter(model_dir / "planted")))
    later = registry.unique("later")
    created = api.post("/api/v1/endpoints", json={"name": later, "endpoint_config_name": config})
    assert created.status_code == 201, created.text
    later = api.wait_for_endpoint(later)
    assert later["status"] == "Failed"
    assert later["failure_reason"].startswith("ModelIntegrityError: ")
    assert package["model_sha256"] in later["failure_reason"]
    host = context.extras["model_host"]
    host.undeploy(served["name"])  # as after a restart: a reload fails the same
    host.deploy(served["name"])
    assert api.get(f"/api/v1/endpoints/{served['name']}").json()["status"] == "Failed"
    assert not (model_dir / "planted").exists()
    registry.error(
        api.post(
            "/api/v1/models",
            json={"name": registry.unique("m"), "model_package_name": f"{group}/1"},
        ),
        409,
        "ModelIntegrityError",
    )
