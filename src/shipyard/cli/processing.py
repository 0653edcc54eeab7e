"""``shipyard processing``: (to be written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Processing jobs: scripts and SQL over datasets.", no_args_is_help=True)
