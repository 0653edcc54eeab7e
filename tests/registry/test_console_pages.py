"""The registry's console pages over plain HTTP: what they show, the approval form, its
CSRF check, and a viewer who may read but not approve."""

from __future__ import annotations

import io
import re

import httpx
import skops.io
from fastapi.testclient import TestClient
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
READER = [
    {
        "effect": "Allow",
        "actions": ["registry:Describe*", "registry:List*", "serving:List*"],
        "resources": ["*"],
    }
]


def csrf_of(page: httpx.Response) -> str:
    match = CSRF.search(page.text)
    assert match, page.text
    return match.group(1)


def sign_in(client: TestClient, key: str) -> None:
    form = client.get("/console/login")
    response = client.post(
        "/console/login",
        data={"api_key": key, "csrf_token": csrf_of(form), "next": "/console/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def register_package(registry) -> str:
    frame = load_breast_cancer(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    estimator = LogisticRegression(max_iter=5000).fit(frame[features].values, frame["target"])
    buffer = io.BytesIO()
    skops.io.dump(estimator, buffer)
    group = registry.group(description="payments <b>fraud</b>")
    registry.register(
        group,
        model_data_uri=registry.upload("lr.skops", buffer.getvalue()),
        model_format="skops",
        model_metrics={"validation:auc": 0.97, "train:auc": 0.99},
        evaluation_report={"confusion": [[1, 2], [3, 4]]},
        inference_spec={
            "input_schema": {"features": features},
            "output_schema": {"problem_type": "binary_classification", "classes": [0, 1]},
        },
    )
    registry.put(
        f"/api/v1/model-package-groups/{group}/packages/1/model-card",
        {"intended_use": "catch card fraud", "risk_rating": "medium"},
    )
    return group


def test_pages_show_the_groups_versions_and_package(api, registry) -> None:
    group = register_package(registry)
    model, _ = registry.model_and_config(f"{group}/1")
    sign_in(api.client, api.token)

    listed = api.client.get("/console/model-package-groups")
    assert listed.status_code == 200 and group in listed.text
    assert "Model registry" in listed.text
    versions = api.client.get(f"/console/model-package-groups/{group}")
    assert "validation:auc" in versions.text and "0.97" in versions.text
    assert "PendingManualApproval" in versions.text
    assert "payments &lt;b&gt;fraud&lt;/b&gt;" in versions.text  # escaped
    page = api.client.get(f"/console/model-package-groups/{group}/packages/1")
    for needle in ("SHA-256", "catch card fraud", "medium", "confusion", 'id="approve"', model):
        assert needle in page.text, needle
    model_page = api.client.get(f"/console/models/{model}")
    assert f"/console/model-package-groups/{group}/packages/1" in model_page.text

    token = csrf_of(page)
    action = f"/console/model-package-groups/{group}/packages/1/approval"
    no_reason = api.client.post(action, data={"csrf_token": token, "approval_status": "Rejected"})
    assert no_reason.status_code == 400 and "reason" in no_reason.text
    forged = api.client.post(action, data={"csrf_token": "forged", "approval_status": "Approved"})
    assert forged.status_code == 403
    approved = api.client.post(
        action,
        data={"csrf_token": token, "approval_status": "Approved", "reason": "looks right"},
        follow_redirects=False,
    )
    assert approved.status_code == 303
    assert approved.headers["location"] == f"/console/model-package-groups/{group}/packages/1"
    assert registry.package(group, 1)["approval_history"][-1]["reason"] == "looks right"
    missing = api.client.get(f"/console/model-package-groups/{group}/packages/7")
    assert missing.status_code == 404 and "not found" in missing.text


def test_a_viewer_without_update_rights_sees_no_form_and_gets_a_403(api, registry) -> None:
    group = register_package(registry)
    headers = registry.key_for("reader", READER)
    reader = TestClient(api.client.app)
    sign_in(reader, headers["Authorization"].removeprefix("Bearer "))
    page = reader.get(f"/console/model-package-groups/{group}/packages/1")
    assert page.status_code == 200
    assert 'id="approval-form"' not in page.text and "not allowed to approve" in page.text
    response = reader.post(
        f"/console/model-package-groups/{group}/packages/1/approval",
        data={"csrf_token": csrf_of(page), "approval_status": "Approved", "reason": "me"},
    )
    assert response.status_code == 403
    assert "registry:UpdateModelPackage" in response.text
    assert registry.package(group, 1)["approval_status"] == "PendingManualApproval"
