"""Every check of a CreateProcessingJob, before anything is queued.

The names of inputs and outputs (they become view names and ``SHIPYARD_INPUT_<NAME>``
variables, so they are identifiers, unique ignoring case), the sources (they exist, and
are tables for SQL), the SQL (bound against the inputs' columns) or the script, the
environment and the resources. Each failure is a ValidationError naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from shipyard.core.artifacts import BaseArtifactStore
from shipyard.core.config import Settings
from shipyard.core.errors import AlreadyExists, ValidationError
from shipyard.core.names import validate_name
from shipyard.processing import sql as duck
from shipyard.processing.models import ProcessingJob
from shipyard.processing.schemas import ProcessingJobIn
from shipyard.processing.sources import (
    Source,
    TableSource,
    open_file,
    resolve_source,
    resolve_table_source,
)
from shipyard.training import service as training

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
ENVIRONMENT_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
RESERVED_PREFIX = "SHIPYARD_"
MAX_VALUE_LENGTH = 4096


@dataclass(frozen=True)
class CheckedProcessingJob:
    """A request that passed every check: its inputs resolved (as stored with the job),
    its outputs with their dataset names, its SQL by output (None for a script)."""

    name: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    sql: dict[str, str] | None


def check_processing_job(
    session: Session, settings: Settings, store: BaseArtifactStore, request: ProcessingJobIn
) -> CheckedProcessingJob:
    name = validate_name(request.name)
    if session.get(ProcessingJob, name) is not None:
        raise AlreadyExists(f"processing job '{name}' already exists")
    if request.sql is not None and request.entry_point is not None:
        raise ValidationError("give either sql or entry_point, not both", "sql")
    if request.sql is None and request.entry_point is None:
        raise ValidationError(
            "required: sql (DuckDB over the inputs), or entry_point and source_uri for a script",
            "sql",
        )
    _check_names(
        [i.input_name for i in request.processing_inputs], "processing_inputs", "input_name"
    )
    _check_names(
        [o.output_name for o in request.processing_outputs], "processing_outputs", "output_name"
    )
    outputs = _outputs(name, request)
    sources = [
        resolve_source(session, settings, store, item.source, f"processing_inputs.{i}.source")
        for i, item in enumerate(request.processing_inputs)
    ]
    if request.sql is None:
        training.check_script_source(store, request.entry_point or "", request.source_uri)
        _check_environment(request.environment)
        inputs = [
            _input(item.input_name, item.source, source, None)
            for item, source in zip(request.processing_inputs, sources, strict=True)
        ]
        return CheckedProcessingJob(name, inputs, outputs, None)
    tables = [
        resolve_table_source(session, store, source, item.format, f"processing_inputs.{i}.source")
        for i, (item, source) in enumerate(zip(request.processing_inputs, sources, strict=True))
    ]
    statements = _checked_sql(request, tables, store)
    inputs = [
        _input(item.input_name, item.source, source, table)
        for item, source, table in zip(request.processing_inputs, sources, tables, strict=True)
    ]
    return CheckedProcessingJob(name, inputs, outputs, statements)


def _check_names(names: list[str], collection: str, attribute: str) -> None:
    seen: dict[str, int] = {}
    for index, value in enumerate(names):
        field = f"{collection}.{index}.{attribute}"
        if not IDENTIFIER.fullmatch(value):
            raise ValidationError(
                f"{value!r} is not a valid name; expected letters, digits and '_', not "
                "starting with a digit",
                field,
            )
        folded = value.upper()
        if folded in seen:
            raise ValidationError(
                f"{collection}.{seen[folded]} is called {names[seen[folded]]!r} already "
                "(names are told apart ignoring case)",
                field,
            )
        seen[folded] = index


def _outputs(job_name: str, request: ProcessingJobIn) -> list[dict[str, Any]]:
    """The declared outputs with their dataset names (the default one when unset)."""
    outputs = []
    taken: dict[str, int] = {}
    for index, output in enumerate(request.processing_outputs):
        field = f"processing_outputs.{index}.dataset_name"
        if output.dataset_name is not None:
            dataset_name = validate_name(output.dataset_name, field)
        else:
            dataset_name = f"{job_name}-{output.output_name.replace('_', '-')}"
            try:
                validate_name(dataset_name, field)
            except ValidationError:
                raise ValidationError(
                    f"the default dataset name {dataset_name!r} is not a valid name (1-63 "
                    "letters, digits and hyphens); give one",
                    field,
                ) from None
        if dataset_name in taken:
            raise ValidationError(
                f"processing_outputs.{taken[dataset_name]} is registered as {dataset_name!r}",
                field,
            )
        taken[dataset_name] = index
        if output.format is not None and request.sql is None:
            raise ValidationError(
                "is the file format of a SQL result; a script writes files of its choosing",
                f"processing_outputs.{index}.format",
            )
        outputs.append(
            {
                "output_name": output.output_name,
                "dataset_name": dataset_name,
                "format": output.format or ("csv" if request.sql is not None else None),
            }
        )
    return outputs


def _checked_sql(
    request: ProcessingJobIn, tables: list[TableSource], store: BaseArtifactStore
) -> dict[str, str]:
    """Each output's statement, bound against empty tables typed like the inputs."""
    if request.resources.instance_count > 1:
        raise ValidationError(
            "must be 1 for SQL, which runs as one DuckDB process of cpu_count threads",
            "resources.instance_count",
        )
    for attribute in ("arguments", "environment"):
        if getattr(request, attribute):
            raise ValidationError("is passed to a script (entry_point), not to SQL", attribute)
    outputs = [o.output_name for o in request.processing_outputs]
    if not outputs:
        raise ValidationError(
            "SQL writes its result to an output; declare one", "processing_outputs"
        )
    assert request.sql is not None
    if isinstance(request.sql, str):
        if len(outputs) > 1:
            raise ValidationError(
                f"with {len(outputs)} outputs, give an object of output_name: statement", "sql"
            )
        given, fields = {outputs[0]: request.sql}, {outputs[0]: "sql"}
    else:
        given, fields = dict(request.sql), {key: f"sql.{key}" for key in request.sql}
        for key in given:
            if key not in outputs:
                raise ValidationError(
                    f"there is no output called {key!r}; the outputs are {', '.join(outputs)}",
                    f"sql.{key}",
                )
        for output in outputs:
            if output not in given:
                raise ValidationError(f"no statement for the output {output!r}", "sql")
    typed = {}
    for index, (item, table) in enumerate(zip(request.processing_inputs, tables, strict=True)):
        field = f"processing_inputs.{index}.source"
        with open_file(store, table.files[0], field) as handle:
            typed[item.input_name] = duck.column_types(handle, table.format, field)
    statements = {}
    for output in outputs:
        body, _columns = duck.check_statement(given[output], typed, fields[output])
        statements[output] = body
    return statements


def _check_environment(environment: dict[str, str]) -> None:
    for key, value in environment.items():
        field = f"environment.{key}"
        if not ENVIRONMENT_KEY.fullmatch(key):
            raise ValidationError("names are letters, digits and '_'", field)
        if key.upper().startswith(RESERVED_PREFIX):
            raise ValidationError(f"{RESERVED_PREFIX}* variables are set by Shipyard", field)
        if len(value) > MAX_VALUE_LENGTH or "\x00" in value:
            raise ValidationError(f"values are at most {MAX_VALUE_LENGTH} characters", field)


def _input(input_name: str, raw: str, source: Source, table: TableSource | None) -> dict[str, Any]:
    return {
        "input_name": input_name,
        "source": raw,
        "uri": source.uri,
        "kind": source.kind,
        "sha256": source.sha256,
        "dataset_name": source.dataset_name,
        "files": list(source.files),
        "format": table.format if table else None,
        "columns": table.columns if table else None,
    }
