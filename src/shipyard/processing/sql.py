"""SQL over a processing job's inputs with DuckDB: checked when the job is created, run
in the job.

Each table input is a view named by its input name. A statement is checked by binding it
in a sandbox (no file, network or extension access) against empty tables with the inputs'
columns and types — those DuckDB reads from a sample of each input's first file — so an
unknown table or column, a type error or a statement that is not one SELECT is a 400
before anything runs, and the server never reads a file the statement names. In the job
the same statement reads the views over every file of the inputs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from shipyard.core.errors import ValidationError
from shipyard.data.tables import SNIFF_BYTES

ColumnTypes = list[tuple[str, str]]
NO_EXTENSIONS: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
SANDBOX: dict[str, Any] = {**NO_EXTENSIONS, "enable_external_access": False, "threads": 1}
RESULT_VIEW = "shipyard-result"  # no input is called that: input names have no hyphen
CSV_OPTIONS = "header = true, delim = ',', quote = '\"'"
# DuckDB may take this share of a job's memory_limit_mb before it spills to disk
DUCKDB_MEMORY_SHARE = 0.6


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def column_types(handle: IO[bytes], table_format: str, field: str) -> ColumnTypes:
    """The DuckDB columns and types of a table, from its schema (parquet) or a sample of
    its first rows (csv) — what the view over the whole table will have. A table DuckDB
    cannot read is a ValidationError naming ``field``."""
    try:
        return _column_types(handle, table_format)
    except (duckdb.Error, pa.ArrowException) as exc:
        reason = _reason(exc) if isinstance(exc, duckdb.Error) else str(exc)
        raise ValidationError(f"DuckDB cannot read this table ({reason})", field) from None


def _column_types(handle: IO[bytes], table_format: str) -> ColumnTypes:
    scratch = duckdb.connect(":memory:", config=NO_EXTENSIONS)
    try:
        if table_format == "parquet":
            empty = pq.ParquetFile(handle).schema_arrow.empty_table()
            scratch.register("sample", empty)
            return _describe(scratch, "SELECT * FROM sample")
        head = handle.read(SNIFF_BYTES)
        if len(head) == SNIFF_BYTES and b"\n" in head:
            head = head[: head.rindex(b"\n") + 1]
        with tempfile.NamedTemporaryFile(suffix=".csv") as sample:
            sample.write(head)
            sample.flush()
            return _describe(
                scratch, f"SELECT * FROM read_csv({quote_literal(sample.name)}, {CSV_OPTIONS})"
            )
    finally:
        scratch.close()


def _describe(connection: duckdb.DuckDBPyConnection, query: str) -> ColumnTypes:
    return [
        (str(row[0]), str(row[1])) for row in connection.execute(f"DESCRIBE {query}").fetchall()
    ]


def check_statement(
    statement: str, tables: Mapping[str, ColumnTypes], field: str
) -> tuple[str, list[str]]:
    """The statement without a closing ``;`` or comment, and its result's columns; a
    ValidationError naming ``field`` unless it is one SELECT that binds over ``tables``."""
    sandbox = duckdb.connect(":memory:", config=SANDBOX)
    try:
        for name, typed in tables.items():
            sandbox.execute(f"CREATE TABLE {quote_identifier(name)} ({_column_list(typed)})")
        try:
            statements = sandbox.extract_statements(statement)
        except duckdb.Error as exc:
            raise ValidationError(_reason(exc), field) from None
        if len(statements) != 1:
            raise ValidationError(
                f"give one SELECT statement, not {len(statements)} statements", field
            )
        if statements[0].type != duckdb.StatementType.SELECT:
            raise ValidationError(
                f"must be a SELECT (or WITH … SELECT) statement, not "
                f"{statements[0].type.name}: its result is the output's table",
                field,
            )
        body = statement_body(statements[0].query)
        try:
            columns = list(sandbox.sql(body).columns)
        except duckdb.Error as exc:
            shown = ", ".join(tables) or "none"
            hint = (
                "SQL reads its inputs only, by their input names"
                if isinstance(exc, duckdb.PermissionException)
                else "the inputs are"
            )
            raise ValidationError(f"{_reason(exc)} ({hint}: {shown})", field) from None
    finally:
        sandbox.close()
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise ValidationError(
            f"the result has several columns called {', '.join(map(repr, duplicates))}; "
            "give them distinct names (AS)",
            field,
        )
    return body, columns


def statement_body(statement: str) -> str:
    """``statement`` without what may close it (``;``, comments), so it can be nested in
    ``COPY (…) TO``."""
    tokens = duckdb.tokenize(statement)
    end = len(statement)
    for offset, kind in reversed(tokens):
        if kind == duckdb.token_type.comment or statement[offset] == ";":
            end = offset
            continue
        break
    return statement[:end].rstrip()


def _column_list(columns: ColumnTypes) -> str:
    return ", ".join(f"{quote_identifier(name)} {kind}" for name, kind in columns)


def _reason(exc: duckdb.Error) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return " ".join(lines[:2])[:600] if lines else type(exc).__name__


# ---- in the job --------------------------------------------------------------------
def connect(
    threads: int, memory_limit_mb: int | None, temp_directory: Path
) -> duckdb.DuckDBPyConnection:
    """A connection with the job's CPUs and (a share of) its memory, spilling to disk."""
    config: dict[str, Any] = {
        **NO_EXTENSIONS,
        "threads": threads,
        "temp_directory": str(temp_directory),
    }
    if memory_limit_mb:
        config["memory_limit"] = f"{max(int(memory_limit_mb * DUCKDB_MEMORY_SHARE), 16)}MB"
    return duckdb.connect(":memory:", config=config)


def create_view(
    connection: duckdb.DuckDBPyConnection, name: str, table_format: str, paths: Sequence[Path]
) -> None:
    files = "[" + ", ".join(quote_literal(str(p)) for p in paths) + "]"
    scan = (
        f"read_parquet({files})"
        if table_format == "parquet"
        else f"read_csv({files}, {CSV_OPTIONS})"
    )
    connection.execute(f"CREATE VIEW {quote_identifier(name)} AS SELECT * FROM {scan}")


def write_result(
    connection: duckdb.DuckDBPyConnection, statement: str, path: Path, table_format: str
) -> tuple[int, list[str]]:
    """Run ``statement`` into the file ``path``; the rows written and the columns."""
    relation = connection.sql(statement)
    columns = list(relation.columns)
    relation.create_view(RESULT_VIEW, replace=True)
    options = "FORMAT parquet" if table_format == "parquet" else "FORMAT csv, HEADER"
    written = connection.execute(
        f"COPY {quote_identifier(RESULT_VIEW)} TO {quote_literal(str(path))} ({options})"
    ).fetchone()
    return (int(written[0]) if written else 0), columns
