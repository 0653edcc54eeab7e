"""What the commands of the job rooms share: waiting for a job with a progress display,
printing its log, and the ``list`` and ``logs`` commands.

No ``from __future__ import annotations`` here: Typer reads the annotations of the
command built below, and they name a type local to the builder.
"""

import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shipyard.cli.common import (
    JsonOption,
    TokenOption,
    UrlOption,
    console,
    handle_errors,
    session,
    show_items,
)
from shipyard.sdk.jobs import FINAL_STATUSES, JobResource
from shipyard.sdk.waiting import LogFollower

POLL_SECONDS = 0.5
FollowOption = Annotated[
    bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")
]
StatusOption = Annotated[str | None, typer.Option(help="Only jobs in this status.")]


def _secondary_status(description: dict[str, Any]) -> str:
    return description["secondary_status"]


def wait_with_progress(
    job: JobResource,
    *,
    logs: bool,
    quiet: bool,
    shown: Callable[[dict[str, Any]], str] = _secondary_status,
    settle: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    settling: str = "",
) -> dict[str, Any]:
    """Poll ``job`` until it ends, showing ``<name>: <shown(description)>`` (unless
    ``quiet``) and printing its new log lines as they come (with ``logs``); the last
    description, or, for a Completed job with ``settle``, ``settle(description)`` while
    the display says ``settling``."""
    follower = LogFollower(job.logs) if logs else None
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=console, transient=True, disable=quiet,
    ) as progress:  # fmt: skip
        task = progress.add_task(f"{job.name}: Pending", total=None)
        while True:
            description = job.describe()
            progress.update(task, description=f"{job.name}: {shown(description)}")
            if follower is not None:
                follower()
            if description["status"] in FINAL_STATUSES:
                if follower is not None:
                    follower()
                if settle is not None and description["status"] == "Completed":
                    progress.update(task, description=f"{job.name}: {settling}")
                    return settle(description)
                return description
            time.sleep(POLL_SECONDS)


def exit_if_failed_or_stopped(description: dict[str, Any]) -> None:
    """Exit 1 for a job that ended Failed or Stopped."""
    if description["status"] in ("Failed", "Stopped"):
        raise typer.Exit(1)


def print_logs(job: JobResource, *, follow: bool) -> None:
    """Print the job's log so far; with ``follow``, until the job ends."""
    follower = LogFollower(job.logs)
    follower()
    while follow and job.describe()["status"] not in FINAL_STATUSES:
        time.sleep(POLL_SECONDS)
        follower()
    follower()


def add_list_command(
    app: typer.Typer,
    *,
    collection: str,
    columns: Sequence[str],
    summary: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> None:
    """Register ``list [--status S]`` for ``/api/v1/<collection>``: a table of ``columns``
    (of each item's ``summary``, if given), or the items as JSON."""
    title = collection.replace("-", " ")

    @app.command("list", help=f"List {title}, newest first.")
    @handle_errors
    def list_jobs(
        status: StatusOption = None,
        json_output: JsonOption = False,
        url: UrlOption = None,
        token: TokenOption = None,
    ) -> None:
        items = session(url, token).list_all(f"/api/v1/{collection}", status=status)
        rows = None if summary is None else [summary(item) for item in items]
        show_items(items, columns, title.capitalize(), json_output, rows=rows)


def add_logs_command(app: typer.Typer, job: type[JobResource]) -> None:
    """Register ``logs NAME [--follow]``, printing the log of the ``job`` called NAME."""
    Name = Annotated[str, typer.Argument(help=f"{job.noun.capitalize()} name.", show_default=False)]

    @app.command(help=f"Print a {job.noun}'s log.")
    @handle_errors
    def logs(
        name: Name, follow: FollowOption = False, url: UrlOption = None, token: TokenOption = None
    ) -> None:
        print_logs(job(name, session(url, token)), follow=follow)
