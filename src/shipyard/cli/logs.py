"""``shipyard logs tail|filter|groups|streams|put|create-group|describe-group|set-retention|
delete-group``: the platform's logs (jobs, endpoints, pipelines) and your own.

Events print as ``TIMESTAMP STREAM MESSAGE``; ``--json`` prints one JSON object a line.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from shipyard.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    console,
    handle_errors,
    print_json,
    print_record,
    session,
    show_items,
)
from shipyard.core.errors import ValidationError
from shipyard.sdk.logs import LogGroup

app = typer.Typer(
    help="Logs: tail and filter job, endpoint and pipeline logs.", no_args_is_help=True
)

GroupName = Annotated[
    str,
    typer.Argument(
        help="Log group, e.g. /shipyard/training-jobs, /shipyard/endpoints/NAME, "
        "/shipyard/pipelines/NAME.",
        show_default=False,
    ),
]
PatternOption = Annotated[
    str | None,
    typer.Option(
        "--pattern", help='A filter pattern: terms, "a phrase", -exclude, ?any, %regex%, '
        "{ $.field = value }."
    ),
]  # fmt: skip
StreamsOption = Annotated[
    list[str], typer.Option("--stream", help="Only this stream (a job's name); repeatable.")
]
GROUP_FIELDS = ("name", "srn", "retention_in_days", "managed", "stream_count", "stored_bytes",
                "last_event_at", "created_at")  # fmt: skip
GROUP_COLUMNS = ("name", "retention_in_days", "stream_count", "stored_bytes", "last_event_at")
STREAM_COLUMNS = ("name", "event_count", "stored_bytes", "first_event_at", "last_event_at")
RELATIVE = re.compile(r"(\d+)\s*([smhdw])")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@app.command()
@handle_errors
def tail(
    group: GroupName,
    pattern: PatternOption = None,
    stream: StreamsOption = [],  # noqa: B006
    since: Annotated[
        str, typer.Option(help="From when: 30s, 10m, 2h, 1d, 1w ago, or an ISO 8601 time.")
    ] = "10m",
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")
    ] = False,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """The group's recent events (since 10 minutes ago, unless --since), and with --follow
    every new one as it arrives."""
    log_group = LogGroup(group, session(url, token))
    start = parse_moment(since, "--since")
    if follow:
        events = log_group.follow(pattern, streams=stream or None, since=start)
    else:
        events = log_group.filter(pattern, streams=stream or None, since=start)
    try:
        for event in events:
            print_event(event, json_output)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command("filter")
@handle_errors
def filter_events(
    group: GroupName,
    pattern: PatternOption = None,
    stream: StreamsOption = [],  # noqa: B006
    since: Annotated[
        str | None, typer.Option(help="From when: 10m, 2h, 1d ago, or an ISO 8601 time.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Until when (excluded): 10m ago, or an ISO 8601 time.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many events.")] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Every event of the group that matches, oldest stored first."""
    events = LogGroup(group, session(url, token)).filter(
        pattern,
        streams=stream or None,
        since=parse_moment(since, "--since") if since else None,
        until=parse_moment(until, "--until") if until else None,
        limit=limit,
    )
    for event in events:
        print_event(event, json_output)


@app.command()
@handle_errors
def groups(
    prefix: Annotated[str | None, typer.Option(help="Only groups starting so.")] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List the log groups."""
    items = LogGroup.list_log_groups(prefix, session(url, token))
    show_items(items, GROUP_COLUMNS, "Log groups", json_output)


@app.command()
@handle_errors
def streams(
    group: GroupName,
    prefix: Annotated[str | None, typer.Option(help="Only streams starting so.")] = None,
    newest_first: Annotated[
        bool, typer.Option("--newest-first", help="By last event, newest first.")
    ] = False,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List the group's streams."""
    order = "LastEventTime" if newest_first else "LogStreamName"
    items = LogGroup(group, session(url, token)).streams(prefix, order_by=order)
    show_items(items, STREAM_COLUMNS, f"Streams of {group}", json_output)


@app.command()
@handle_errors
def put(
    group: GroupName,
    stream: Annotated[str, typer.Argument(help="Stream name.", show_default=False)],
    message: Annotated[
        list[str] | None,
        typer.Argument(help="Messages; each line of standard input if none.", show_default=False),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Append messages to a stream of one of your groups."""
    messages = message or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not messages:
        raise ValidationError("give messages, or lines on standard input", "message")
    next_seq = LogGroup(group, session(url, token)).put_events(stream, messages)
    console.print(f"stored {len(messages)} events in {group} {stream}; next seq {next_seq}")


@app.command("create-group")
@handle_errors
def create_group(
    name: GroupName,
    retention_days: Annotated[
        int | None, typer.Option(help="Keep events this many days (default: forever).")
    ] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create a log group of your own (not under /shipyard/)."""
    group = LogGroup(name, session(url, token)).create(retention_in_days=retention_days)
    _show(group.describe(), json_output)


@app.command("describe-group")
@handle_errors
def describe_group(
    name: GroupName, json_output: JsonOption = False, url: UrlOption = None,
    token: TokenOption = None,
) -> None:  # fmt: skip
    """Show a log group."""
    _show(LogGroup(name, session(url, token)).describe(), json_output)


@app.command("set-retention")
@handle_errors
def set_retention(
    name: GroupName,
    days: Annotated[
        str,
        typer.Argument(help="1, 3, 5, 7, 14, 30, 60, 90, … 3653, or 'never'.", show_default=False),
    ],
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Keep the group's events DAYS days (older ones are deleted), or forever."""
    log_group = LogGroup(name, session(url, token))
    if days == "never":
        _show(log_group.delete_retention_policy(), json_output)
    elif days.isdigit():
        _show(log_group.put_retention_policy(int(days)), json_output)
    else:
        raise ValidationError(f"expected a number of days or 'never', got {days!r}", "days")


@app.command("delete-group")
@handle_errors
def delete_group(name: GroupName, url: UrlOption = None, token: TokenOption = None) -> None:
    """Delete a log group, its streams and their events."""
    LogGroup(name, session(url, token)).delete()
    console.print(f"deleted log group {name}")


def parse_moment(text: str, option: str, now: datetime | None = None) -> datetime:
    """``10m`` (ago), ``2h``, ``1d``, ``1w``, ``30s`` or an ISO 8601 time (UTC if naive)."""
    relative = RELATIVE.fullmatch(text.strip())
    if relative is not None:
        amount, unit = relative.groups()
        return (now or datetime.now(UTC)) - timedelta(**{UNITS[unit]: int(amount)})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"expected a time like 10m, 2h, 1d or 2026-12-01T08:00:00, got {text!r}", option
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def print_event(event: dict[str, Any], json_output: bool) -> None:
    if json_output:
        sys.stdout.write(json.dumps(event, default=str) + "\n")
    else:
        sys.stdout.write(f"{event['timestamp']} {event['log_stream_name']} {event['message']}\n")
    sys.stdout.flush()


def _show(record: dict[str, Any], json_output: bool) -> None:
    print_json(record) if json_output else print_record(record, GROUP_FIELDS)
