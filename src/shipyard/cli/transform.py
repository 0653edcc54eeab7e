"""``shipyard transform``: (to be written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Batch transform jobs: predictions over files.", no_args_is_help=True)
