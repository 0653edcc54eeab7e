"""``shipyard metrics put|get|list``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from shipyard.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    handle_errors,
    pairs,
    print_json,
    print_table,
    session,
    show_items,
)
from shipyard.core.errors import ValidationError
from shipyard.sdk.metrics import Metrics

app = typer.Typer(help="Metrics: put datapoints, get statistics.", no_args_is_help=True)
Namespace = Annotated[str, typer.Argument(help="Namespace, e.g. App/Checkout.", show_default=False)]
MetricName = Annotated[str, typer.Argument(help="Metric name.", show_default=False)]
DimensionOption = Annotated[
    list[str] | None, typer.Option("--dimension", "-d", help="NAME=VALUE (repeatable).")
]
SPAN = re.compile(r"^(\d+)([smhd])$")
SPAN_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_span(text: str, option: str) -> timedelta:
    match = SPAN.fullmatch(text.strip())
    if match is None:
        raise ValidationError(f"expected a span like 30m, 1h or 7d, got {text!r}", option)
    return timedelta(**{SPAN_UNITS[match.group(2)]: int(match.group(1))})


@app.command()
@handle_errors
def put(
    namespace: Namespace,
    metric_name: MetricName,
    value: Annotated[float, typer.Argument(help="The value.", show_default=False)],
    dimension: DimensionOption = None,
    unit: Annotated[str, typer.Option(help="A CloudWatch unit (Count, Seconds...).")] = "None",
    timestamp: Annotated[
        datetime | None, typer.Option(help="When (ISO 8601, UTC); default now.")
    ] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Put one datapoint."""
    if timestamp is not None and timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    stored = Metrics(session(url, token)).put(
        namespace,
        metric_name,
        value,
        dimensions=pairs(dimension or [], "--dimension"),
        unit=unit,
        timestamp=timestamp,
    )
    print_json({"stored": stored}) if json_output else typer.echo(f"stored {stored} datapoint")


@app.command()
@handle_errors
def get(
    namespace: Namespace,
    metric_name: MetricName,
    statistic: Annotated[
        list[str] | None,
        typer.Option(
            "--statistic", "-s", help="Average, Sum, SampleCount, Minimum, Maximum, p99..."
        ),
    ] = None,
    period: Annotated[int, typer.Option(help="Seconds per datapoint.")] = 60,
    since: Annotated[str, typer.Option(help="How far back: 30m, 1h, 7d.")] = "1h",
    dimension: DimensionOption = None,
    unit: Annotated[str | None, typer.Option(help="Only data of this unit.")] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Statistics of a metric per period."""
    statistics = statistic or ["Average"]
    points = Metrics(session(url, token)).statistics(
        namespace,
        metric_name,
        statistics=statistics,
        period=period,
        dimensions=pairs(dimension or [], "--dimension"),
        since=parse_span(since, "--since"),
        unit=unit,
    )
    if json_output:
        print_json(points)
        return
    rows = [{"timestamp": p["timestamp"], **p["values"]} for p in points]
    print_table(rows, ["timestamp", *statistics], title=f"{namespace} {metric_name}")


@app.command("list")
@handle_errors
def list_metrics(
    namespace: Annotated[str | None, typer.Option(help="Only this namespace.")] = None,
    metric_name: Annotated[str | None, typer.Option(help="Only this metric name.")] = None,
    dimension: DimensionOption = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """The metrics (namespace, name, dimensions) that have data."""
    filters: dict[str, str | None] = {}
    for item in dimension or []:
        name, sep, value = item.partition("=")
        filters[name] = value if sep else None
    items = Metrics(session(url, token)).list(namespace, metric_name, filters)
    show_items(items, ("namespace", "metric_name", "dimensions"), "Metrics", json_output)
