"""What runs inside a processing job's process: fetch the inputs, run the SQL or the
script, upload each output directory and report it.

A script runs as ``instance_count`` child processes (each knows its index from
``SHIPYARD_INSTANCE_INDEX``) that see every input's directory as ``SHIPYARD_INPUT_<NAME>``
and write into ``SHIPYARD_OUTPUT_<NAME>``. Each output is then stored under
``processing-jobs/<job>/output/<output_name>/`` and reported by a ``processing-output``
record: its prefix, its directory hash (what :func:`shipyard.core.digests.prefix_sha256`
gives for the stored prefix), and, for a single csv or parquet file, that table's format,
columns, rows and hash.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from shipyard.compute.child import die_with_parent
from shipyard.compute.events import emit_metric, emit_record, emit_status
from shipyard.core.artifacts import (
    BaseArtifactStore,
    LocalArtifactStore,
    check_key,
    key_from_uri,
    open_store,
    uri_for,
)
from shipyard.core.digests import file_sha256, prefix_sha256
from shipyard.core.errors import ValidationError
from shipyard.data.tables import SUFFIX_FORMATS, columns_of
from shipyard.training.distributed import RankFailed, describe_exit, run_ranks
from shipyard.training.runtime import fetch_script, materialize, python_path_with

INSTANCE_LAUNCHER = "shipyard.processing.instance"


def main(payload: dict[str, Any]) -> None:
    workdir = Path.cwd()
    store = open_store(payload["store"]["uri"], payload["store"].get("endpoint_url"))
    emit_status("Downloading")
    inputs = {
        item["input_name"]: fetch_input(item, store, workdir / "input" / item["input_name"])
        for item in payload["inputs"]
    }
    staging = workdir / "output"
    outputs = {}
    for output in payload["outputs"]:
        outputs[output["output_name"]] = staging / output["output_name"]
        outputs[output["output_name"]].mkdir(parents=True)
    emit_status("Processing")
    results: dict[str, tuple[int, list[str]]] = {}
    if payload["sql"] is not None:
        results = run_sql(payload, inputs, outputs, workdir)
    else:
        run_script(payload, store, inputs, outputs, workdir)
    emit_status("Uploading")
    for output in payload["outputs"]:
        name = output["output_name"]
        report_output(output, staging, store, results.get(name))


def fetch_input(item: dict[str, Any], store: BaseArtifactStore, directory: Path) -> list[Path]:
    """Make the input's files available below ``directory``; their local paths, in order."""
    if item["kind"] == "file":
        return [materialize(item["uri"], store, directory)]
    prefix = key_from_uri(item["uri"])
    paths = []
    for uri in item["files"]:
        key = key_from_uri(uri)
        target = directory / key.removeprefix(prefix).lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        local = store.local_path(key)
        if local is not None:
            target.symlink_to(local)
        else:
            store.get_file(key, target)
        paths.append(target)
    directory.mkdir(parents=True, exist_ok=True)
    return paths


def run_sql(
    payload: dict[str, Any],
    inputs: dict[str, list[Path]],
    outputs: dict[str, Path],
    workdir: Path,
) -> dict[str, tuple[int, list[str]]]:
    """Each output's statement into its one table file; the rows written and the columns,
    by output."""
    from shipyard.processing import sql as duck

    threads = payload.get("cpu_count") or len(os.sched_getaffinity(0))
    spill = workdir / "duckdb-spill"
    spill.mkdir()
    connection = duck.connect(threads, payload.get("memory_limit_mb"), spill)
    formats = {item["input_name"]: item["format"] for item in payload["inputs"]}
    for name, paths in inputs.items():
        duck.create_view(connection, name, formats[name], paths)
    results = {}
    for output in payload["outputs"]:
        name, table_format = output["output_name"], output["format"]
        print(f"Writing {name} ({table_format})", flush=True)
        path = outputs[name] / f"{name}.{table_format}"
        results[name] = duck.write_result(connection, payload["sql"][name], path, table_format)
    connection.close()
    return results


