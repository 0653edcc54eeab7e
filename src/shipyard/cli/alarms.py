"""``shipyard alarms …`` (to be written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Alarms: watch metrics and act.", no_args_is_help=True)
