"""``shipyard processing`` through its real entry point, and ``ScriptProcessor`` /
``SQLProcessor`` of the SDK, against a live ``shipyard up``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
from cli_testing import assert_one_line_error, shipyard_cli
from training_testing import unique

from shipyard.sdk.client import Session
from shipyard.sdk.processing import (
    ProcessingInput,
    ProcessingOutput,
    ScriptProcessor,
    SQLProcessor,
)
from shipyard.sdk.waiting import UnexpectedStatus

REVENUE = (
    "SELECT c.region, ROUND(SUM(o.amount), 2) AS revenue FROM orders o "
    "JOIN customers c USING (customer_id) GROUP BY c.region ORDER BY c.region"
)


def write_tables(live_server, tables) -> Path:
    """The fixture's tables, copied inside the live server's data root."""
    directory = live_server.home.parent / unique("proc-cli")
    directory.mkdir()
    for path in (tables.orders, tables.customers):
        (directory / path.name).write_bytes(path.read_bytes())
    return directory


def test_sql_job_with_the_cli(live_server, tables):
    env = live_server.env
    directory = write_tables(live_server, tables)
    name, dataset = unique("cli-sql"), unique("cli-revenue")
    created = shipyard_cli(
        "processing", "create",
        "--name", name,
        "--sql", REVENUE,
        "--input", f"orders={directory / 'orders.csv'}",
        "--input", f"customers={directory / 'customers.csv'}",
        "--output", f"by_region={dataset}",
        "--cpu-count", "1",
        "--json",
        env=env,
    )  # fmt: skip
    described = json.loads(created.stdout)
    assert described["status"] == "Completed", described["failure_reason"]
    (output,) = described["processing_outputs"]
    assert output["dataset_name"] == dataset and output["columns"] == ["region", "revenue"]
    assert all(i["uri"].startswith("shipyard://uploads/") for i in described["processing_inputs"])

    listed = json.loads(shipyard_cli("processing", "list", "--json", env=env).stdout)
    assert name in [item["name"] for item in listed]
    table = shipyard_cli("processing", "list", "--status", "Completed", env=env).stdout
    assert name in table
    human = shipyard_cli("processing", "describe", name, env=env).stdout
    assert f"dataset {dataset}" in human and "Completed" in human
    assert "Writing by_region" in shipyard_cli("processing", "logs", name, env=env).stdout
    shown = json.loads(shipyard_cli("datasets", "describe", dataset, "--json", env=env).stdout)
    assert shown["sha256"] == output["table_sha256"]

    finished = shipyard_cli("processing", "stop", name, env=env, expect=1)
    assert "is Completed" in assert_one_line_error(finished, "InvalidState")
    bad = shipyard_cli(
        "processing", "create", "--sql", "SELECT nope FROM orders",
        "--input", f"orders={directory / 'orders.csv'}", "--output", "x", env=env, expect=1,
    )  # fmt: skip
    assert "sql: Binder Error" in assert_one_line_error(bad, "ValidationError")
    neither = shipyard_cli("processing", "create", "--output", "x", env=env, expect=1)
    assert_one_line_error(neither, "ValidationError")


HELPER = "def double(value):\n    return 2 * float(value)\n"
SCRIPT = textwrap.dedent(
    """
    import os
    import sys
    from pathlib import Path

    import pandas as pd
    from helpers import double

    (table,) = Path(os.environ["SHIPYARD_INPUT_ORDERS"]).glob("*.parquet")  # a DataFrame's
    orders = pd.read_parquet(table)
    orders["doubled"] = orders["amount"].map(double)
    out = Path(os.environ["SHIPYARD_OUTPUT_DOUBLED"]) / "doubled.csv"
    orders[["order_id", "doubled"]].to_csv(out, index=False)
    print("factor", sys.argv[1:], flush=True)
    """
)


def test_script_and_sql_processors_of_the_sdk(live_server, tables, tmp_path):
    with Session(url=live_server.url, token=live_server.token) as client:
        run_processors(client, tables, tmp_path)


def run_processors(client: Session, tables, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "helpers.py").write_text(HELPER)
    (source / "double.py").write_text(SCRIPT)
    orders = pd.read_csv(tables.orders)

    processor = ScriptProcessor(cpu_count=1, base_job_name="sdk-double", session=client)
    job = processor.run(
        "double.py",
        inputs=[ProcessingInput(orders, "orders")],
        outputs=[ProcessingOutput("doubled")],
        arguments=["--factor", "2"],
        source_dir=source,
        logs=False,
    )
    assert processor.latest_job is job and job.name.startswith("sdk-double-")
    doubled = job.outputs()["doubled"]
    assert doubled["dataset_name"] == f"{job.name}-doubled" and doubled["rows"] == len(orders)
    log = [line["message"] for line in job.logs()["lines"]]
    assert "factor ['--factor', '2']" in log

    sql = SQLProcessor(session=client)
    summed = sql.run(
        {"total": "SELECT SUM(doubled) AS total, COUNT(*) AS n FROM doubled"},
        inputs=[ProcessingInput(doubled["dataset_name"], "doubled")],
        outputs=[ProcessingOutput("total", format="parquet")],
        logs=False,
    )
    (total,) = summed.describe()["processing_outputs"]
    assert total["format"] == "parquet" and total["columns"] == ["total", "n"]
    assert summed.describe()["processing_inputs"][0]["sha256"] == doubled["table_sha256"]

    failing = SQLProcessor(session=client)
    try:
        failing.run(  # binds over the empty table of the check; fails on the rows
            "SELECT CAST(word AS INTEGER) AS number, n FROM words",
            inputs=[ProcessingInput(pd.DataFrame({"word": ["one", "two"], "n": [1, 2]}), "words")],
            outputs=[ProcessingOutput("boom")],
            logs=False,
        )
    except UnexpectedStatus as exc:
        assert exc.description["status"] == "Failed"
        assert "Conversion Error" in exc.description["failure_reason"]
    else:
        raise AssertionError("a failing statement must fail the job")