def run_script(
    payload: dict[str, Any],
    store: BaseArtifactStore,
    inputs: dict[str, list[Path]],
    outputs: dict[str, Path],
    workdir: Path,
) -> None:
    code_dir, entry = fetch_script(store, payload["source_uri"], payload["entry_point"], workdir)
    count = payload.get("instance_count", 1)
    env = dict(os.environ) | payload["environment"]
    env |= script_environment(payload, workdir, outputs, count)
    env["PYTHONPATH"] = python_path_with(code_dir, env)
    print(f"Running {payload['entry_point']} on {count} instance(s)", flush=True)
    if count > 1:  # the launcher turns each rank into SHIPYARD_INSTANCE_INDEX
        argv = [sys.executable, "-m", INSTANCE_LAUNCHER, str(entry), *payload["arguments"]]
        run_ranks(argv, env, str(code_dir), count, payload.get("cpu_count"))
        return
    env["SHIPYARD_INSTANCE_INDEX"] = "0"
    parent = os.getpid()
    completed = subprocess.run(
        [sys.executable, str(entry), *payload["arguments"]],
        cwd=code_dir,
        env=env,
        preexec_fn=lambda: die_with_parent(parent),
    )
    if completed.returncode != 0:
        raise RankFailed(  # its message is the job's failure reason
            f"AlgorithmError: {payload['entry_point']} exited with code "
            f"{describe_exit(completed.returncode)}"
        )


def script_environment(
    payload: dict[str, Any], workdir: Path, outputs: dict[str, Path], count: int
) -> dict[str, str]:
    input_dirs = {
        item["input_name"]: workdir / "input" / item["input_name"] for item in payload["inputs"]
    }
    env = {
        "SHIPYARD_PROCESSING_JOB_NAME": payload["name"],
        "SHIPYARD_INSTANCE_COUNT": str(count),
        "SHIPYARD_INPUTS": json.dumps({k: str(v) for k, v in input_dirs.items()}),
        "SHIPYARD_OUTPUTS": json.dumps({k: str(v) for k, v in outputs.items()}),
        "SHIPYARD_NUM_CPUS": str(payload.get("cpu_count") or len(os.sched_getaffinity(0))),
    }
    for name, path in input_dirs.items():
        env[f"SHIPYARD_INPUT_{name.upper()}"] = str(path)
    for name, path in outputs.items():
        env[f"SHIPYARD_OUTPUT_{name.upper()}"] = str(path)
    return env


def report_output(
    output: dict[str, Any],
    staging: Path,
    store: BaseArtifactStore,
    result: tuple[int, list[str]] | None,
) -> None:
    """Store one output directory and emit its record (and its rows, for a table)."""
    name, prefix = output["output_name"], output["prefix"]
    directory = staging / name
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    for path in files:
        relative = path.relative_to(directory).as_posix()
        try:
            check_key(relative)
        except ValidationError:
            raise ValidationError(
                f"output {name!r} holds {relative!r}, which cannot be stored: file names are "
                "letters, digits and ._=- (not starting with . or -)"
            ) from None
    # the hash of the stored prefix, from the same keys read locally
    sha256 = prefix_sha256(LocalArtifactStore(staging), name)
    store.delete_prefix(prefix)  # nothing of an earlier attempt may linger
    store.put_directory(prefix, directory)
    record: dict[str, Any] = {
        "output_name": name,
        "key": prefix,
        "uri": uri_for(prefix),
        "sha256": sha256,
        "size_bytes": sum(p.stat().st_size for p in files),
        "files": len(files),
        "table": None,
    }
    table, reason = describe_table(files, directory, prefix, result)
    if table is not None:
        record["table"] = table
        emit_metric(f"{name}:rows", table["rows"])
        print(f"{name}: a {table['format']} table of {table['rows']} rows", flush=True)
    else:
        record["not_a_table"] = reason
        print(f"{name}: {len(files)} file(s)", flush=True)
    emit_record("processing-output", record)


def describe_table(
    files: list[Path], directory: Path, prefix: str, result: tuple[int, list[str]] | None
) -> tuple[dict[str, Any] | None, str]:
    """The output's single table, or None and why it is not one; ``result`` is the rows
    and columns of a SQL result, which is a table whatever its shape."""
    if len(files) != 1:
        return None, f"it holds {len(files)} files, not one table"
    path = files[0]
    table_format = SUFFIX_FORMATS.get(path.suffix.lower())
    if table_format not in ("csv", "parquet"):
        return None, f"{path.name} is not a .csv or .parquet file"
    if result is not None:
        rows, columns = result
    else:
        try:
            with path.open("rb") as handle:
                columns = columns_of(handle, table_format, "output")
        except ValidationError as exc:
            return None, exc.message.removeprefix("output: ")
        rows = count_rows(path, table_format)
    key = f"{prefix}/{path.relative_to(directory).as_posix()}"
    return {
        "key": key,
        "uri": uri_for(key),
        "format": table_format,
        "columns": columns,
        "sha256": file_sha256(path),
        "size_bytes": path.stat().st_size,
        "rows": rows,
    }, ""


def count_rows(path: Path, table_format: str) -> int:
    if table_format == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    import pyarrow.csv as pacsv

    rows = 0
    for batch in pacsv.open_csv(path):
        rows += batch.num_rows
    return rows
