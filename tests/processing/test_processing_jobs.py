"""Processing jobs through REST: SQL over datasets into new datasets, with their hashes and
lineage; scripts over files and prefixes, on one instance or several; stopping."""

from __future__ import annotations

import hashlib
import io
import json
import textwrap

import pandas as pd
import pytest
from training_testing import unique

from shipyard.core.artifacts import key_from_uri
from shipyard.core.digests import prefix_sha256
from shipyard.core.names import srn
from shipyard.lineage import service as lineage

REVENUE_SQL = """
    SELECT c.region, COUNT(*) AS orders, ROUND(SUM(o.amount), 2) AS revenue
    FROM orders o JOIN customers c ON o.customer_id = c.customer_id
    GROUP BY c.region ORDER BY c.region;  -- one row per region
"""
BIG_ORDERS_SQL = "SELECT order_id, amount FROM orders WHERE amount > 90 ORDER BY order_id"


def test_sql_joins_two_datasets_into_registered_datasets_with_lineage(processing, tables):
    orders = processing.upload_dataset(unique("orders"), tables.orders)
    customers = processing.upload_dataset(unique("customers"), tables.customers)
    name, revenue = unique("sql-join"), unique("revenue")
    created = processing.create(
        {
            "name": name,
            "processing_inputs": [
                {"input_name": "orders", "source": orders["name"]},
                {"input_name": "customers", "source": customers["name"]},
            ],
            "processing_outputs": [
                {"output_name": "by_region", "dataset_name": revenue},
                {"output_name": "big_orders", "format": "parquet"},
            ],
            "sql": {"by_region": REVENUE_SQL, "big_orders": BIG_ORDERS_SQL},
            "resources": {"cpu_count": 1},
        }
    )
    assert created["status"] == "Pending"
    assert [i["sha256"] for i in created["processing_inputs"]] == [
        orders["sha256"],
        customers["sha256"],
    ]

    done = processing.wait(name)
    assert done["status"] == "Completed", done["failure_reason"]
    for output in done["processing_outputs"]:  # from the job's records, before registering
        assert output["uri"] == f"shipyard://processing-jobs/{name}/output/{output['output_name']}"
        assert output["sha256"] == prefix_sha256(processing.store, key_from_uri(output["uri"]))

    described = processing.wait_for_registration(name)
    by_region, big_orders = described["processing_outputs"]
    assert by_region["dataset_name"] == revenue
    assert big_orders["dataset_name"] == f"{name}-big-orders"
    assert by_region["columns"] == ["region", "orders", "revenue"]
    assert big_orders["format"] == "parquet" and big_orders["columns"] == ["order_id", "amount"]

    dataset = processing.api.get(f"/api/v1/datasets/{revenue}").json()
    stored = processing.store.get_bytes(key_from_uri(dataset["uri"]))
    assert dataset["sha256"] == hashlib.sha256(stored).hexdigest() == by_region["table_sha256"]
    assert dataset["uri"] == by_region["table_uri"]
    assert dataset["columns"] == ["region", "orders", "revenue"]
    assert dataset["size_bytes"] == len(stored)

    expected = (
        pd.read_csv(tables.orders)
        .merge(pd.read_csv(tables.customers), on="customer_id")
        .groupby("region")
        .agg(orders=("order_id", "count"), revenue=("amount", "sum"))
        .reset_index()
    )
    result = pd.read_csv(io.BytesIO(stored))
    assert result["region"].tolist() == expected["region"].tolist()
    assert result["orders"].tolist() == expected["orders"].tolist()
    assert result["revenue"].tolist() == pytest.approx(expected["revenue"].round(2).tolist())
    assert described["final_metrics"]["by_region:rows"] == len(expected)
    big = pd.read_csv(tables.orders).query("amount > 90")
    assert described["final_metrics"]["big_orders:rows"] == len(big) == big_orders["rows"]

    with processing.db.session_scope() as session:
        graph = lineage.walk(session, srn("processing-job", name))
        edges = {(e.source_id, e.target_id, e.relation) for e in graph.edges}
    job = srn("processing-job", name)
    for source in (orders, customers):
        assert (srn("dataset", f"sha256-{source['sha256']}"), job, "ContributedTo") in edges
    produced = srn("dataset", f"sha256-{dataset['sha256']}")
    assert (job, produced, "Produced") in edges
    assert graph.entities[produced].properties["dataset_name"] == revenue


SCRIPT = textwrap.dedent(
    """
    import argparse
    import csv
    import json
    import os
    from pathlib import Path

    parser = argparse.ArgumentParser()
    parser.add_argument("--threshold", type=float)
    parser.add_argument("label")
    args = parser.parse_args()

    orders = Path(os.environ["SHIPYARD_INPUT_ORDERS"])
    notes = Path(os.environ["SHIPYARD_INPUT_NOTES"])
    (table,) = orders.glob("*.csv")
    with table.open() as handle:
        kept = [r for r in csv.DictReader(handle) if float(r["amount"]) > args.threshold]
    out = Path(os.environ["SHIPYARD_OUTPUT_SELECTED"])
    with (out / "selected.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["order_id", "amount"])
        writer.writeheader()
        writer.writerows({"order_id": r["order_id"], "amount": r["amount"]} for r in kept)
    summary = {
        "label": args.label,
        "kept": len(kept),
        "notes": sorted(p.relative_to(notes).as_posix() for p in notes.rglob("*.txt")),
        "job": os.environ["SHIPYARD_PROCESSING_JOB_NAME"],
        "greeting": os.environ["GREETING"],
        "instances": os.environ["SHIPYARD_INSTANCE_COUNT"],
    }
    (Path(os.environ["SHIPYARD_OUTPUT_SUMMARY"]) / "summary.json").write_text(json.dumps(summary))
    print("kept", len(kept), flush=True)
    """
)


