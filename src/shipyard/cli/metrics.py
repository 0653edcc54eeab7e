"""``shipyard metrics …`` (to be written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Metrics: put datapoints, get statistics.", no_args_is_help=True)
