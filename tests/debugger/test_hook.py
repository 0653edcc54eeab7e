"""The hook on real PyTorch training (small nets, generated data, CPU): each rule fires on
the net built for it and a healthy run keeps them all quiet; what the hook records."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError as PydanticValidationError

from shipyard.compute.events import parse_event
from shipyard.core.errors import ValidationError
from shipyard.debugger import Hook, Rule, StoppedByRule
from shipyard.debugger.engine import RULE_STATUS_KIND
from shipyard.debugger.hook import STATISTICS_FILE

torch = pytest.importorskip("torch")
nn = torch.nn
torch.set_num_threads(1)

ALL_RULES = (
    "vanishing_gradient",
    "exploding_tensor",
    "loss_not_decreasing",
    "overfit",
    "poor_weight_initialization",
)


def mlp(activation: type[Any], depth: int, width: int, init: str = "default") -> Any:
    """``depth`` linear layers with ``activation`` between them, 10 inputs, 1 output.

    ``init``: PyTorch's default, ``kaiming`` (He normal for ReLU, zero biases) or ``tiny``
    (N(0, 0.01²) weights, zero biases).
    """
    torch.manual_seed(0)
    widths = [10] + [width] * (depth - 1)
    layers: list[Any] = []
    for fan_in, fan_out in zip(widths, widths[1:], strict=False):
        layers += [nn.Linear(fan_in, fan_out), activation()]
    net = nn.Sequential(*layers, nn.Linear(widths[-1], 1))
    for module in net:
        if isinstance(module, nn.Linear) and init != "default":
            if init == "kaiming":
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            else:
                nn.init.normal_(module.weight, std=0.01)
            nn.init.zeros_(module.bias)
    return net


def regression(rows: int, seed: int, noise: float = 0.5) -> tuple[Any, Any]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, 10, generator=generator)
    y = x @ torch.linspace(-1, 1, 10).unsqueeze(1) + noise * torch.randn(
        rows, 1, generator=generator
    )
    return x, y


def classification(rows: int, seed: int) -> tuple[Any, Any]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, 10, generator=generator)
    return x, (x[:, :3].sum(dim=1, keepdim=True) > 0).float()


def train(
    net: Any,
    rules: list[Rule],
    *,
    data: tuple[Any, Any],
    validation: tuple[Any, Any] | None = None,
    criterion: Any = None,
    steps: int = 200,
    batch: int | None = 64,
    optimizer: Callable[[Any], Any] = lambda params: torch.optim.SGD(params, lr=0.05),
    **hook_options: Any,
) -> Hook:
    """Train ``net`` for ``steps`` steps (mini-batches, or the full batch when ``batch`` is
    None) under a hook with ``rules``, evaluating every 10 steps when given a validation
    set; a rule's StopTraining ends it early."""
    criterion = criterion or nn.MSELoss()
    x, y = data
    generator = torch.Generator().manual_seed(7)
    opt = optimizer(net.parameters())
    hook = Hook(net, opt, rules=rules, **hook_options)
    try:
        with hook:
            for step in range(steps):
                index = torch.randint(0, len(x), (batch,), generator=generator) if batch else None
                xb, yb = (x, y) if index is None else (x[index], y[index])
                opt.zero_grad()
                loss = criterion(net(xb), yb)
                loss.backward()
                hook.record_loss(loss)
                opt.step()
                if validation is not None and (step + 1) % 10 == 0:
                    with torch.no_grad():
                        hook.record_loss(criterion(net(validation[0]), validation[1]), mode="eval")
    except StoppedByRule:
        pass
    return hook


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    parsed = (parse_event(line) for line in capsys.readouterr().out.splitlines())
    return [event for event in parsed if event is not None]


def final_statuses(events: list[dict[str, Any]]) -> dict[str, tuple[str, int | None, str]]:
    """Each rule's last status: (status, step, details)."""
    last = {}
    for event in events:
        if event["event"] == "record" and event["kind"] == RULE_STATUS_KIND:
            data = event["data"]
            last[data["rule_configuration_name"]] = (
                data["rule_evaluation_status"],
                event["step"],
                data["status_details"],
            )
    return last


# ---- the acceptance nets --------------------------------------------------------------
def test_vanishing_gradient_flags_a_20_layer_sigmoid_mlp_within_200_steps(capsys) -> None:
    net = mlp(nn.Sigmoid, depth=20, width=32)
    hook = train(net, [Rule("vanishing_gradient", actions=["StopTraining"])],
                 data=classification(512, 1), criterion=nn.BCEWithLogitsLoss())  # fmt: skip

    status, step, details = final_statuses(emitted(capsys))["vanishing_gradient"]
    assert status == "IssuesFound", details
    assert step is not None and step < 200 and hook.step == step  # stopped right there
    assert "mean |gradient| of 0." in details  # the first layers' gradients vanish


