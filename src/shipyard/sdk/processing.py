"""``ScriptProcessor``, ``SQLProcessor`` and ``ProcessingJob``: prepare data with your own
script or with DuckDB SQL, in the shape of ``sagemaker.processing``.

    processor = SQLProcessor(cpu_count=2)
    job = processor.run(
        "SELECT region, SUM(amount) AS revenue FROM orders GROUP BY region",
        inputs=[ProcessingInput("orders.csv", "orders")],
        outputs=[ProcessingOutput("revenue", dataset_name="revenue")],
    )
    job.outputs()["revenue"]["dataset_name"]  # "revenue", a dataset to train on
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.core.errors import ValidationError
from shipyard.sdk.client import Session
from shipyard.sdk.jobs import FINAL_STATUSES as FINAL_STATUSES  # still importable from here
from shipyard.sdk.jobs import JobResource, upload_directory
from shipyard.sdk.waiting import unique_name

REGISTRATION_SECONDS = 30.0
SCHEME = "shipyard://"


@dataclass(frozen=True)
class ProcessingInput:
    """An input: a local file or DataFrame (uploaded for you), a ``shipyard://`` object or
    prefix, or a dataset name; seen by SQL as the view ``input_name``, by a script in the
    directory ``$SHIPYARD_INPUT_<INPUT_NAME>``."""

    source: Any
    input_name: str
    format: str | None = None


@dataclass(frozen=True)
class ProcessingOutput:
    """An output directory (``$SHIPYARD_OUTPUT_<OUTPUT_NAME>`` for a script); a single
    table in it becomes the dataset ``dataset_name`` (default ``<job>-<output_name>``).
    ``format`` (csv or parquet) is the file format of a SQL result."""

    output_name: str
    dataset_name: str | None = None
    format: str | None = None


class ProcessingJob(JobResource):
    """A processing job on the server, by name."""

    collection = "processing-jobs"
    noun = "processing job"

    def outputs(self) -> dict[str, dict[str, Any]]:
        """Each output's description (uri, sha256, dataset_name...) by output name."""
        return {o["output_name"]: o for o in self.describe()["processing_outputs"]}

    def wait(self, logs: bool = True, timeout: float | None = None) -> dict[str, Any]:
        """Block until the job ends and its tables are registered as datasets; raise
        UnexpectedStatus unless it Completed."""
        return self.wait_for_datasets(super().wait(logs, timeout), REGISTRATION_SECONDS)

    def wait_for_datasets(
        self, description: dict[str, Any], timeout: float = REGISTRATION_SECONDS
    ) -> dict[str, Any]:
        """The description once each output is registered or known not to be (moments
        after the job completed), or as it is after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not all(
            o["dataset_name"] or o["registration_error"] for o in description["processing_outputs"]
        ):
            if time.monotonic() > deadline:
                return description
            time.sleep(0.2)
            description = self.describe()
        return description


class Processor:
    """What every processor shares: the capacity it asks for, its limits, its session.

    ``instance_count`` processes run a script (each with its ``SHIPYARD_INSTANCE_INDEX``);
    SQL runs as one DuckDB process with ``cpu_count`` threads.
    """

    def __init__(
        self,
        *,
        instance_count: int = 1,
        cpu_count: int | None = None,
        memory_limit_mb: int | None = None,
        max_runtime_in_seconds: int = 86400,
        env: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        base_job_name: str | None = None,
        session: Session | None = None,
    ) -> None:
        self.instance_count = instance_count
        self.cpu_count = cpu_count
        self.memory_limit_mb = memory_limit_mb
        self.max_runtime_in_seconds = max_runtime_in_seconds
        self.env = dict(env or {})
        self.tags = dict(tags or {})
        self.base_job_name = base_job_name
        self.session = session or Session()
        self.latest_job: ProcessingJob | None = None

    def _run(
        self,
        request: dict[str, Any],
        inputs: Sequence[ProcessingInput],
        outputs: Sequence[ProcessingOutput],
        *,
        wait: bool,
        logs: bool,
        job_name: str | None,
        default_name: str,
    ) -> ProcessingJob:
        resources: dict[str, Any] = {"instance_count": self.instance_count}
        if self.cpu_count is not None:
            resources["cpu_count"] = self.cpu_count
        if self.memory_limit_mb is not None:
            resources["memory_limit_mb"] = self.memory_limit_mb
        name = job_name or unique_name(self.base_job_name or default_name)
        body = {
            "name": name,
            **request,
            "processing_inputs": [self._input(i) for i in inputs],
            "processing_outputs": [_output(o) for o in outputs],
            "resources": resources,
            "stopping_condition": {"max_runtime_seconds": self.max_runtime_in_seconds},
            "tags": self.tags,
        }
        self.session.post("/api/v1/processing-jobs", json=body)
        self.latest_job = ProcessingJob(name, self.session)
        if wait:
            self.latest_job.wait(logs=logs)
        return self.latest_job

    def _input(self, item: ProcessingInput) -> dict[str, Any]:
        body = {"input_name": item.input_name, "source": self._source(item.source)}
        if item.format is not None:
            body["format"] = item.format
        return body

    def _source(self, value: Any) -> str:
        return upload_source(self.session, value, "inputs")


class ScriptProcessor(Processor):
    """Runs your script: ``run("prepare.py", inputs=[...], outputs=[...])``; with
    ``source_dir`` the directory is uploaded and ``code`` is the script's path in it."""

    def run(
        self,
        code: str,
        inputs: Sequence[ProcessingInput] = (),
        outputs: Sequence[ProcessingOutput] = (),
        *,
        arguments: Sequence[str] | None = None,
        source_dir: str | Path | None = None,
        wait: bool = True,
        logs: bool = True,
        job_name: str | None = None,
    ) -> ProcessingJob:
        entry_point, source_uri = upload_script(self.session, code, source_dir)
        request = {
            "entry_point": entry_point,
            "source_uri": source_uri,
            "arguments": list(arguments or []),
            "environment": self.env,
        }
        return self._run(
            request, inputs, outputs, wait=wait, logs=logs, job_name=job_name,
            default_name=Path(entry_point).stem,
        )  # fmt: skip


