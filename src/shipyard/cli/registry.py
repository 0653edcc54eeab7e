"""``shipyard registry``: (to be written)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="The model registry: package groups, model packages, approvals.", no_args_is_help=True
)
