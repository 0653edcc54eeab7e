"""The approval gate in headless Chromium against a real `shipyard up`: a package pending
approval cannot be deployed by a key without registry:DeployUnapproved; approved through
the console's form (with a reason), the same request deploys it and it comes InService."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import skops.io
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.security.service import create_api_key, ensure_user

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")
expect = sync_api.expect
DEPLOYER_POLICY = {
    "name": "deployer",
    "statements": [
        {
            "effect": "Allow",
            "actions": ["serving:*", "registry:Describe*", "registry:List*"],
            "resources": ["*"],
        }
    ],
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def deployer_key(home: Path) -> str:
    """A key of a user who may deploy, but not a package that is not Approved."""
    db = Database(Settings(home=home).resolved_database_url)
    try:
        with db.session_scope() as session:
            ensure_user(session, "deployer", [DEPLOYER_POLICY])
            return create_api_key(session, "deployer", "browser test")
    finally:
        db.dispose()


def test_approving_in_the_console_lets_the_endpoint_deploy(
    signed_in, live_server, tmp_path
) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    model_file = tmp_path / "lr.skops"
    skops.io.dump(
        LogisticRegression(max_iter=5000).fit(frame[features].values, frame.target), model_file
    )
    group, model, config, endpoint = (unique(p) for p in ("gate", "gate-m", "gate-c", "gate-e"))
    with live_server.http() as admin:
        with model_file.open("rb") as handle:
            uri = admin.post("/api/v1/uploads", files={"file": ("lr.skops", handle)}).json()["uri"]
        assert admin.post("/api/v1/model-package-groups", json={"name": group}).status_code == 201
        registered = admin.post(
            f"/api/v1/model-package-groups/{group}/packages",
            json={
                "model_data_uri": uri,
                "model_format": "skops",
                "model_metrics": {"validation:auc": 0.99},
                "inference_spec": {
                    "input_schema": {"features": features},
                    "output_schema": {"problem_type": "binary_classification", "classes": [0, 1]},
                },
            },
        )
        assert registered.status_code == 201, registered.text
        made = admin.post(
            "/api/v1/models", json={"name": model, "model_package_name": f"{group}/1"}
        )
        assert made.status_code == 201, made.text
        configured = admin.post(
            "/api/v1/endpoint-configs",
            json={"name": config, "production_variants": [{"model_name": model}]},
        )
        assert configured.status_code == 201, configured.text

    headers = {"Authorization": f"Bearer {deployer_key(live_server.home)}"}
    request = {"name": endpoint, "endpoint_config_name": config}
    with live_server.http() as http:
        refused = http.post("/api/v1/endpoints", json=request, headers=headers)
    assert refused.status_code == 403, refused.text
    message = refused.json()["error"]["message"]
    assert f"{group}/1" in message and "PendingManualApproval" in message

    page = signed_in(live_server, f"/console/model-package-groups/{group}")
    expect(page.locator("#version-1")).to_contain_text("PendingManualApproval")
    expect(page.locator("#packages")).to_contain_text("validation:auc")
    page.click("#version-1 >> text=1")
    expect(page).to_have_url(re.compile(f"/console/model-package-groups/{group}/packages/1$"))
    expect(page.locator("#package-summary")).to_contain_text("model-packages")
    page.fill("#approval-reason", "reviewed in the browser")
    page.click("#approve")
    expect(page.locator("#approval-status")).to_have_text("Approved")
    expect(page.locator("#approval-history")).to_contain_text("reviewed in the browser")
    expect(page.locator("#approve")).to_have_count(0)

    with live_server.http() as http:
        created = http.post("/api/v1/endpoints", json=request, headers=headers)
    assert created.status_code == 201, created.text
    settled = live_server.wait_for_status(f"/api/v1/endpoints/{endpoint}", ("InService", "Failed"))
    assert settled["status"] == "InService", settled["failure_reason"]

    page.goto(f"/console/endpoints/{endpoint}")
    expect(page.locator("#status")).to_have_text("InService")
    page.click("#model-package-link")
    expect(page.locator("#package-name")).to_have_text(f"{group}/1")
    expect(page.locator("#package-models")).to_contain_text(model)
