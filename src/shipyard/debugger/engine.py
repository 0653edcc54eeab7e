"""Rule evaluation inside the job: each rule's status as it changes, and its actions.

Every status change is a ``debugger.rule_status`` record event (the server reads them
back to describe the job). A rule starts ``InProgress``; the first issue it finds makes
it ``IssuesFound`` for good and runs its actions; a rule that raises is ``Error`` with
why; :meth:`RuleEngine.close` ends every rule still ``InProgress`` as ``NoIssuesFound``.

Actions: ``Notify`` records a ``debugger.notification`` event, which the server delivers
to each of the rule's webhooks; ``StopTraining`` ends the script with
:class:`StoppedByRule` after a ``stop`` event, so the job is ``Stopped`` with the
finding as its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.compute.events import emit_record, emit_stop
from shipyard.debugger.rules import (
    BaseRule,
    LossMode,
    TensorStatistics,
    checked_parameters,
    make_rule,
)
from shipyard.debugger.schemas import (
    NotifyAction,
    RuleConfiguration,
    RuleEvaluationStatusName,
    StopTrainingAction,
)
from shipyard.training import EarlyStopped

RULE_STATUS_KIND = "debugger.rule_status"
NOTIFICATION_KIND = "debugger.notification"


class StoppedByRule(EarlyStopped):
    """Raised out of ``optimizer.step()`` or ``hook.record_loss()`` when a rule with a
    ``StopTraining`` action finds an issue.

    It is a ``SystemExit`` with code 0: uncaught, it ends the script and the job is
    recorded ``Stopped`` with ``reason``. A script that wants to save its model first
    catches it (or any :class:`shipyard.training.EarlyStopped`), saves, and re-raises.
    """


@dataclass
class RuleRun:
    """One configured rule in this process: its state and where it stands."""

    configuration: RuleConfiguration
    rule: BaseRule[Any]
    status: RuleEvaluationStatusName = "InProgress"

    @property
    def active(self) -> bool:
        return self.status == "InProgress"


class RuleEngine:
    """Feeds observations to the job's rules, records their statuses, runs their actions."""

    def __init__(self, configurations: Sequence[RuleConfiguration]) -> None:
        """ValidationError (naming ``rules.<i>…``) for an unknown rule or a bad parameter."""
        self.runs = [
            RuleRun(c, make_rule(c.rule, checked_parameters(c.rule, c.parameters, f"rules.{i}")))
            for i, c in enumerate(configurations)
        ]
        self.closed = False

    def start(self) -> None:
        for run in self.runs:
            self._record(run, "InProgress", None, "waiting for the statistics of the first steps")

    def wants_activations(self, step: int) -> bool:
        return any(run.active and run.rule.wants_activations(step) for run in self.runs)

    def loss(self, step: int, mode: LossMode, value: float, *, may_stop: bool = True) -> None:
        self._evaluate(step, lambda rule: rule.observe_loss(step, mode, value), may_stop)

    def tensors(self, step: int, tensors: Sequence[TensorStatistics]) -> None:
        self._evaluate(step, lambda rule: rule.observe_tensors(step, tensors), True)

    def activations(self, step: int, variances: Sequence[tuple[str, float]]) -> None:
        self._evaluate(step, lambda rule: rule.observe_activations(step, variances), True)

    def close(self, step: int | None) -> None:
        """End every rule still InProgress as NoIssuesFound (once; later calls do nothing)."""
        if self.closed:
            return
        self.closed = True
        for run in self.runs:
            if not run.active:
                continue
            rule = run.rule
            if rule.checks:
                plural = "s" * (rule.checks > 1)
                details = f"no issues found in {rule.checks} check{plural}"
            else:
                details = f"no issues found, but nothing was checked: {rule.idle_reason}"
            self._record(run, "NoIssuesFound", step, details)

    def _evaluate(
        self, step: int, observe: Callable[[BaseRule[Any]], str | None], may_stop: bool
    ) -> None:
        if self.closed:
            return
        stop_reasons = []
        for run in self.runs:
            if not run.active:
                continue
            try:
                finding = observe(run.rule)
            except Exception as exc:  # a broken rule must not break the training
                self._record(run, "Error", step, f"the rule raised {type(exc).__name__}: {exc}")
                continue
            if finding is not None:
                stop_reasons += self._issue_found(run, step, finding)
        if stop_reasons and may_stop:
            self.close(step)
            reason = "; ".join(stop_reasons)
            emit_stop(reason)
            raise StoppedByRule(reason)

    def _issue_found(self, run: RuleRun, step: int, finding: str) -> list[str]:
        """Record the finding and run the rule's actions; the stop reasons it asks for."""
        self._record(run, "IssuesFound", step, finding)
        configuration = run.configuration
        actions = configuration.actions
        if any(isinstance(action, NotifyAction) for action in actions):
            emit_record(
                NOTIFICATION_KIND,
                {
                    "rule_configuration_name": configuration.name,
                    "rule": configuration.rule,
                    "status_details": finding,
                },
                step,
            )
        if any(isinstance(action, StopTrainingAction) for action in actions):
            return [f"RuleIssuesFound: {configuration.name} at step {step}: {finding}"]
        return []

    def _record(
        self, run: RuleRun, status: RuleEvaluationStatusName, step: int | None, details: str
    ) -> None:
        run.status = status
        emit_record(
            RULE_STATUS_KIND,
            {
                "rule_configuration_name": run.configuration.name,
                "rule_evaluation_status": status,
                "status_details": details[:2000],
            },
            step,
        )
        if status in ("IssuesFound", "Error"):
            print(f"[debugger] {run.configuration.name}: {status} at step {step}: {details}",
                  flush=True)  # fmt: skip
