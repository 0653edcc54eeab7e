"""Model package groups through REST: create, list, describe, delete (and when not)."""

from __future__ import annotations

import io

import skops.io
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

GROUPS = "/api/v1/model-package-groups"


def skops_package(registry) -> dict:
    """The body registering a logistic regression on breast cancer, uploaded as skops."""
    frame = load_breast_cancer(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    estimator = LogisticRegression(max_iter=5000).fit(frame[features], frame["target"])
    buffer = io.BytesIO()
    skops.io.dump(estimator, buffer)
    return {
        "model_data_uri": registry.upload("lr.skops", buffer.getvalue()),
        "model_format": "skops",
        "inference_spec": {
            "input_schema": {"features": features},
            "output_schema": {"problem_type": "binary_classification", "classes": [0, 1]},
        },
    }


def test_create_list_describe_and_delete_an_empty_group(api, registry) -> None:
    name = registry.group(description="fraud models", tags={"team": "risk"})
    described = api.get(f"{GROUPS}/{name}").json()
    assert described["srn"] == f"srn:shipyard:model-package-group/{name}"
    assert described["description"] == "fraud models"
    assert described["tags"] == {"team": "risk"}
    assert described["package_count"] == 0 and described["latest_version"] is None
    assert described["owner"] == "admin"
    assert name in [g["name"] for g in api.get(GROUPS).json()["items"]]

    registry.error(api.post(GROUPS, json={"name": name}), 409, name)
    assert api.delete(f"{GROUPS}/{name}").status_code == 204
    registry.error(api.get(f"{GROUPS}/{name}"), 404, name)
    registry.error(api.delete(f"{GROUPS}/{name}"), 404, name)


def test_a_group_is_deleted_only_once_every_package_is_rejected_and_unused(api, registry):
    name = registry.group()
    body = skops_package(registry)
    registry.register(name, **body)
    registry.register(name, **body, approval_status="Approved")
    counted = api.get(f"{GROUPS}/{name}").json()
    assert (counted["package_count"], counted["latest_version"]) == (2, 2)
    assert counted["latest_approved_version"] == 2

    registry.error(api.delete(f"{GROUPS}/{name}"), 409, "not Rejected", "1 (PendingManual")
    for version in (1, 2):
        path = f"{GROUPS}/{name}/packages/{version}"
        response = registry.patch(path, {"approval_status": "Rejected", "reason": "old"})
        assert response.status_code == 200, response.text
    model, _ = registry.model_and_config(f"{name}/1")
    registry.error(api.delete(f"{GROUPS}/{name}"), 409, model)

    config = api.get("/api/v1/endpoint-configs").json()["items"][0]["name"]
    assert api.delete(f"/api/v1/endpoint-configs/{config}").status_code == 204
    assert api.delete(f"/api/v1/models/{model}").status_code == 204
    assert api.delete(f"{GROUPS}/{name}").status_code == 204
    registry.error(api.get(f"{GROUPS}/{name}/packages/1"), 404, name)
    store = api.client.app.state.context.store
    assert store.list(f"model-packages/{name}") == []  # its uploaded models went with it


def test_bad_group_requests_name_the_field(api, registry) -> None:
    cases = [
        ({"name": "../etc"}, "name"),
        ({"name": "a" * 64}, "name"),
        ({"name": "ok", "description": "x" * 2000}, "description"),
        ({"name": "ok", "tags": {"k": 5}}, "tags.k"),
        ({"name": "ok", "unknown": 1}, "unknown"),
    ]
    for body, field in cases:
        registry.error(api.post(GROUPS, json=body), 400, field)
    registry.error(api.get(f"{GROUPS}/no-such-group"), 404, "no-such-group")
    registry.error(api.get(f"{GROUPS}/no-such-group/packages"), 404, "no-such-group")
    registry.error(api.get(f"{GROUPS}/no-such-group/packages/1"), 404, "no-such-group")
    registry.error(api.get(f"{GROUPS}/g/packages/one"), 400, "version")