def test_vanishing_gradient_stays_quiet_on_the_same_net_with_relu_and_kaiming_init(
    capsys,
) -> None:
    net = mlp(nn.ReLU, depth=20, width=64, init="kaiming")
    train(net, [Rule("vanishing_gradient")], data=classification(512, 1),
          criterion=nn.BCEWithLogitsLoss())  # fmt: skip

    status, step, details = final_statuses(emitted(capsys))["vanishing_gradient"]
    assert (status, step) == ("NoIssuesFound", 200)
    assert details == "no issues found in 20 checks"


def test_a_healthy_run_keeps_every_rule_quiet(capsys) -> None:
    net = mlp(nn.ReLU, depth=4, width=16, init="kaiming")
    train(
        net,
        [Rule(name) for name in ALL_RULES],
        data=regression(4096, 1),
        validation=regression(4096, 2),
        batch=None,
        optimizer=lambda params: torch.optim.Adam(params, lr=1e-3),
    )

    statuses = final_statuses(emitted(capsys))
    assert {name: status for name, (status, _, _) in statuses.items()} == dict.fromkeys(
        ALL_RULES, "NoIssuesFound"
    ), statuses
    assert all("nothing was checked" not in details for _, _, details in statuses.values())


def test_exploding_tensor_flags_a_learning_rate_that_blows_up(capsys) -> None:
    net = mlp(nn.ReLU, depth=4, width=64, init="kaiming")
    train(net, [Rule("exploding_tensor", actions=["StopTraining"])], data=regression(512, 1),
          optimizer=lambda params: torch.optim.SGD(params, lr=5.0))  # fmt: skip

    events = emitted(capsys)
    status, step, details = final_statuses(events)["exploding_tensor"]
    assert status == "IssuesFound" and step is not None and step < 10, details
    assert events[-1]["event"] == "stop"
    assert events[-1]["reason"].startswith(f"RuleIssuesFound: exploding_tensor at step {step}")


def test_poor_weight_initialization_flags_tiny_initial_weights(capsys) -> None:
    net = mlp(nn.ReLU, depth=6, width=64, init="tiny")
    train(net, [Rule("poor_weight_initialization")], data=regression(512, 1), steps=20)

    status, step, details = final_statuses(emitted(capsys))["poor_weight_initialization"]
    assert (status, step) == ("IssuesFound", 0)
    assert "activation-input variance ranged from" in details


def test_loss_not_decreasing_flags_a_model_that_does_not_learn(capsys) -> None:
    net = mlp(nn.ReLU, depth=4, width=64, init="kaiming")
    train(net, [Rule("loss_not_decreasing")], data=regression(512, 1), steps=60,
          optimizer=lambda params: torch.optim.SGD(params, lr=0.0))  # fmt: skip

    status, step, _ = final_statuses(emitted(capsys))["loss_not_decreasing"]
    assert (status, step) == ("IssuesFound", 19)  # after two windows of 10 steps


def test_overfit_flags_a_wide_net_memorizing_random_labels(capsys) -> None:
    generator = torch.Generator().manual_seed(3)
    x, x_validation = torch.randn(32, 10, generator=generator), torch.randn(512, 10)
    y, y_validation = torch.randn(32, 1, generator=generator), torch.randn(512, 1)
    net = mlp(nn.ReLU, depth=4, width=256, init="kaiming")
    train(net, [Rule("overfit")], data=(x, y), validation=(x_validation, y_validation),
          batch=None, optimizer=lambda params: torch.optim.Adam(params, lr=1e-2))  # fmt: skip

    status, step, details = final_statuses(emitted(capsys))["overfit"]
    assert status == "IssuesFound" and step is not None and step <= 50, details
    assert "exceeded the mean training loss" in details