class SQLProcessor(Processor):
    """Runs DuckDB SQL over the inputs, each a view named by its ``input_name``: one
    statement for one output, or ``{output_name: statement}`` for several."""

    def run(
        self,
        sql: str | Mapping[str, str],
        inputs: Sequence[ProcessingInput] = (),
        outputs: Sequence[ProcessingOutput] = (),
        *,
        wait: bool = True,
        logs: bool = True,
        job_name: str | None = None,
    ) -> ProcessingJob:
        if self.env:
            raise ValidationError("environment variables are for scripts, not SQL", "env")
        statements = sql if isinstance(sql, str) else dict(sql)
        return self._run(
            {"sql": statements}, inputs, outputs, wait=wait, logs=logs, job_name=job_name,
            default_name="sql",
        )  # fmt: skip


def _output(output: ProcessingOutput) -> dict[str, Any]:
    body: dict[str, Any] = {"output_name": output.output_name}
    if output.dataset_name is not None:
        body["dataset_name"] = output.dataset_name
    if output.format is not None:
        body["format"] = output.format
    return body


def upload_source(session: Session, value: Any, field: str) -> str:
    """What the server is to read for ``value``: a local file or DataFrame is uploaded (its
    ``shipyard://`` URI), anything else (a URI, a dataset name) is passed on."""
    if hasattr(value, "to_parquet"):
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "data.parquet"
            value.to_parquet(path, index=False)
            return session.upload(path)
    if isinstance(value, Path) or (isinstance(value, str) and not value.startswith(SCHEME)):
        path = Path(value).expanduser()
        if path.is_file():
            return session.upload(path)
        if path.is_dir():
            raise ValidationError(
                f"{str(value)!r} is a directory; give its files, or a shipyard:// prefix", field
            )
        if isinstance(value, Path) or "/" in str(value):
            raise ValidationError(f"{str(value)!r} does not exist", field)
    if not isinstance(value, str):
        raise ValidationError("expected a path, a DataFrame, a URI or a dataset name", field)
    return value


def upload_script(session: Session, code: str, source_dir: str | Path | None) -> tuple[str, str]:
    """(entry point, source URI) of a script: a local file, a file in a directory (the
    directory is uploaded as a .tar.gz), a ``shipyard://`` URI of an uploaded .py file, or
    a file in an uploaded source (``source_dir`` its ``shipyard://`` URI)."""
    if isinstance(source_dir, str) and source_dir.startswith(SCHEME):
        return code, source_dir
    if code.startswith(SCHEME):
        return Path(code).name, code
    if source_dir is None:
        path = Path(code).expanduser()
        if not path.is_file():
            raise ValidationError(f"{code!r} does not exist", "code")
        return path.name, session.upload(path)
    source = Path(source_dir).expanduser()
    if not (source / code).is_file():
        raise ValidationError(f"{code!r} is not in {source}", "code")
    return code, upload_directory(session, source)
