"""Serving a registered model: an endpoint may serve a package that is not Approved only
for a caller allowed registry:DeployUnapproved; endpoints created without the host (a
pipeline) are deployed by its sweep; lineage runs from the job to the endpoint."""

from __future__ import annotations

import io

import skops.io
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from shipyard.lineage import service as lineage
from shipyard.serving import service as serving
from shipyard.serving.schemas import EndpointIn

DEPLOYER = [
    {
        "effect": "Allow",
        "actions": ["serving:*", "registry:Describe*", "registry:List*"],
        "resources": ["*"],
    }
]


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


def create_endpoint(api, headers: dict[str, str], config: str, name: str):
    return api.client.post(
        "/api/v1/endpoints", headers=headers, json={"name": name, "endpoint_config_name": config}
    )


def test_an_unapproved_package_needs_deploy_unapproved(api, registry) -> None:
    group = registry.group()
    package = registry.register(group, **skops_body(registry)).json()
    name = package["model_package_name"]
    _, config = registry.model_and_config(name)
    deployer = registry.key_for("deployer", DEPLOYER)

    refused = create_endpoint(api, deployer, config, registry.unique("e"))
    registry.error(refused, 403, name, "PendingManualApproval", "registry:DeployUnapproved")
    path = f"/api/v1/model-package-groups/{group}/packages/1"
    registry.patch(path, {"approval_status": "Rejected", "reason": "not yet"})
    registry.error(create_endpoint(api, deployer, config, registry.unique("e")), 403, "Rejected")

    with api.client.app.state.context.db.session_scope() as session:
        found = serving.unapproved_packages(session, config)
    assert [p.model_package_name for p in found] == [name]

    # allowed on this package only: deploys while it is not approved
    trusted = registry.key_for(
        "reviewer",
        DEPLOYER
        + [
            {
                "effect": "Allow",
                "actions": ["registry:DeployUnapproved"],
                "resources": [f"srn:shipyard:model-package/{group}/*"],
            }
        ],
    )
    early = create_endpoint(api, trusted, config, registry.unique("early"))
    assert early.status_code == 201, early.text
    denied = registry.key_for(
        "denied",
        [{"effect": "Allow", "actions": ["*"], "resources": ["*"]}]
        + [{"effect": "Deny", "actions": ["registry:DeployUnapproved"], "resources": ["*"]}],
    )
    registry.error(create_endpoint(api, denied, config, registry.unique("e")), 403, name)

    registry.approve(group, 1, "reviewed")
    endpoint = registry.unique("approved")
    created = create_endpoint(api, deployer, config, endpoint)
    assert created.status_code == 201, created.text
    assert api.wait_for_endpoint(endpoint)["status"] == "InService"
    with api.client.app.state.context.db.session_scope() as session:
        assert serving.unapproved_packages(session, config) == []


def test_models_from_packages_and_their_lineage(api, registry) -> None:
    job = registry.train()
    group = registry.group()
    package = registry.register(group, training_job_name=job, approval_status="Approved").json()
    model, config = registry.model_and_config(package["model_package_name"])
    described = api.get(f"/api/v1/models/{model}").json()
    assert described["model_package_name"] == package["model_package_name"]
    assert described["model_sha256"] == package["model_sha256"]
    assert described["training_job_name"] == job and described["trust_pickle"] is False
    endpoint = registry.unique("lineage")
    assert create_endpoint(api, api.headers, config, endpoint).status_code == 201
    assert api.wait_for_endpoint(endpoint)["status"] == "InService"

    with api.client.app.state.context.db.session_scope() as session:
        graph = lineage.walk(session, f"srn:shipyard:endpoint/{endpoint}", "upstream")
    relations = {
        (edge.source_id.split(":")[-1], edge.relation, edge.target_id.split(":")[-1])
        for edge in graph.edges
    }
    assert (f"model/{model}", "DeployedAs", f"endpoint/{endpoint}") in relations
    assert (f"model-package/{group}/1", "ContributedTo", f"model/{model}") in relations
    assert (f"training-job/{job}", "Registered", f"model-package/{group}/1") in relations

    bad = [
        ({"model_package_name": "nope"}, "model_package_name"),
        ({"model_package_name": f"{group}/9"}, "model_package_name"),
        ({"model_package_name": "no-such-group/1"}, "model_package_name"),
        ({"model_package_name": f"{group}/1", "training_job_name": job}, "model_package_name"),
    ]
    for body, field in bad:
        response = api.post("/api/v1/models", json={"name": registry.unique("m"), **body})
        registry.error(response, 400, field)


def test_the_host_deploys_endpoints_other_processes_created(api, registry) -> None:
    group = registry.group()
    package = registry.register(group, **skops_body(registry), approval_status="Approved").json()
    _, config = registry.model_and_config(package["model_package_name"])
    context = api.client.app.state.context
    host = context.extras["model_host"]
    names = [registry.unique("swept"), registry.unique("swept")]
    with context.db.session_scope() as session:
        for name in names:
            serving.create_endpoint(
                session, EndpointIn(name=name, endpoint_config_name=config), "x"
            )
    assert sorted(host.deploy_pending()) == sorted(names)
    for name in names:
        assert api.wait_for_endpoint(name)["status"] == "InService"
    assert host.deploy_pending() == []  # served here already: once each

    # moved to another config (a pipeline's update): loaded again, once
    _, other = registry.model_and_config(package["model_package_name"])
    with context.db.session_scope() as session:
        moved = serving.update_endpoint(session, names[0], other)
        assert moved.status == "Updating"
        assert [e.name for e in serving.endpoints_using_config(session, other)] == [names[0]]
    assert host.deploy_pending() == [names[0]]
    settled = api.wait_for_endpoint(names[0])
    assert settled["status"] == "InService" and settled["endpoint_config_name"] == other
    assert host.deploy_pending() == []
