"""The registry from the SDK and through the real ``shipyard`` entry point, against a live
``shipyard up``: register an uploaded model, approve it, deploy it, give it a model card."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest
import skops.io
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from shipyard.core.errors import InvalidState, ValidationError
from shipyard.sdk.client import Session
from shipyard.sdk.registry import ModelPackage, ModelPackageGroup

ENTRY_POINT = [sys.executable, "-m", "shipyard.cli.main"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def shipyard_cli(*args: str, env: dict[str, str], expect: int = 0) -> subprocess.CompletedProcess:
    completed = subprocess.run(
        [*ENTRY_POINT, *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == expect, (args, completed.stdout, completed.stderr)
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    frame = load_breast_cancer(as_frame=True).frame
    features = frame.drop(columns="target")
    path = tmp_path_factory.mktemp("registry-cli") / "lr.skops"
    skops.io.dump(LogisticRegression(max_iter=5000).fit(features.values, frame.target), path)
    return path, features


def test_register_approve_and_deploy_with_the_sdk(live_server, model_file) -> None:
    path, features = model_file
    session = Session(url=live_server.url, token=live_server.token)
    group = ModelPackageGroup.create(unique("sdk"), description="from the SDK", session=session)
    package = group.register(
        model_data=path,
        model_format="skops",
        feature_names=list(features.columns),
        problem_type="binary_classification",
        classes=[0, 1],
        model_metrics={"validation:auc": 0.98},
        evaluation_report={"auc": 0.98},
    )
    assert package.name == f"{group.name}/1" and package.approval_status == "PendingManualApproval"
    assert group.latest_approved() is None
    with pytest.raises(ValidationError, match="reason"):
        package.reject("")
    assert package.approve("fine")["approval_status"] == "Approved"
    assert [p.version for p in group.packages("Approved")] == [1]
    card = package.set_model_card(intended_use="tests", risk_rating="low")
    assert package.model_card() == card and card["metrics"] == {"validation:auc": 0.98}

    predictor = ModelPackage.from_name(package.name, session).deploy(unique("sdk-endpoint"))
    answer = predictor.predict(features.head(3))
    assert len(answer["predictions"]) == 3
    with pytest.raises(InvalidState, match="not Rejected"):
        group.delete()
    assert group.name in [g["name"] for g in ModelPackageGroup.list_groups(session)]

    with pytest.raises(ValidationError, match="trust_pickle"):  # trust is for pickles only
        group.register(
            model_data=path,
            model_format="skops",
            feature_names=list(features.columns),
            problem_type="binary_classification",
            classes=[0, 1],
            trust_pickle=True,
        )
    session.close()


def test_the_registry_commands(live_server, model_file, tmp_path) -> None:
    path, features = model_file
    env = live_server.env
    group = unique("cli")
    created = shipyard_cli(
        "registry", "groups", "create", group, "--description", "cli", "--tag", "team=risk",
        "--json", env=env,
    )  # fmt: skip
    assert json.loads(created.stdout)["tags"] == {"team": "risk"}
    assert group in shipyard_cli("registry", "groups", "list", env=env).stdout

    feature_options = [option for name in features.columns for option in ("--feature", name)]
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"auc": 0.97}))
    registered = shipyard_cli(
        "registry", "packages", "register", group,
        "--model-file", str(path), "--model-format", "skops", *feature_options,
        "--problem-type", "binary_classification", "--class", "0", "--class", "1",
        "--metric", "validation:auc=0.97", "--evaluation-report", str(report), "--json",
        env=env,
    )  # fmt: skip
    package = json.loads(registered.stdout)
    assert package["version"] == 1 and package["evaluation_report"] == {"auc": 0.97}
    assert package["inference_spec"]["output_schema"]["classes"] == [0, 1]

    listed = json.loads(
        shipyard_cli("registry", "packages", "list", group, "--json", env=env).stdout
    )
    assert [item["version"] for item in listed] == [1]
    described = shipyard_cli("registry", "packages", "describe", group, "1", env=env).stdout
    assert "PendingManualApproval" in described

    no_reason = shipyard_cli("registry", "packages", "reject", group, "1", env=env, expect=2)
    assert "--reason" in no_reason.stderr
    blank = shipyard_cli(
        "registry", "packages", "reject", group, "1", "--reason", " ", env=env, expect=1
    )
    assert blank.stderr.startswith("error (ValidationError): reason")
    approved = shipyard_cli(
        "registry", "packages", "approve", group, "1", "--reason", "ok", "--json", env=env
    )
    assert json.loads(approved.stdout)["approval_status"] == "Approved"
    rejected = shipyard_cli(
        "registry", "packages", "reject", group, "1", "--reason", "drift", "--json", env=env
    )
    assert [h["reason"] for h in json.loads(rejected.stdout)["approval_history"]][-1] == "drift"
    approved_only = shipyard_cli(
        "registry", "packages", "list", group, "--status", "Approved", "--json", env=env
    )
    assert json.loads(approved_only.stdout) == []

    missing = shipyard_cli("registry", "card", "get", group, "1", env=env, expect=1)
    assert missing.stderr.startswith("error (NotFound): ")
    card_file = tmp_path / "card.json"
    card_file.write_text(json.dumps({"intended_use": "from a file", "risk_rating": "low"}))
    shipyard_cli(
        "registry", "card", "set", group, "1", "--file", str(card_file),
        "--risk-rating", "high", "--caveats", "small sample", env=env,
    )  # fmt: skip
    card = json.loads(shipyard_cli("registry", "card", "get", group, "1", "--json", env=env).stdout)
    assert (card["intended_use"], card["risk_rating"]) == ("from a file", "high")
    assert card["caveats_and_limitations"] == "small sample"
    bad = shipyard_cli(
        "registry", "card", "set", group, "1", "--risk-rating", "extreme", env=env, expect=1
    )
    assert "risk_rating" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1

    shipyard_cli("registry", "groups", "delete", group, env=env)
    gone = shipyard_cli("registry", "groups", "describe", group, env=env, expect=1)
    assert gone.stderr.startswith("error (NotFound): ")
    unknown = shipyard_cli(
        "registry", "packages", "register", "no-such-group", "--training-job", "j", env=env,
        expect=1,
    )  # fmt: skip
    assert "model_package_group_name" in unknown.stderr
