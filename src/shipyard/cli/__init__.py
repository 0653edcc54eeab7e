"""The ``shipyard`` command: a Typer module per room, built on the SDK."""
