"""What every command shares: the SDK session, output as a table or JSON, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from shipyard.core.errors import ShipyardError, ValidationError
from shipyard.core.names import validate_name
from shipyard.sdk.client import Session

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
UrlOption = Annotated[
    str | None, typer.Option("--url", envvar="SHIPYARD_URL", help="Server URL.", show_envvar=True)
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="SHIPYARD_TOKEN", help="API key.", show_envvar=True),
]

console = Console()
errors = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


_open_sessions: list[Session] = []


def session(url: str | None, token: str | None) -> Session:
    """The SDK session of one command; ``handle_errors`` closes it when the command ends."""
    client = Session(url=url, token=token)
    _open_sessions.append(client)
    return client


def handle_errors(function: F) -> F:
    """Turn Shipyard errors (and unreadable local files) into one line on stderr, exit code 1."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ShipyardError as exc:
            print_error(exc.code, exc.message)
            raise typer.Exit(1) from None
        except OSError as exc:  # a local file named on the command line
            where = f"{exc.filename}: " if exc.filename else ""
            print_error(type(exc).__name__, f"{where}{exc.strerror or exc}")
            raise typer.Exit(1) from None
        finally:
            while _open_sessions:
                _open_sessions.pop().close()

    return wrapper  # type: ignore[return-value]


def print_error(code: str, message: str) -> None:
    """``error (Code): message`` on one line: never wrapped, the message never read as markup."""
    line = Text.assemble(("error", "red"), f" ({code}): ", " ".join(message.split()))
    errors.print(line, soft_wrap=True, highlight=False)


def resource_path(collection: str, name: str, *verbs: str) -> str:
    """``/api/v1/<collection>/<name>[/<verb>...]`` for a valid ``name`` (never ``../x``)."""
    return "/".join(("/api/v1", collection, validate_name(name), *verbs))


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str | None = None
) -> None:
    """A table; the first column (the name) is never cut, so it can be copied."""
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    table = Table(title=title)
    for index, column in enumerate(columns):
        if index == 0:
            widest = max((len(line[0]) for line in cells), default=0)
            table.add_column(column, no_wrap=True, min_width=max(widest, len(column)))
        else:
            table.add_column(column, overflow="fold")
    for line in cells:
        table.add_row(*line)
    console.print(table)


def show_items(
    items: Sequence[dict[str, Any]],
    columns: Sequence[str],
    title: str,
    json_output: bool,
    rows: Sequence[dict[str, Any]] | None = None,
) -> None:
    """A list command's output: the items as JSON, or a table of them (of `rows`, when the
    table shows the items summarised)."""
    if json_output:
        print_json(items)
    else:
        print_table(items if rows is None else rows, columns, title=title)


def print_record(record: dict[str, Any], fields: Sequence[str]) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for field in fields:
        table.add_row(field, _cell(record.get(field)))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def pairs(values: list[str], option: str) -> dict[str, str]:
    """``["a=1", "b=x"]`` from a repeatable option -> ``{"a": "1", "b": "x"}``."""
    pairs = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key:
            raise ValidationError(f"expected KEY=VALUE, got {value!r}", option)
        pairs[key] = item
    return pairs


def parse_value(text: str) -> Any:
    """A command-line value as JSON when it reads as JSON (``5``, ``true``), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
