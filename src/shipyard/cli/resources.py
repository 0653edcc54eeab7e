"""The ``list``, ``describe`` and ``delete`` commands every collection shares.

No ``from __future__ import annotations`` here: Typer reads the annotations of the
commands built below, and they name a type local to the builder.
"""

from collections.abc import Sequence
from typing import Annotated

import typer

from shipyard.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    console,
    handle_errors,
    print_json,
    print_record,
    resource_path,
    session,
    show_items,
)


def add_collection_commands(
    app: typer.Typer,
    *,
    collection: str,
    noun: str,
    fields: Sequence[str],
    columns: Sequence[str],
    delete_help: str | None = None,
) -> None:
    """Register ``list``, ``describe NAME`` and ``delete NAME`` for ``/api/v1/<collection>``."""
    Name = Annotated[str, typer.Argument(help=f"{noun.capitalize()} name.", show_default=False)]

    @app.command("list", help=f"List {collection.replace('-', ' ')}, newest first.")
    @handle_errors
    def list_items(
        json_output: JsonOption = False, url: UrlOption = None, token: TokenOption = None
    ) -> None:
        items = session(url, token).list_all(f"/api/v1/{collection}")
        show_items(items, columns, collection.replace("-", " ").capitalize(), json_output)

    @app.command(help=f"Show the {noun} called NAME.")
    @handle_errors
    def describe(
        name: Name,
        json_output: JsonOption = False,
        url: UrlOption = None,
        token: TokenOption = None,
    ) -> None:
        item = session(url, token).get(resource_path(collection, name))
        print_json(item) if json_output else print_record(item, fields)

    @app.command(help=delete_help or f"Delete the {noun} called NAME.")
    @handle_errors
    def delete(name: Name, url: UrlOption = None, token: TokenOption = None) -> None:
        session(url, token).delete(resource_path(collection, name))
        console.print(f"deleted {noun} {name}")
