"""``shipyard topics …`` (to be written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Topics: notify people and systems.", no_args_is_help=True)
