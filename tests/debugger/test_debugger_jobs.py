"""Debugger rules on real script-mode training jobs, through REST (the in-process ``api``)
and through the SDK and the CLI (against ``live_server``): StopTraining ends the job
Stopped with the rule named; Notify posts a signed message, retried, never redirected."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import shipyard
from shipyard.core.config import Settings
from shipyard.core.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    webhook_secret,
)
from shipyard.debugger import Rule
from shipyard.sdk.waiting import UnexpectedStatus

pytest.importorskip("torch")

# A 20-layer sigmoid MLP on generated data: its first layers' gradients vanish at once.
SIGMOID_SCRIPT = textwrap.dedent(
    """
    import os
    from pathlib import Path

    import torch
    from torch import nn

    import shipyard.debugger
    import shipyard.training

    torch.set_num_threads(1)
    torch.manual_seed(0)
    layers, width = [], 10
    for _ in range(19):
        layers += [nn.Linear(width, 32), nn.Sigmoid()]
        width = 32
    model = nn.Sequential(*layers, nn.Linear(width, 1))
    x = torch.randn(512, 10)
    y = (x[:, :3].sum(dim=1, keepdim=True) > 0).float()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    criterion = nn.BCEWithLogitsLoss()
    hook = shipyard.debugger.Hook(model, optimizer)
    try:
        for step in range(200):
            batch = torch.randint(0, 512, (64,))
            optimizer.zero_grad()
            loss = criterion(model(x[batch]), y[batch])
            loss.backward()
            hook.record_loss(loss)
            optimizer.step()
    except shipyard.training.EarlyStopped:
        model_dir = Path(os.environ["SHIPYARD_MODEL_DIR"])
        torch.save(model.state_dict(), model_dir / "model.pt")
        raise
    print("trained all 200 steps")
    """
)
# A small model whose loss turns NaN at step 2.
NAN_SCRIPT = textwrap.dedent(
    """
    import torch
    from torch import nn

    import shipyard.debugger

    torch.set_num_threads(1)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with shipyard.debugger.Hook(model, optimizer) as hook:
        for step in range(5):
            optimizer.zero_grad()
            loss = model(torch.randn(8, 4)).pow(2).mean()
            loss.backward()
            hook.record_loss(float("nan") if step == 2 else loss)
            optimizer.step()
    """
)
VANISHING = {
    "name": "vanishing",
    "rule": "vanishing_gradient",
    "parameters": {"threshold": 1e-7},
    "actions": [{"type": "StopTraining"}],
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The ``api`` fixture's settings, letting webhooks reach the receiver on 127.0.0.1;
    no warm starts, which preload libraries these scripts do not use."""
    return Settings(
        home=tmp_path / "home",
        data_roots=[tmp_path],
        heartbeat_seconds=0.5,
        load_quickstart=False,
        job_preload_modules=[],
        webhook_allow_private_addresses=True,
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def run_script_job(api: Any, script: str, **debugging: Any) -> dict[str, Any]:
    """Create a script-mode job running ``script`` with the given debugger fields."""
    uploaded = api.post("/api/v1/uploads", files={"file": ("train.py", script.encode())})
    assert uploaded.status_code == 201, uploaded.text
    name = unique("debugged")
    created = api.post(
        "/api/v1/training-jobs",
        json={
            "name": name,
            "entry_point": "train.py",
            "source_uri": uploaded.json()["uri"],
            "channels": {},
            **debugging,
        },
    )
    assert created.status_code == 201, created.text
    return created.json()


def by_rule(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["rule_configuration_name"]: s for s in job["debugger_rule_evaluation_statuses"]}


def test_stop_training_ends_the_job_stopped_with_the_rule_named(api) -> None:
    created = run_script_job(
        api,
        SIGMOID_SCRIPT,
        debugger_hook_config={"save_interval": 5},
        debugger_rule_configurations=[VANISHING, {"name": "nan-watch", "rule": "exploding_tensor"}],
    )
    assert [s["rule_evaluation_status"] for s in created["debugger_rule_evaluation_statuses"]] == [
        "InProgress",
        "InProgress",
    ]
    assert created["debugger_rule_configurations"][1]["parameters"] == {
        "only_nan": False,
        "threshold": 1e8,
    }  # the defaults, filled in

    job = api.wait_for_job(created["name"])

    assert job["status"] == "Stopped", job["failure_reason"]
    reason = job["failure_reason"]
    assert reason.startswith("RuleIssuesFound: vanishing at step 0: mean |gradient| of 0."), reason
    statuses = by_rule(job)
    assert statuses["vanishing"]["rule_evaluation_status"] == "IssuesFound"
    assert statuses["vanishing"]["step"] == 0
    assert statuses["vanishing"]["status_details"] in reason
    assert statuses["vanishing"]["last_modified_time"] is not None
    assert statuses["nan-watch"]["rule_evaluation_status"] == "NoIssuesFound"
    assert job["debugger_hook_config"] == {"save_interval": 5}

    store = api.client.app.state.context.store
    assert store.exists(f"training-jobs/{job['name']}/model/model.pt")  # saved before stopping
    statistics = store.get_bytes(
        f"training-jobs/{job['name']}/output/debugger/tensor-statistics.jsonl"
    )
    assert json.loads(statistics.splitlines()[0])["step"] == 0
    metrics = api.get(f"/api/v1/training-jobs/{job['name']}/metrics", params={"name": "debug:loss"})
    assert [p["step"] for p in metrics.json()["metrics"]] == [0]
    listed = api.get("/api/v1/training-jobs").json()["items"]
    assert by_rule(next(j for j in listed if j["name"] == job["name"])) == statuses


def test_notify_posts_a_signed_message_retries_and_does_not_follow_redirects(
    api, webhook_receiver, monkeypatch
) -> None:
    monkeypatch.setattr("shipyard.debugger.notifications.retry_delay", lambda attempts: 0.0)
    webhook_receiver.answer("/flaky", 503, 200)
    webhook_receiver.answer("/moved", 302)
    urls = [f"{webhook_receiver.url}{path}" for path in ("/hook", "/flaky", "/moved")]
    created = run_script_job(api, NAN_SCRIPT, debugger_rule_configurations=[{
        "name": "nan-watch",
        "rule": "exploding_tensor",
        "actions": [{"type": "Notify", "webhook_url": url} for url in urls],
    }])  # fmt: skip
    name = created["name"]
    job = api.wait_for_job(name)
    assert job["status"] == "Completed", job["failure_reason"]  # Notify does not stop
    assert by_rule(job)["nan-watch"]["rule_evaluation_status"] == "IssuesFound"

    path = f"/api/v1/training-jobs/{name}/debugger-notifications"
    deliveries = poll_deliveries(api, path)

    hook, flaky, moved = deliveries
    assert (hook["status"], hook["attempts"], hook["last_error"]) == ("Delivered", 1, None)
    assert (flaky["status"], flaky["attempts"]) == ("Delivered", 2)
    assert (moved["status"], moved["attempts"]) == ("Failed", 1)
    assert "redirects are not followed" in moved["last_error"]
    assert webhook_receiver.received("/redirected") == []
    assert len(webhook_receiver.received("/flaky")) == 2

    (request,) = webhook_receiver.received("/hook")
    secret = webhook_secret(api.settings.home)
    timestamp = request.headers[TIMESTAMP_HEADER]
    expected = hmac.new(secret, f"{timestamp}.".encode() + request.body, hashlib.sha256)
    assert request.headers[SIGNATURE_HEADER] == f"sha256={expected.hexdigest()}"
    message = json.loads(request.body)
    assert request.headers[DELIVERY_HEADER] == message["delivery_id"] == hook["id"]
    assert message["training_job_name"] == name
    assert (message["rule_configuration_name"], message["rule"]) == (
        "nan-watch",
        "exploding_tensor",
    )
    assert message["step"] == 2
    assert message["reason"] == "the train loss holds 1 NaN value"
    assert message["rule_evaluation_status"] == "IssuesFound"
    assert name in message["message"]
    assert_console_card(api, name)


def assert_console_card(api: Any, name: str) -> None:
    """The job's console page has a Debugger card with the rule's status and actions."""
    form = api.client.get("/console/login")
    token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    api.client.post("/console/login", data={"api_key": api.token, "csrf_token": token})
    page = api.client.get(f"/console/training-jobs/{name}")
    assert page.status_code == 200
    card = page.text.split('id="debugger"')[1].split("</section>")[0]
    assert "nan-watch" in card and "exploding_tensor" in card and "Notify, Notify, Notify" in card
    assert "badge-bad" in card and "IssuesFound" in card
    assert "the train loss holds 1 NaN value" in card


def poll_deliveries(api: Any, path: str, timeout: float = 60) -> list[dict[str, Any]]:
    """The job's three deliveries, once none is Pending."""
    deadline = time.monotonic() + timeout
    while True:
        deliveries = api.get(path).json()["deliveries"]
        if len(deliveries) == 3 and all(d["status"] != "Pending" for d in deliveries):
            return deliveries
        assert time.monotonic() < deadline, f"deliveries still pending: {deliveries}"
        time.sleep(0.2)


def test_a_job_whose_script_never_makes_a_hook_shows_the_rule_in_error(api) -> None:
    created = run_script_job(api, "print('no hook here')\n", debugger_rule_configurations=[
        {"name": "vanishing", "rule": "vanishing_gradient"}
    ])  # fmt: skip
    assert by_rule(created)["vanishing"]["status_details"] == (
        "waiting for the script's debugger hook"
    )
    job = api.wait_for_job(created["name"])
    assert job["status"] == "Completed"
    status = by_rule(job)["vanishing"]
    assert status["rule_evaluation_status"] == "Error"
    assert "no debugger hook reported this rule" in status["status_details"]
    assert api.get(f"/api/v1/training-jobs/{job['name']}/debugger-notifications").json() == {
        "deliveries": []
    }


def test_the_sdk_takes_rules_and_the_cli_describes_their_statuses(live_server, tmp_path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SIGMOID_SCRIPT)
    with shipyard.Session(url=live_server.url, token=live_server.token) as session:
        estimator = shipyard.Estimator(
            entry_point=str(script),
            rules=[Rule("vanishing_gradient", threshold=1e-7, actions=["StopTraining"])],
            debugger_hook_config={"save_interval": 20},
            base_job_name=unique("sdk-debugger"),
            session=session,
        )
        with pytest.raises(UnexpectedStatus) as raised:
            estimator.fit({}, logs=False)
        description = raised.value.description
        assert description["status"] == "Stopped"
        assert description["debugger_hook_config"] == {"save_interval": 20}
        (status,) = description["debugger_rule_evaluation_statuses"]
        assert status["rule_evaluation_status"] == "IssuesFound"
        assert estimator.latest_training_job is not None
        assert estimator.latest_training_job.debugger_notifications() == []

    described = subprocess.run(
        [sys.executable, "-m", "shipyard.cli.main", "training", "describe", description["name"]],
        env={**os.environ, **live_server.env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert described.returncode == 0, described.stderr
    assert "debugger_rule_evaluation_statuses" in described.stdout
    assert "vanishing_gradient: IssuesFound at step 0" in described.stdout
