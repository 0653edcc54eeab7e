"""Early stopping of a tuning trial, decided inside the trial's own process.

The tuning job hands each trial of a ``training_job_early_stopping_type: Auto`` job a
:class:`PruningPlan`: its objective, the settings of Optuna's median stopping rule, and a
snapshot of its peers' intermediate objective values when it was created. The trial
rebuilds an in-memory Optuna study from that snapshot and asks the rule after each step
it reports. Deciding in the trial keeps the decision immediate and deterministic: it does
not depend on how fast the platform reads the trial's output, and it needs no channel
back into a running job.

This module is what a job process imports from the tuning room (through the training
runtime, or ``shipyard.training.log_metric`` in a script); it touches no database.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import optuna
from optuna.trial import TrialState, create_trial
from pydantic import BaseModel, ConfigDict, Field

optuna.logging.set_verbosity(optuna.logging.WARNING)

PeerState = Literal["complete", "pruned", "running"]


class PeerTrial(BaseModel):
    """What a trial knows of an earlier one: its objective at each reported step."""

    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=0)
    state: PeerState
    value: float | None = None
    intermediate: dict[int, float] = Field(default_factory=dict)


class PruningPlan(BaseModel):
    """Everything a trial needs to decide whether to stop early; JSON in the job payload."""

    model_config = ConfigDict(extra="forbid")

    study_name: str
    trial_number: int = Field(ge=0)
    objective_metric: str
    direction: Literal["maximize", "minimize"]
    n_startup_trials: int = Field(default=5, ge=0)
    n_warmup_steps: int = Field(default=0, ge=0)
    peers: list[PeerTrial] = Field(default_factory=list)


class TrialPruner:
    """Asks the median rule about each step; once it says stop, `reason` says why.

    Call it as a training `should_stop(step, metrics)` (it reads the objective out of the
    step's metrics), or `report(step, value)` with the objective itself.
    """

    def __init__(self, plan: PruningPlan) -> None:
        self.plan = plan
        self.reason: str | None = None
        self._pruner = optuna.pruners.MedianPruner(
            n_startup_trials=plan.n_startup_trials, n_warmup_steps=plan.n_warmup_steps
        )
        self._study = optuna.create_study(
            study_name=plan.study_name, direction=plan.direction, pruner=self._pruner
        )
        self._storage = self._study._storage
        self._add_peers()
        self._trial_id = self._storage.create_new_trial(
            self._study._study_id, template_trial=create_trial(state=TrialState.RUNNING)
        )

    def __call__(self, step: int, metrics: Mapping[str, float]) -> str | None:
        value = metrics.get(self.plan.objective_metric)
        return None if value is None else self.report(step, value)

    def report(self, step: int, value: float) -> str | None:
        """Record the objective at `step`; the reason to stop now, or None to go on."""
        if self.reason is not None or not math.isfinite(value):
            return self.reason
        self._storage.set_trial_intermediate_value(self._trial_id, step, float(value))
        if self._pruner.prune(self._study, self._storage.get_trial(self._trial_id)):
            self.reason = (
                f"EarlyStopped: {self.plan.objective_metric} was {value:.6g} at step {step}, "
                "worse than its peers' at that step (median stopping rule)"
            )
        return self.reason

    def _add_peers(self) -> None:
        """The peers, under their own trial numbers, with their intermediate values; a
        number the plan does not name is a failed trial, which compares with no one."""
        by_number = {peer.number: peer for peer in self.plan.peers}
        study_id = self._study._study_id
        for number in range(self.plan.trial_number):
            peer = by_number.get(number)
            if peer is None:
                self._storage.create_new_trial(
                    study_id, template_trial=create_trial(state=TrialState.FAIL)
                )
                continue
            trial_id = self._storage.create_new_trial(
                study_id, template_trial=create_trial(state=TrialState.RUNNING)
            )
            for step in sorted(peer.intermediate):
                self._storage.set_trial_intermediate_value(trial_id, step, peer.intermediate[step])
            if peer.state == "complete" and peer.value is not None:
                self._storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [peer.value])
            elif peer.state == "pruned":
                self._storage.set_trial_state_values(trial_id, TrialState.PRUNED)


def pruner_from_payload(document: Mapping[str, object] | None) -> TrialPruner | None:
    """The pruner a job's payload asks for (its ``pruning`` entry), or None."""
    if not document:
        return None
    return TrialPruner(PruningPlan.model_validate(document))
