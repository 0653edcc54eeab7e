"""The debugger's part of a training job: check its configuration, keep it, describe it.

The training room calls these; it never reads the debugger's tables. A configuration is
checked completely before the job is queued — every rule known, every parameter known
and in range, names unique, every webhook URL allowed — so a bad one is a 400 naming the
field (``debugger_rule_configurations.0.parameters.threshold``). The rules' statuses
are read back from the ``debugger.rule_status`` events the job's hook recorded.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.compute import service as compute
from shipyard.compute.models import Job
from shipyard.compute.schemas import TERMINAL_STATUSES
from shipyard.core.clock import utcnow
from shipyard.core.config import Settings
from shipyard.core.errors import ValidationError
from shipyard.core.webhooks import check_webhook_url
from shipyard.debugger.engine import RULE_STATUS_KIND
from shipyard.debugger.models import DebuggerJobConfiguration
from shipyard.debugger.rules import checked_parameters
from shipyard.debugger.schemas import (
    DebuggerConfiguration,
    DebuggerDescription,
    DebuggerHookConfig,
    NotifyAction,
    RuleConfiguration,
    RuleEvaluationStatus,
)

HOOK_FIELD = "debugger_hook_config"
RULES_FIELD = "debugger_rule_configurations"
STATUS_KEYS = ("rule_configuration_name", "rule_evaluation_status", "status_details")


def check_configuration(
    hook_config: DebuggerHookConfig | None,
    rule_configurations: Sequence[RuleConfiguration],
    *,
    script_mode: bool,
    settings: Settings,
) -> DebuggerConfiguration | None:
    """The job's debugger configuration, checked and with every default filled in; None
    when the request asks for no debugging. ValidationError names the bad field."""
    if hook_config is None and not rule_configurations:
        return None
    if not script_mode:
        raise ValidationError(
            "the debugger is for script mode (entry_point): a built-in algorithm records "
            "no tensors for rules to check",
            RULES_FIELD if rule_configurations else HOOK_FIELD,
        )
    seen: set[str] = set()
    checked = []
    for index, configuration in enumerate(rule_configurations):
        field = f"{RULES_FIELD}.{index}"
        if configuration.name in seen:
            raise ValidationError(
                f"{configuration.name!r} names an earlier rule too; names must be unique",
                f"{field}.name",
            )
        seen.add(configuration.name)
        parameters = checked_parameters(configuration.rule, configuration.parameters, field)
        _check_actions(configuration, field, settings)
        checked.append(configuration.model_copy(update={"parameters": parameters}))
    return DebuggerConfiguration(
        hook_config=hook_config or DebuggerHookConfig(), rule_configurations=checked
    )


def save_configuration(
    session: Session, job_id: str, configuration: DebuggerConfiguration | None
) -> None:
    """Keep the configuration of a job just queued (in the caller's transaction)."""
    if configuration is None:
        return
    notifies = any(
        isinstance(action, NotifyAction)
        for rule in configuration.rule_configurations
        for action in rule.actions
    )
    session.add(
        DebuggerJobConfiguration(
            job_id=job_id,
            hook_config=configuration.hook_config.model_dump(),
            rule_configurations=[r.model_dump() for r in configuration.rule_configurations],
            relayed_event_id=0,
            relay_finished=not notifies,
            created_at=utcnow(),
        )
    )


def describe_jobs(session: Session, jobs: Sequence[Job]) -> dict[str, DebuggerDescription]:
    """The debugger's part of each job's description, by job id (empty when undebugged)."""
    if not jobs:
        return {}
    ids = [job.id for job in jobs]
    rows = {
        row.job_id: row
        for row in session.scalars(
            select(DebuggerJobConfiguration).where(DebuggerJobConfiguration.job_id.in_(ids))
        )
    }
    descriptions = {}
    for job in jobs:
        row = rows.get(job.id)
        descriptions[job.id] = _description(session, job, row) if row else DebuggerDescription()
    return descriptions


def describe_job(session: Session, job: Job) -> DebuggerDescription:
    return describe_jobs(session, [job])[job.id]


def _check_actions(configuration: RuleConfiguration, field: str, settings: Settings) -> None:
    for index, action in enumerate(configuration.actions):
        if isinstance(action, NotifyAction):
            check_webhook_url(
                action.webhook_url,
                allow_private=settings.webhook_allow_private_addresses,
                field=f"{field}.actions.{index}.webhook_url",
            )


def _description(session: Session, job: Job, row: DebuggerJobConfiguration) -> DebuggerDescription:
    rules = [RuleConfiguration.model_validate(r) for r in row.rule_configurations]
    return DebuggerDescription(
        debugger_hook_config=DebuggerHookConfig.model_validate(row.hook_config),
        debugger_rule_configurations=rules,
        debugger_rule_evaluation_statuses=_statuses(session, job, rules),
    )


def _statuses(
    session: Session, job: Job, rules: Sequence[RuleConfiguration]
) -> list[RuleEvaluationStatus]:
    """Each rule's last reported status. A job that ended with a rule never reported, or
    still InProgress (its hook never closed: killed, or no hook at all), shows Error."""
    latest: dict[str, RuleEvaluationStatus] = {}
    names = {rule.name for rule in rules}
    for event in compute.read_events(session, job.id, RULE_STATUS_KIND):
        status = _status_of(event)
        if status is not None and status.rule_configuration_name in names:
            latest[status.rule_configuration_name] = status
    ended = job.status in TERMINAL_STATUSES
    return [_final(latest.get(rule.name), rule.name, job, ended) for rule in rules]


def _status_of(event: compute.EventRecord) -> RuleEvaluationStatus | None:
    """The status an event reports, or None when it is not one (a script may print any
    event line)."""
    document = {key: event.data.get(key) for key in STATUS_KEYS}
    try:
        return RuleEvaluationStatus.model_validate(
            {**document, "step": event.step, "last_modified_time": event.timestamp}
        )
    except PydanticValidationError:
        return None


def _final(
    status: RuleEvaluationStatus | None, name: str, job: Job, ended: bool
) -> RuleEvaluationStatus:
    if status is None:
        details = (
            f"the job ended {job.status} and no debugger hook reported this rule; a script "
            "evaluates its rules with shipyard.debugger.Hook(model, optimizer)"
            if ended
            else "waiting for the script's debugger hook"
        )
        return RuleEvaluationStatus(
            rule_configuration_name=name,
            rule_evaluation_status="Error" if ended else "InProgress",
            status_details=details,
            step=None,
            last_modified_time=None,
        )
    if ended and status.rule_evaluation_status == "InProgress":
        return status.model_copy(
            update={
                "rule_evaluation_status": "Error",
                "status_details": f"the job ended {job.status} before its debugger hook "
                "finished evaluating this rule",
            }
        )
    return status