# ---- what the hook records ------------------------------------------------------------
def test_statistics_and_loss_metrics_every_save_interval(capsys, tmp_path: Path) -> None:
    net = mlp(nn.ReLU, depth=3, width=8, init="kaiming")
    train(net, [], data=regression(256, 1), validation=regression(64, 2), steps=25,
          save_interval=5, out_dir=tmp_path)  # fmt: skip

    lines = [json.loads(line) for line in (tmp_path / STATISTICS_FILE).read_text().splitlines()]
    assert [line["step"] for line in lines] == [0, 5, 10, 15, 20]
    first = {(t["name"], t["kind"]): t for t in lines[0]["tensors"]}
    assert set(first) == {(f"{i}.{p}", k) for i in (0, 2, 4) for p in ("weight", "bias")
                          for k in ("gradient", "weight")}  # fmt: skip
    weight = first[("0.weight", "weight")]
    expected = net[0].weight.detach()  # weights have moved since, but only by 25 steps
    assert set(weight) == {"name", "kind", "mean", "std", "abs_mean", "l2_norm", "max_abs",
                           "nan_count", "inf_count"}  # fmt: skip
    assert weight["l2_norm"] == pytest.approx(float(expected.norm()), rel=0.1)
    assert weight["nan_count"] == 0 and weight["max_abs"] >= weight["abs_mean"] > 0

    metrics = [e for e in emitted(capsys) if e["event"] == "metric"]
    assert [m["step"] for m in metrics if m["name"] == "debug:loss"] == [0, 5, 10, 15, 20]
    assert [m["step"] for m in metrics if m["name"] == "debug:eval_loss"] == [10, 20]


def test_validation_losses_of_one_step_are_averaged(capsys) -> None:
    net = mlp(nn.ReLU, depth=2, width=4)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    with Hook(net, optimizer) as hook:
        hook.record_loss(0.5, mode="eval")
        hook.record_loss(torch.tensor(1.5), mode="eval")
    (metric,) = [e for e in emitted(capsys) if e["event"] == "metric"]
    assert (metric["name"], metric["step"], metric["value"]) == ("debug:eval_loss", 0, 1.0)
    with pytest.raises(ValueError, match="mode"):
        hook.record_loss(1.0, mode="validation")  # type: ignore[arg-type]


def test_the_configuration_comes_from_the_job_environment(capsys, monkeypatch) -> None:
    configuration = {
        "hook_config": {"save_interval": 3},
        "rule_configurations": [
            {"name": "nan-loss", "rule": "exploding_tensor", "parameters": {}, "actions": []}
        ],
    }
    monkeypatch.setenv("SHIPYARD_DEBUGGER_CONFIG", json.dumps(configuration))
    net = mlp(nn.ReLU, depth=2, width=4)
    hook = Hook(net, torch.optim.SGD(net.parameters(), lr=0.01))
    assert hook.save_interval == 3
    hook.record_loss(math.nan)
    hook.close()
    assert final_statuses(emitted(capsys))["nan-loss"][0] == "IssuesFound"


def test_on_a_rank_other_than_0_the_hook_does_nothing(capsys, monkeypatch) -> None:
    monkeypatch.setenv("SHIPYARD_RANK", "1")
    net = mlp(nn.ReLU, depth=2, width=4)
    train(net, [Rule("exploding_tensor", actions=["StopTraining"])], data=regression(64, 1),
          steps=3, optimizer=lambda params: torch.optim.SGD(params, lr=1e9))  # fmt: skip
    assert emitted(capsys) == []


def test_stop_training_raises_out_of_optimizer_step_and_the_hook_goes_quiet(capsys) -> None:
    net = mlp(nn.Sigmoid, depth=20, width=32)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    hook = Hook(net, optimizer, rules=[Rule("vanishing_gradient", actions=["StopTraining"])])
    x, y = classification(64, 1)
    nn.BCEWithLogitsLoss()(net(x), y).backward()
    with pytest.raises(StoppedByRule) as raised:
        optimizer.step()
    assert raised.value.reason.startswith("RuleIssuesFound: vanishing_gradient at step 0: ")
    assert not hook.recording
    optimizer.step()  # the hook's own hooks no longer judge anything
    hook.record_loss(math.nan)
    events = emitted(capsys)
    assert [e["event"] for e in events].count("stop") == 1
    hook.close()
    assert emitted(capsys) == []


def test_importing_the_debugger_does_not_import_torch() -> None:
    code = "import sys, shipyard.debugger; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_rules_and_save_interval_given_to_the_hook_are_checked_like_a_jobs() -> None:
    net = mlp(nn.ReLU, depth=2, width=4)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    with pytest.raises(ValidationError, match=r"rules\.0\.rule: unknown rule 'dead_relu'"):
        Hook(net, optimizer, rules=[Rule("dead_relu")])
    with pytest.raises(ValidationError, match=r"rules\.0\.parameters\.threshold"):
        Hook(net, optimizer, rules=[Rule("vanishing_gradient", threshold=-1.0)])
    with pytest.raises(PydanticValidationError, match="save_interval"):
        Hook(net, optimizer, save_interval=0)
