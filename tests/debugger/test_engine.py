"""The in-job rule engine: statuses as record events, actions, a broken rule, the close."""

from __future__ import annotations

import math
from typing import Any

import pytest

from shipyard.compute.events import parse_event
from shipyard.debugger import Rule, StoppedByRule
from shipyard.debugger.engine import NOTIFICATION_KIND, RULE_STATUS_KIND, RuleEngine
from shipyard.training import EarlyStopped

NOTIFY = {"type": "Notify", "webhook_url": "https://hooks.example.com/ml"}


def events(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    parsed = (parse_event(line) for line in capsys.readouterr().out.splitlines())
    return [event for event in parsed if event is not None]


def statuses(emitted: list[dict[str, Any]]) -> list[tuple[str, str, int | None]]:
    return [
        (e["data"]["rule_configuration_name"], e["data"]["rule_evaluation_status"], e["step"])
        for e in emitted
        if e["event"] == "record" and e["kind"] == RULE_STATUS_KIND
    ]


def test_statuses_go_in_progress_then_issues_found_once_then_the_rest_no_issues_found(
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = RuleEngine([Rule("exploding_tensor"), Rule("loss_not_decreasing", name="plateau")])
    engine.start()
    engine.loss(0, "train", 1.0)
    engine.loss(1, "train", math.nan)
    engine.loss(2, "train", math.inf)  # IssuesFound is final: no second finding
    engine.close(3)

    emitted = events(capsys)
    assert statuses(emitted) == [
        ("exploding_tensor", "InProgress", None),
        ("plateau", "InProgress", None),
        ("exploding_tensor", "IssuesFound", 1),
        ("plateau", "NoIssuesFound", 3),
    ]
    details = [e["data"]["status_details"] for e in emitted if e["event"] == "record"]
    assert details[2] == "the train loss holds 1 NaN value"
    assert details[3].startswith("no issues found, but nothing was checked: fewer than two")
    assert not any(e["event"] in ("stop", "metric") for e in emitted)


def test_a_rule_that_raises_ends_in_error_saying_why_and_the_others_go_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = RuleEngine([Rule("overfit"), Rule("exploding_tensor")])

    def broken(*_args: Any) -> str | None:
        raise ZeroDivisionError("the rule divided by zero")

    monkeypatch.setattr(engine.runs[0].rule, "observe_loss", broken)
    engine.start()
    engine.loss(0, "train", 1.0)
    engine.loss(1, "train", 2.0)
    engine.close(2)

    emitted = events(capsys)
    assert statuses(emitted)[2:] == [
        ("overfit", "Error", 0),
        ("exploding_tensor", "NoIssuesFound", 2),
    ]
    assert emitted[2]["data"]["status_details"] == (
        "the rule raised ZeroDivisionError: the rule divided by zero"
    )


def test_stop_training_emits_the_stop_event_and_raises_a_system_exit_of_code_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = RuleEngine(
        [Rule("exploding_tensor", actions=["StopTraining", NOTIFY]), Rule("vanishing_gradient")]
    )
    engine.start()
    with pytest.raises(StoppedByRule) as raised:
        engine.loss(12, "train", math.nan)

    assert isinstance(raised.value, EarlyStopped) and isinstance(raised.value, SystemExit)
    assert raised.value.code == 0
    reason = "RuleIssuesFound: exploding_tensor at step 12: the train loss holds 1 NaN value"
    assert raised.value.reason == reason
    emitted = events(capsys)
    assert statuses(emitted)[2:] == [
        ("exploding_tensor", "IssuesFound", 12),
        ("vanishing_gradient", "NoIssuesFound", 12),
    ]
    notification = next(e for e in emitted if e.get("kind") == NOTIFICATION_KIND)
    assert notification["step"] == 12
    assert notification["data"] == {
        "rule_configuration_name": "exploding_tensor",
        "rule": "exploding_tensor",
        "status_details": "the train loss holds 1 NaN value",
    }
    assert emitted[-1] == {"event": "stop", "reason": reason}
    engine.loss(13, "train", math.nan)  # closed: nothing more is judged or said
    assert events(capsys) == []


def test_a_finding_while_closing_notifies_but_does_not_stop(
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = RuleEngine([Rule("overfit", actions=["StopTraining", NOTIFY])])
    engine.start()
    engine.loss(0, "train", 0.1)
    engine.loss(1, "eval", 0.9, may_stop=False)

    emitted = events(capsys)
    assert statuses(emitted)[-1] == ("overfit", "IssuesFound", 1)
    assert [e["event"] for e in emitted].count("stop") == 0
    assert any(e.get("kind") == NOTIFICATION_KIND for e in emitted)


def test_a_rule_without_a_notify_action_records_no_notification(
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = RuleEngine([Rule("exploding_tensor")])
    engine.start()
    engine.loss(0, "train", math.inf)
    assert not any(e.get("kind") == NOTIFICATION_KIND for e in events(capsys))
