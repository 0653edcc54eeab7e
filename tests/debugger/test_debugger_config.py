"""A training job's debugger configuration is checked before the job is queued: each bad
one is a 400 naming the field, and webhook URLs that could reach inside are refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from shipyard.core.config import Settings
from shipyard.security.service import bootstrap_admin
from shipyard.server import build_context, create_app

RULES = "debugger_rule_configurations"


@dataclass
class IdleApi:
    """A server with no worker (jobs stay Pending), default settings, and what the
    requests below need: an uploaded script and a CSV table."""

    client: TestClient
    token: str
    source_uri: str
    table: Path

    def create(self, **body: Any) -> httpx.Response:
        request = {
            "name": f"debug-config-{uuid.uuid4().hex[:10]}",
            "entry_point": "train.py",
            "source_uri": self.source_uri,
            "channels": {},
            **body,
        }
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.client.post("/api/v1/training-jobs", json=request, headers=headers)


@pytest.fixture(scope="module")
def idle_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdleApi]:
    root = tmp_path_factory.mktemp("debug-config")
    settings = Settings(
        home=root / "home",
        data_roots=[root],
        run_worker=False,
        run_scheduler=False,
        load_quickstart=False,
    )
    context = build_context(settings)
    token = bootstrap_admin(context.db)
    assert token is not None
    table = root / "table.csv"
    table.write_text("x,y\n1,0\n2,1\n3,0\n4,1\n")
    with TestClient(create_app(settings, context)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        files = {"file": ("train.py", b"print('training')\n")}
        uploaded = client.post("/api/v1/uploads", files=files, headers=headers)
        assert uploaded.status_code == 201, uploaded.text
        yield IdleApi(client, token, uploaded.json()["uri"], table)
    context.db.dispose()


def rule(**overrides: Any) -> dict[str, Any]:
    return {"name": "vanishing", "rule": "vanishing_gradient", **overrides}


def notify(url: str) -> dict[str, Any]:
    return rule(actions=[{"type": "StopTraining"}, {"type": "Notify", "webhook_url": url}])


BAD_CONFIGURATIONS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "unknown rule": ({RULES: [rule(rule="dead_relu")]}, (f"{RULES}.0.rule", "unknown rule")),
    "unknown parameter": (
        {RULES: [rule(parameters={"treshold": 1e-6})]},
        (f"{RULES}.0.parameters.treshold", "its parameters are threshold"),
    ),
    "negative threshold": (
        {RULES: [rule(parameters={"threshold": -1})]},
        (f"{RULES}.0.parameters.threshold", "greater than 0"),
    ),
    "threshold not a number": (
        {RULES: [rule(parameters={"threshold": "tiny"})]},
        (f"{RULES}.0.parameters.threshold",),
    ),
    "bad parameter of the second rule": (
        {
            RULES: [
                rule(),
                rule(name="plateau", rule="loss_not_decreasing", parameters={"num_steps": 0}),
            ]
        },  # fmt: skip
        (f"{RULES}.1.parameters.num_steps",),
    ),
    "duplicate name": ({RULES: [rule(), rule()]}, (f"{RULES}.1.name", "unique")),
    "bad name": ({RULES: [rule(name="no spaces please")]}, (f"{RULES}.0.name",)),
    "unknown action": (
        {RULES: [rule(actions=[{"type": "Email", "address": "me@example.com"}])]},
        (f"{RULES}.0.actions.0",),
    ),
    "notify without a URL": (
        {RULES: [rule(actions=[{"type": "Notify"}])]},
        (f"{RULES}.0.actions.0.Notify.webhook_url",),
    ),
    "unknown field in a rule": ({RULES: [rule(severity="high")]}, (f"{RULES}.0.severity",)),
    "too many rules": (
        {RULES: [rule(name=f"r{i}") for i in range(21)]},
        (RULES, "at most 20"),
    ),
    "zero save interval": (
        {"debugger_hook_config": {"save_interval": 0}},
        ("debugger_hook_config.save_interval",),
    ),
    "metadata address": (
        {RULES: [notify("http://169.254.169.254/latest/meta-data/")]},
        (f"{RULES}.0.actions.1.webhook_url", "link-local or cloud metadata"),
    ),
    "IPv6 metadata address": (
        {RULES: [notify("http://[fd00:ec2::254]/")]},
        (f"{RULES}.0.actions.1.webhook_url", "cloud metadata"),
    ),
    "loopback without the setting": (
        {RULES: [notify("http://127.0.0.1:8080/hook")]},
        (f"{RULES}.0.actions.1.webhook_url", "SHIPYARD_WEBHOOK_ALLOW_PRIVATE_ADDRESSES"),
    ),
    "private network without the setting": (
        {RULES: [notify("https://10.0.0.7/hook")]},
        (f"{RULES}.0.actions.1.webhook_url", "loopback or private"),
    ),
    "not http": (
        {RULES: [notify("file:///etc/passwd")]},
        (f"{RULES}.0.actions.1.webhook_url", "http"),
    ),
}


def assert_400(response: httpx.Response, *needles: str) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "ValidationError"
    for needle in needles:
        assert needle in error["message"], (needle, error["message"])
    return error["message"]


@pytest.mark.parametrize("case", sorted(BAD_CONFIGURATIONS))
def test_a_bad_debugger_configuration_is_a_400_naming_the_field(idle_api, case) -> None:
    body, needles = BAD_CONFIGURATIONS[case]
    assert_400(idle_api.create(**body), *needles)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({RULES: [rule()]}, RULES),
        ({"debugger_hook_config": {"save_interval": 10}}, "debugger_hook_config"),
    ],
)
def test_the_debugger_is_refused_on_a_built_in_algorithm(idle_api, body, field) -> None:
    response = idle_api.create(
        entry_point=None,
        source_uri=None,
        algorithm="xgboost",
        target="y",
        channels={"train": str(idle_api.table)},
        **body,
    )
    message = assert_400(response, f"{field}:", "script mode")
    assert message.startswith(f"{field}:")


def test_a_good_configuration_is_kept_with_its_defaults(idle_api) -> None:
    response = idle_api.create(
        debugger_rule_configurations=[
            rule(parameters={"threshold": 1e-6}, actions=[{"type": "StopTraining"}]),
            {"name": "overfit", "rule": "overfit", "parameters": {"patience": 3}},
            {"name": "hooks", "rule": "exploding_tensor", "actions": [
                {"type": "Notify", "webhook_url": "https://93.184.215.14/hooks/ml"}]},
        ]
    )  # fmt: skip
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["debugger_hook_config"] == {"save_interval": 10}
    rules = {r["name"]: r for r in job[RULES]}
    assert rules["vanishing"]["parameters"] == {"threshold": 1e-6}
    assert rules["overfit"]["parameters"] == {
        "start_step": 0,
        "patience": 3,
        "ratio_threshold": 0.1,
    }
    assert [
        (s["rule_configuration_name"], s["rule_evaluation_status"])
        for s in job["debugger_rule_evaluation_statuses"]
    ] == [("vanishing", "InProgress"), ("overfit", "InProgress"), ("hooks", "InProgress")]


def test_a_job_without_debugging_describes_none(idle_api) -> None:
    job = idle_api.create().json()
    assert job["debugger_hook_config"] is None
    assert job[RULES] == [] and job["debugger_rule_evaluation_statuses"] == []
