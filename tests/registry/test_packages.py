"""Model packages through REST: registered from a training job, numbered, listed, approved
and rejected with a history, given a model card; and the bad requests, each a 400."""

from __future__ import annotations

import io
import json
import threading

import skops.io
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from shipyard.lineage import service as lineage
from shipyard.registry import service as registry_service
from shipyard.registry.schemas import ModelPackageIn

GROUPS = "/api/v1/model-package-groups"


def skops_body(registry) -> dict:
    frame = load_breast_cancer(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    estimator = LogisticRegression(max_iter=5000).fit(frame[features].values, frame["target"])
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


def test_register_from_a_training_job_then_approve_reject_and_card(api, registry) -> None:
    job = registry.train()
    group = registry.group()
    report_uri = registry.upload("report.json", json.dumps({"auc": 0.99, "n": 171}).encode())
    first = registry.register(
        group,
        training_job_name=job,
        model_metrics={"business:lift": 2.5, "validation:auc": 0.5},
        evaluation_report=report_uri,
        description="first try",
        customer_metadata={"ticket": "ML-1"},
    ).json()
    final = api.get(f"/api/v1/training-jobs/{job}").json()["final_metrics"]
    assert first["version"] == 1 and first["model_package_name"] == f"{group}/1"
    assert first["srn"] == f"srn:shipyard:model-package/{group}/1"
    assert first["approval_status"] == "PendingManualApproval"
    assert first["model_data_uri"] == f"shipyard://training-jobs/{job}/model"
    assert len(first["model_sha256"]) == 64 and first["model_format"] == "xgboost-ubj"
    assert first["training_job_name"] == job and first["created_by"] == "admin"
    assert first["model_metrics"] == {**final, "business:lift": 2.5, "validation:auc": 0.5}
    assert first["evaluation_report"] == {"auc": 0.99, "n": 171}
    assert first["evaluation_report_uri"] == report_uri
    spec = first["inference_spec"]
    assert spec["algorithm"] == "xgboost" and spec["framework"] == "xgboost"
    assert [f["name"] for f in spec["input_schema"]["features"]][:2] == [
        "mean radius",
        "mean texture",
    ]
    assert spec["output_schema"] == {
        "problem_type": "binary_classification",
        "classes": [0, 1],
        "target": "target",
    }
    assert [h["approval_status"] for h in first["approval_history"]] == ["PendingManualApproval"]

    second = registry.register(
        group, training_job_name=job, approval_status="Approved", evaluation_report={"a": 1}
    ).json()
    assert second["version"] == 2 and second["approval_status"] == "Approved"
    listed = api.get(f"{GROUPS}/{group}/packages").json()["items"]
    assert [p["version"] for p in listed] == [2, 1]
    pending = api.get(f"{GROUPS}/{group}/packages", params={"approval_status": "Approved"})
    assert [p["version"] for p in pending.json()["items"]] == [2]
    registry.error(
        api.get(f"{GROUPS}/{group}/packages", params={"approval_status": "Maybe"}),
        400,
        "approval_status",
    )

    path = f"{GROUPS}/{group}/packages/1"
    registry.error(registry.patch(path, {"approval_status": "Rejected"}), 400, "reason")
    registry.error(registry.patch(path, {"approval_status": "Rejected", "reason": "  "}), 400)
    registry.error(registry.patch(path, {"approval_status": "Deployed"}), 400, "approval_status")
    approved = registry.approve(group, 1, "auc above the bar")
    rejected = registry.patch(path, {"approval_status": "Rejected", "reason": "drift"}).json()
    back = registry.patch(path, {"approval_status": "PendingManualApproval"}).json()
    same = registry.patch(path, {"approval_status": "PendingManualApproval"}).json()
    assert approved["approval_status"] == "Approved" and rejected["approval_status"] == "Rejected"
    history = [
        (h["previous_status"], h["approval_status"], h["reason"], h["changed_by"])
        for h in same["approval_history"]
    ]
    assert history == [
        (None, "PendingManualApproval", "registered", "admin"),
        ("PendingManualApproval", "Approved", "auc above the bar", "admin"),
        ("Approved", "Rejected", "drift", "admin"),
        ("Rejected", "PendingManualApproval", None, "admin"),
    ]
    assert same == back  # the status it has already changes nothing

    card_path = f"{path}/model-card"
    registry.error(api.get(card_path), 404, "model card")
    card = registry.put(
        card_path, {"intended_use": "score card payments", "risk_rating": "high"}
    ).json()
    assert card["risk_rating"] == "high" and card["updated_by"] == "admin"
    assert card["metrics"] == first["model_metrics"]
    assert "train: csv, 31 columns" in card["training_data"]["description"]
    assert len(card["training_data"]["datasets"]) == 2
    replaced = registry.put(
        card_path,
        {
            "intended_use": "none",
            "metrics": {"auc": 0.9},
            "training_data": {"description": "a sample"},
            "caveats_and_limitations": "small data",
            "ethical_considerations": "none known",
        },
    ).json()
    assert replaced["risk_rating"] == "unknown" and replaced["metrics"] == {"auc": 0.9}
    assert api.get(card_path).json() == replaced
    assert registry.package(group, 1)["model_card"] == replaced
    registry.error(registry.put(card_path, {"risk_rating": "extreme"}), 400, "risk_rating")

    with api.client.app.state.context.db.session_scope() as session:
        walked = lineage.walk(session, f"srn:shipyard:model-package/{group}/1", "upstream", 1)
        assert f"srn:shipyard:training-job/{job}" in walked.entities


def test_bad_registrations_are_400_naming_the_field(api, registry) -> None:
    group = registry.group()
    body = skops_body(registry)
    stopped = registry.unique("stopped")
    directory, _ = registry.breast_cancer()
    created = api.post(
        "/api/v1/training-jobs",
        json={
            "name": stopped,
            "algorithm": "xgboost",
            "target": "target",
            "channels": {"train": str(directory / "train.csv")},
        },
    )
    assert created.status_code == 201, created.text
    api.post(f"/api/v1/training-jobs/{stopped}/stop")
    status = api.wait_for_job(stopped)["status"]
    spec = body["inference_spec"]
    cases: list[tuple[str, dict, tuple[str, ...]]] = [
        ("no-such-group", body, ("model_package_group_name", "no-such-group")),
        (group, {}, ("training_job_name",)),
        (group, {"training_job_name": "no-such-job"}, ("training_job_name", "no-such-job")),
        (group, {"training_job_name": stopped}, ("training_job_name", status, "Completed")),
        (group, {"tuning_job_name": "no-such-tuning"}, ("tuning_job_name",)),
        (group, {**body, "training_job_name": stopped}, ("model_data_uri",)),
        (group, {**body, "approval_status": "Approvd"}, ("approval_status",)),
        (group, {**body, "model_format": None}, ("model_format",)),
        (group, {**body, "model_format": "caffe"}, ("model_format",)),
        (group, {**body, "model_data_uri": "shipyard://../x"}, ("model_data_uri",)),
        (group, {**body, "model_data_uri": "shipyard://uploads/nothing"}, ("model_data_uri",)),
        (group, {**body, "model_data_uri": "/etc/passwd"}, ("model_data_uri",)),
        (group, {**body, "model_format": "xgboost"}, ("model_data_uri", "XGBoost")),
        (group, {**body, "model_format": "onnx"}, ("model_data_uri",)),
        (group, {**body, "inference_spec": None}, ("inference_spec.input_schema",)),
        (
            group,
            {**body, "inference_spec": {"input_schema": spec["input_schema"]}},
            ("inference_spec.output_schema",),
        ),
        (
            group,
            {
                **body,
                "inference_spec": {**spec, "input_schema": {"features": ["a", "b"]}},
            },
            ("inference_spec.input_schema", "2 features"),
        ),
        (
            group,
            {
                **body,
                "inference_spec": {
                    **spec,
                    "output_schema": {
                        "problem_type": "multiclass_classification",
                        "classes": [0, 1, 2],
                    },
                },
            },
            ("inference_spec.output_schema.classes", "2 classes"),
        ),
        (
            group,
            {
                **body,
                "inference_spec": {
                    **spec,
                    "output_schema": {"problem_type": "binary_classification"},
                },
            },
            ("inference_spec.output_schema.classes",),
        ),
        (
            group,
            {**body, "inference_spec": {**spec, "output_schema": {"problem_type": "clustering"}}},
            ("inference_spec.output_schema.problem_type",),
        ),
        (group, {**body, "evaluation_report": "not a uri"}, ("evaluation_report",)),
        (
            group,
            {**body, "evaluation_report": "shipyard://uploads/none.json"},
            ("evaluation_report",),
        ),
        (group, {**body, "evaluation_report": body["model_data_uri"]}, ("evaluation_report",)),
        (group, {**body, "model_metrics": {"auc": "high"}}, ("model_metrics.auc",)),
        (group, {**body, "trust_pickle": True}, ("trust_pickle", "pickles only")),
        (group, {**body, "model_package_group_name": "other"}, ("model_package_group_name",)),
        (group, {**body, "colour": "red"}, ("colour",)),
    ]
    for target, request, needles in cases:
        response = api.post(f"{GROUPS}/{target}/packages", json=request)
        registry.error(response, 400, *needles)
    assert api.get(f"{GROUPS}/{group}").json()["package_count"] == 0


def test_concurrent_registrations_get_distinct_versions(api, registry, monkeypatch) -> None:
    group = registry.group()
    body = skops_body(registry)
    context = api.client.app.state.context
    request = ModelPackageIn(model_package_group_name=group, **body)
    versions: list[int] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            with context.db.session_scope() as session:
                package = registry_service.create_model_package(
                    session, context.store, request, "admin"
                )
            versions.append(package.version)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert sorted(versions) == [1, 2, 3, 4]

    # a number another transaction took between our read and our insert is retried
    real = registry_service.next_version
    calls = []

    def stale_then_real(latest: int | None) -> int:
        calls.append(latest)
        return 1 if len(calls) == 1 else real(latest)

    monkeypatch.setattr(registry_service, "next_version", stale_then_real)
    register()
    assert versions[-1] == 5 and len(calls) == 2
    uris = {registry.package(group, v)["model_data_uri"] for v in range(1, 6)}
    assert uris == {f"shipyard://model-packages/{group}/{v}/model" for v in range(1, 6)}
