"""Request and response types of the debugger room (shared by the server, the SDK, the CLI
and the hook inside a job)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RuleEvaluationStatusName = Literal["InProgress", "NoIssuesFound", "IssuesFound", "Error"]
DeliveryStatus = Literal["Pending", "Delivered", "Failed"]


class DebuggerHookConfig(BaseModel):
    """How the hook records: ``save_interval`` is SageMaker's, in optimizer steps."""

    model_config = ConfigDict(extra="forbid")

    save_interval: int = Field(
        default=10,
        ge=1,
        le=1_000_000,
        description="Record tensor statistics and the loss metric every this many steps.",
    )


class StopTrainingAction(BaseModel):
    """End the script (the job is ``Stopped``, its model kept) when the rule finds an issue."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["StopTraining"]


class NotifyAction(BaseModel):
    """Have the server POST the finding, signed, to ``webhook_url``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["Notify"]
    webhook_url: str = Field(min_length=1, max_length=2048)


RuleAction = Annotated[StopTrainingAction | NotifyAction, Field(discriminator="type")]


class RuleConfiguration(BaseModel):
    """One rule of a training job: which built-in ``rule``, its parameters and actions."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
        description="The rule configuration's name, unique among the job's rules.",
    )
    rule: str = Field(min_length=1, max_length=64, description="A built-in rule.")
    parameters: dict[str, Any] = Field(default_factory=dict)
    actions: list[RuleAction] = Field(default_factory=list, max_length=10)


class Rule(RuleConfiguration):
    """A rule configuration written the SageMaker SDK's way::

        Rule("vanishing_gradient", threshold=1e-7, actions=["StopTraining"])
        Rule("loss_not_decreasing", name="plateau", num_steps=20,
             actions=[{"type": "Notify", "webhook_url": "https://hooks.example.com/ml"}])

    Keyword arguments other than ``name`` and ``actions`` are the rule's parameters; the
    name defaults to the rule's; an action is ``"StopTraining"`` or a dict.
    """

    def __init__(
        self,
        rule: str,
        /,
        *,
        name: str | None = None,
        actions: Sequence[str | Mapping[str, Any]] = (),
        **parameters: Any,
    ) -> None:
        fields: dict[str, Any] = {
            "name": name or rule,
            "rule": rule,
            "parameters": parameters,
            "actions": [{"type": a} if isinstance(a, str) else dict(a) for a in actions],
        }
        super().__init__(**fields)


class DebuggerConfiguration(BaseModel):
    """What the job's hook is handed (``SHIPYARD_DEBUGGER_CONFIG``), checked and complete:
    every rule's parameters have their defaults filled in."""

    model_config = ConfigDict(extra="forbid")

    hook_config: DebuggerHookConfig = Field(default_factory=DebuggerHookConfig)
    rule_configurations: list[RuleConfiguration] = Field(default_factory=list)


class RuleEvaluationStatus(BaseModel):
    """Where one rule stands, as its job last reported (SageMaker's DebugRuleEvaluationStatus)."""

    rule_configuration_name: str
    rule_evaluation_status: RuleEvaluationStatusName
    status_details: str
    step: int | None
    last_modified_time: datetime | None


class DebuggerDescription(BaseModel):
    """The debugger's part of a training job's description."""

    debugger_hook_config: DebuggerHookConfig | None = None
    debugger_rule_configurations: list[RuleConfiguration] = Field(default_factory=list)
    debugger_rule_evaluation_statuses: list[RuleEvaluationStatus] = Field(default_factory=list)


class NotificationDeliveryOut(BaseModel):
    """One Notify action's delivery of a rule's finding to its webhook."""

    id: str
    training_job_name: str
    rule_configuration_name: str
    rule: str
    step: int | None
    status_details: str
    webhook_url: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None


class NotificationDeliveriesOut(BaseModel):
    deliveries: list[NotificationDeliveryOut]