def test_script_reads_a_file_and_a_prefix_and_writes_a_table_and_json(processing, tables):
    for relative in ("a.txt", "deeper/b.txt"):
        processing.store.put_bytes(f"staging/notes-1/{relative}", relative.encode())
    name = unique("script")
    processing.create(
        {
            "name": name,
            "entry_point": "select.py",
            "source_uri": processing.upload_file("select.py", SCRIPT.encode()),
            "arguments": ["--threshold", "50", "weekly"],
            "environment": {"GREETING": "hello"},
            "processing_inputs": [
                {"input_name": "orders", "source": str(tables.orders)},
                {"input_name": "notes", "source": "shipyard://staging/notes-1"},
            ],
            "processing_outputs": [{"output_name": "selected"}, {"output_name": "summary"}],
        }
    )
    done = processing.wait(name)
    assert done["status"] == "Completed", done["failure_reason"]
    orders_input, notes_input = done["processing_inputs"]
    assert orders_input["kind"] == "file" and orders_input["uri"] == tables.orders.as_uri()
    assert orders_input["sha256"] == hashlib.sha256(tables.orders.read_bytes()).hexdigest()
    assert notes_input["kind"] == "prefix"
    assert notes_input["sha256"] == prefix_sha256(processing.store, "staging/notes-1")
    assert "kept" in " ".join(processing.log_lines(name))

    described = processing.wait_for_registration(name)
    selected, summary = described["processing_outputs"]
    kept = pd.read_csv(tables.orders).query("amount > 50")
    assert selected["dataset_name"] == f"{name}-selected"
    assert selected["rows"] == len(kept) and selected["columns"] == ["order_id", "amount"]
    assert summary["dataset_name"] is None and summary["table_uri"] is None
    assert "summary.json is not a .csv or .parquet file" in summary["registration_error"]
    stored = processing.store.get_bytes(f"processing-jobs/{name}/output/summary/summary.json")
    assert summary["sha256"] == prefix_sha256(processing.store, key_from_uri(summary["uri"]))
    assert json.loads(stored) == {
        "label": "weekly",
        "kept": len(kept),
        "notes": ["a.txt", "deeper/b.txt"],
        "job": name,
        "greeting": "hello",
        "instances": "1",
    }


INSTANCE_SCRIPT = textwrap.dedent(
    """
    import os
    from pathlib import Path

    index = os.environ["SHIPYARD_INSTANCE_INDEX"]
    count = os.environ["SHIPYARD_INSTANCE_COUNT"]
    out = Path(os.environ["SHIPYARD_OUTPUT_PARTS"])
    (out / f"part-{index}.txt").write_text(f"{index} of {count}")
    print(f"instance {index} done", flush=True)
    """
)


def test_instance_count_two_runs_two_processes_with_their_indexes(processing):
    name = unique("instances")
    processing.create(
        {
            "name": name,
            "entry_point": "parts.py",
            "source_uri": processing.upload_file("parts.py", INSTANCE_SCRIPT.encode()),
            "processing_outputs": [{"output_name": "parts"}],
            "resources": {"instance_count": 2, "cpu_count": 1},
        }
    )
    done = processing.wait(name)
    assert done["status"] == "Completed", done["failure_reason"]
    prefix = f"processing-jobs/{name}/output/parts"
    assert processing.store.list(prefix) == [f"{prefix}/part-0.txt", f"{prefix}/part-1.txt"]
    assert processing.store.get_bytes(f"{prefix}/part-1.txt") == b"1 of 2"
    (parts,) = processing.wait_for_registration(name)["processing_outputs"]
    assert parts["files"] == 2 and "2 files" in parts["registration_error"]
    lines = processing.log_lines(name)
    assert "instance 0 done" in lines and "[algo-2] instance 1 done" in lines


def test_a_failing_script_fails_the_job_and_registers_nothing(processing):
    name = unique("failing")
    processing.create(
        {
            "name": name,
            "entry_point": "fail.py",
            "source_uri": processing.upload_file("fail.py", b"import sys\nsys.exit(3)\n"),
            "processing_outputs": [{"output_name": "never"}],
        }
    )
    done = processing.wait(name)
    assert done["status"] == "Failed"
    assert done["failure_reason"] == "AlgorithmError: fail.py exited with code 3"
    assert done["processing_outputs"][0]["sha256"] is None


def test_stop_a_running_script(processing):
    name = unique("sleepy")
    script = b"import time\nprint('started', flush=True)\ntime.sleep(120)\n"
    processing.create(
        {
            "name": name,
            "entry_point": "sleep.py",
            "source_uri": processing.upload_file("sleep.py", script),
            "processing_outputs": [{"output_name": "never"}],
        }
    )
    deadline_lines = processing.api.wait_for_status(
        f"/api/v1/processing-jobs/{name}", ("InProgress",), 60
    )
    assert deadline_lines["status"] == "InProgress"
    stopped = processing.api.post(f"/api/v1/processing-jobs/{name}/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] in ("Stopping", "Stopped")
    assert processing.wait(name)["status"] == "Stopped"
    again = processing.api.post(f"/api/v1/processing-jobs/{name}/stop")
    assert again.status_code == 409
    listed = processing.api.get("/api/v1/processing-jobs", params={"status": "Stopped"}).json()
    assert name in [item["name"] for item in listed["items"]]
