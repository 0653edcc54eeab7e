"""``shipyard alarms create|create-composite|list|describe|history|set-state|delete``:
alarms from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from shipyard.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    handle_errors,
    pairs,
    print_json,
    print_record,
    session,
    show_items,
)
from shipyard.core.errors import ValidationError
from shipyard.sdk.alarms import Alarm

app = typer.Typer(help="Alarms: watch metrics and act.", no_args_is_help=True)

AlarmName = Annotated[str, typer.Argument(help="Alarm name.", show_default=False)]
ALARM_FIELDS = ("name", "srn", "kind", "state_value", "state_reason", "state_updated_at",
                "description", "namespace", "metric_name", "dimensions", "statistic",
                "extended_statistic", "period", "evaluation_periods", "datapoints_to_alarm",
                "threshold", "comparison_operator", "treat_missing_data", "alarm_rule",
                "actions_enabled", "alarm_actions", "ok_actions", "insufficient_data_actions",
                "actions_state", "owner", "updated_at")  # fmt: skip
ALARM_COLUMNS = ("name", "kind", "state_value", "metric_name", "threshold", "state_updated_at")
HISTORY_COLUMNS = ("timestamp", "item_type", "summary")
ActionsOption = Annotated[
    list[str],
    typer.Option(help='An action as JSON, e.g. \'{"type": "notify", "topic": "oncall"}\'.'),
]
FromJson = Annotated[
    Path | None,
    typer.Option("--from-json", help="A JSON file with the alarm's fields (options override)."),
]


@app.command()
@handle_errors
def create(
    name: AlarmName,
    from_json: FromJson = None,
    namespace: Annotated[str | None, typer.Option(help="The metric's namespace.")] = None,
    metric_name: Annotated[str | None, typer.Option(help="The metric's name.")] = None,
    dimension: Annotated[
        list[str], typer.Option("--dimension", help="NAME=VALUE, repeatable.")
    ] = [],  # noqa: B006
    statistic: Annotated[
        str | None, typer.Option(help="SampleCount, Sum, Average, Minimum or Maximum.")
    ] = None,  # noqa: E501
    extended_statistic: Annotated[str | None, typer.Option(help="A percentile, e.g. p99.")] = None,
    period: Annotated[
        int | None, typer.Option(help="Seconds: 1, 5, 10, 30 or a multiple of 10.")
    ] = None,  # noqa: E501
    evaluation_periods: Annotated[int | None, typer.Option(help="N: periods evaluated.")] = None,
    datapoints_to_alarm: Annotated[int | None, typer.Option(help="M of N (default N).")] = None,
    threshold: Annotated[float | None, typer.Option(help="The threshold.")] = None,
    comparison_operator: Annotated[
        str | None, typer.Option(help="e.g. GreaterThanOrEqualToThreshold.")
    ] = None,  # noqa: E501
    treat_missing_data: Annotated[
        str | None, typer.Option(help="missing, notBreaching, breaching or ignore.")
    ] = None,  # noqa: E501
    description: Annotated[str | None, typer.Option(help="What the alarm means.")] = None,
    alarm_action: ActionsOption = [],  # noqa: B006
    ok_action: ActionsOption = [],  # noqa: B006
    insufficient_data_action: ActionsOption = [],  # noqa: B006
    disable_actions: Annotated[bool, typer.Option(help="Do not run actions.")] = False,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create or replace the metric alarm NAME (PutMetricAlarm)."""
    fields = _from_file(from_json)
    given: dict[str, Any] = {
        "namespace": namespace,
        "metric_name": metric_name,
        "statistic": statistic,
        "extended_statistic": extended_statistic,
        "period": period,
        "evaluation_periods": evaluation_periods,
        "datapoints_to_alarm": datapoints_to_alarm,
        "threshold": threshold,
        "comparison_operator": comparison_operator,
        "treat_missing_data": treat_missing_data,
        "description": description,
    }
    fields.update({key: value for key, value in given.items() if value is not None})
    if dimension:
        fields["dimensions"] = pairs(dimension, "--dimension")
    _add_actions(fields, alarm_action, ok_action, insufficient_data_action)
    if disable_actions:
        fields["actions_enabled"] = False
    alarm = Alarm(name, session(url, token)).put(**fields)
    _show(alarm.describe(), json_output)


