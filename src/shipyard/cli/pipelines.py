"""``shipyard pipelines``: (to be written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Pipelines: define, run, schedule and watch.", no_args_is_help=True)
