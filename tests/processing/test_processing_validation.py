"""Bad CreateProcessingJob requests: each is a 400 naming the field, and nothing is queued.

One server without a worker serves the whole module (a job it accepts stays Pending), with
two small datasets and a prefix of JSON files in its store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from training_testing import Server, assert_refused, running_server, unique

ORDERS = "orders-v"
CUSTOMERS = "customers-v"
JOIN = "SELECT c.region, o.amount FROM orders o JOIN customers c USING (customer_id)"


@dataclass
class Idle(Server):
    source_uri: str = ""


@pytest.fixture(scope="module")
def idle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idle]:
    with running_server(tmp_path_factory.mktemp("idle"), server=Idle) as server:
        for name, text in (
            (ORDERS, "order_id,customer_id,amount\n1,1,9.5\n2,2,3\n"),
            (CUSTOMERS, "customer_id,region\n1,north\n2,south\n"),
        ):
            response = server.post(
                "/api/v1/datasets", data={"name": name}, files={"file": ("t.csv", text.encode())}
            )
            assert response.status_code == 201, response.text
        server.context.store.put_bytes("staging/json/a.json", b"{}")
        uploaded = server.post("/api/v1/uploads", files={"file": ("run.py", b"print(1)\n")})
        server.source_uri = uploaded.json()["uri"]
        yield server


def sql_job(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": unique("bad"),
        "processing_inputs": [
            {"input_name": "orders", "source": ORDERS},
            {"input_name": "customers", "source": CUSTOMERS},
        ],
        "processing_outputs": [{"output_name": "joined"}],
        "sql": JOIN,
    }
    return body | changes


def script_job(uploaded: str, changes: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": unique("bad"),
        "entry_point": "run.py",
        "source_uri": uploaded,
        "processing_outputs": [{"output_name": "out"}],
    }
    return body | changes


SQL_CASES = {
    "both sql and a script": (
        {"entry_point": "run.py", "source_uri": "shipyard://uploads/x/run.py"},
        "sql: give either sql or entry_point",
    ),
    "neither": ({"sql": None}, "sql: required"),
    "a duplicate input name": (
        {
            "processing_inputs": [
                {"input_name": "orders", "source": ORDERS},
                {"input_name": "ORDERS", "source": CUSTOMERS},
            ]
        },
        "processing_inputs.1.input_name:",
    ),
    "a duplicate output name": (
        {"processing_outputs": [{"output_name": "a"}, {"output_name": "a"}], "sql": {"a": JOIN}},
        "processing_outputs.1.output_name:",
    ),
    "an input name that is no identifier": (
        {"processing_inputs": [{"input_name": "my-orders", "source": ORDERS}]},
        "processing_inputs.0.input_name: 'my-orders' is not a valid name",
    ),
    "a missing dataset": (
        {"processing_inputs": [{"input_name": "orders", "source": "no-such-dataset"}]},
        "processing_inputs.0.source: no dataset is called 'no-such-dataset'",
    ),
    "an empty prefix": (
        {"processing_inputs": [{"input_name": "orders", "source": "shipyard://nothing/here"}]},
        "processing_inputs.0.source: shipyard://nothing/here is neither a stored file",
    ),
    "a local path outside the data roots": (
        {"processing_inputs": [{"input_name": "orders", "source": "/etc/hostname"}]},
        "processing_inputs.0.source:",
        "outside the allowed data roots",
    ),
    "a prefix of files that are no tables": (
        {"processing_inputs": [{"input_name": "orders", "source": "shipyard://staging/json"}]},
        "processing_inputs.0.source:",
        "a.json is not a table file",
    ),
    "a syntax error": ({"sql": "SELEC region FROM customers"}, "sql: Parser Error"),
    "an unknown table": (
        {"sql": "SELECT * FROM invoices"},
        "sql: Catalog Error",
        "invoices",
        "the inputs are: orders, customers",
    ),
    "an unknown column": ({"sql": "SELECT price FROM orders"}, "sql: Binder Error", "price"),
    "a type error": ({"sql": "SELECT SUM(region) FROM customers"}, "sql: Binder Error"),
    "a statement that is no SELECT": (
        {"sql": "DELETE FROM orders"},
        "sql: must be a SELECT",
    ),
    "two statements": ({"sql": "SELECT 1 AS a; SELECT 2 AS b"}, "sql: give one SELECT statement"),
    "reading a file the inputs do not name": (
        {"sql": "SELECT * FROM read_csv('/etc/passwd')"},
        "sql: Permission Error",
    ),
    "columns of the same name": (
        {"sql": "SELECT o.customer_id, c.customer_id FROM orders o, customers c"},
        "sql: the result has several columns called 'customer_id'",
    ),
    "a statement for an unknown output": (
        {"sql": {"joined": JOIN, "extra": JOIN}},
        "sql.extra: there is no output called 'extra'",
    ),
    "one statement for two outputs": (
        {"processing_outputs": [{"output_name": "a"}, {"output_name": "b"}]},
        "sql: with 2 outputs, give an object",
    ),
    "no outputs": ({"processing_outputs": []}, "processing_outputs: SQL writes its result"),
    "several instances for SQL": (
        {"resources": {"instance_count": 2}},
        "resources.instance_count: must be 1 for SQL",
    ),
    "arguments for SQL": ({"arguments": ["--x"]}, "arguments: is passed to a script"),
    "a default dataset name too long": (
        {"name": "j" * 60, "processing_outputs": [{"output_name": "joined_table"}]},
        "processing_outputs.0.dataset_name: the default dataset name",
    ),
    "an invalid dataset name": (
        {"processing_outputs": [{"output_name": "joined", "dataset_name": "bad name"}]},
        "processing_outputs.0.dataset_name:",
    ),
    "an unknown field": ({"bogus": 1}, "bogus: Extra inputs are not permitted"),
    "an unknown output format": (
        {"processing_outputs": [{"output_name": "joined", "format": "json"}]},
        "processing_outputs.0.format:",
    ),
}


@pytest.mark.parametrize("case", list(SQL_CASES), ids=list(SQL_CASES))
def test_bad_sql_jobs_are_refused_naming_the_field(idle, case):
    changes, *needles = SQL_CASES[case]
    assert_refused(idle, "processing-jobs", sql_job(**changes), *needles)


SCRIPT_CASES = {
    "no source": ({"source_uri": None}, "source_uri: a script needs its uploaded source"),
    "a missing source": (
        {"source_uri": "shipyard://uploads/missing/run.py"},
        "source_uri: shipyard://uploads/missing/run.py does not exist",
    ),
    "an entry point that is no .py file": ({"entry_point": "run.sh"}, "entry_point: must be"),
    "an entry point outside the source": (
        {"entry_point": "../run.py"},
        "entry_point: must be a relative path",
    ),
    "another file than the uploaded one": (
        {"entry_point": "other.py"},
        "entry_point: the source is the single file 'run.py'",
    ),
    "a reserved variable": (
        {"environment": {"SHIPYARD_INPUT_X": "/tmp"}},
        "environment.SHIPYARD_INPUT_X: SHIPYARD_* variables are set by Shipyard",
    ),
    "a format on a script's output": (
        {"processing_outputs": [{"output_name": "out", "format": "csv"}]},
        "processing_outputs.0.format: is the file format of a SQL result",
    ),
    "an invalid job name": ({"name": "no_underscores"}, "name:"),
}


@pytest.mark.parametrize("case", list(SCRIPT_CASES), ids=list(SCRIPT_CASES))
def test_bad_script_jobs_are_refused_naming_the_field(idle, case):
    changes, *needles = SCRIPT_CASES[case]
    assert_refused(idle, "processing-jobs", script_job(idle.source_uri, changes), *needles)


def test_a_taken_name_is_a_conflict_and_a_pending_job_stops_at_once(idle):
    body = sql_job()
    created = idle.post("/api/v1/processing-jobs", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["processing_outputs"][0]["sha256"] is None
    again = idle.post("/api/v1/processing-jobs", json=body)
    assert again.status_code == 409 and "already exists" in again.json()["error"]["message"]
    stopped = idle.post(f"/api/v1/processing-jobs/{body['name']}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "Stopped"
    assert idle.post(f"/api/v1/processing-jobs/{body['name']}/stop").status_code == 409
    assert idle.get("/api/v1/processing-jobs/no-such-job").status_code == 404
    bad_filter = idle.get("/api/v1/processing-jobs", params={"status": "Sleeping"})
    assert bad_filter.status_code == 400 and "status:" in bad_filter.json()["error"]["message"]