@app.command("create-composite")
@handle_errors
def create_composite(
    name: AlarmName,
    alarm_rule: Annotated[
        str, typer.Argument(help="e.g. 'ALARM(a) OR ALARM(b)'.", show_default=False)
    ],  # noqa: E501
    description: Annotated[str | None, typer.Option(help="What the alarm means.")] = None,
    alarm_action: ActionsOption = [],  # noqa: B006
    ok_action: ActionsOption = [],  # noqa: B006
    insufficient_data_action: ActionsOption = [],  # noqa: B006
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create or replace the composite alarm NAME over other alarms (PutCompositeAlarm)."""
    fields: dict[str, Any] = {"description": description}
    _add_actions(fields, alarm_action, ok_action, insufficient_data_action)
    alarm = Alarm(name, session(url, token)).put_composite(alarm_rule, **fields)
    _show(alarm.describe(), json_output)


@app.command("list")
@handle_errors
def list_alarms(
    state: Annotated[str | None, typer.Option(help="OK, ALARM or INSUFFICIENT_DATA.")] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List alarms by name (DescribeAlarms)."""
    items = Alarm.list_alarms(session(url, token), state=state)
    show_items(items, ALARM_COLUMNS, "Alarms", json_output)


@app.command()
@handle_errors
def describe(
    name: AlarmName,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show the alarm called NAME: its definition and state."""
    _show(Alarm(name, session(url, token)).describe(), json_output)


@app.command()
@handle_errors
def history(
    name: AlarmName,
    item_type: Annotated[
        str | None, typer.Option(help="StateUpdate, Action or ConfigurationUpdate.")
    ] = None,  # noqa: E501
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show the alarm's history, newest first (DescribeAlarmHistory)."""
    items = Alarm(name, session(url, token)).history(item_type)
    show_items(items, HISTORY_COLUMNS, f"History of {name}", json_output)


@app.command("set-state")
@handle_errors
def set_state(
    name: AlarmName,
    state_value: Annotated[
        str, typer.Argument(help="OK, ALARM or INSUFFICIENT_DATA.", show_default=False)
    ],  # noqa: E501
    reason: Annotated[str, typer.Option(help="Why (shown in the history).")] = "set by hand",
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Set the alarm's state until its next evaluation, running that state's actions."""
    _show(Alarm(name, session(url, token)).set_state(state_value, reason), json_output)


@app.command()
@handle_errors
def delete(name: AlarmName, url: UrlOption = None, token: TokenOption = None) -> None:
    """Delete the alarm called NAME and its history."""
    Alarm(name, session(url, token)).delete()


def _from_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        document = json.loads(path.expanduser().read_text())
    except json.JSONDecodeError as exc:
        raise ValidationError(f"is not JSON ({exc})", "--from-json") from None
    if not isinstance(document, dict):
        raise ValidationError("must hold a JSON object", "--from-json")
    document.pop("name", None)
    return document


def _add_actions(fields: dict[str, Any], *given: list[str]) -> None:
    for key, texts in zip(
        ("alarm_actions", "ok_actions", "insufficient_data_actions"), given, strict=True
    ):  # noqa: E501
        if texts:
            fields[key] = [_action(text, f"--{key[:-1].replace('_', '-')}") for text in texts]


def _action(text: str, option: str) -> dict[str, Any]:
    try:
        action = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"is not JSON ({exc})", option) from None
    if not isinstance(action, dict):
        raise ValidationError("must be a JSON object", option)
    return action


def _show(record: dict[str, Any], json_output: bool) -> None:
    print_json(record) if json_output else print_record(record, ALARM_FIELDS)
