"""``shipyard lineage ENDPOINT|PACKAGE|DATASET``: (to be written)."""

from __future__ import annotations

from typing import Annotated

import typer


def lineage(
    ref: Annotated[str, typer.Argument(help="An endpoint, model package or dataset.")],
) -> None:
    """Print what produced REF (upstream) and what it fed (downstream)."""
    raise typer.Exit(2)
