"""``shipyard metrics put|get|list`` through the real entry point, and the SDK, on a live server."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from cli_testing import assert_one_line_error, shipyard_cli

from shipyard.sdk.client import Session
from shipyard.sdk.metrics import Metrics


def test_put_get_and_list_with_the_cli(live_server) -> None:
    env = live_server.env
    namespace = f"Cli/{uuid.uuid4().hex[:8]}"
    for value in ("1", "2", "6"):
        shipyard_cli(
            "metrics", "put", namespace, "Depth", value, "--dimension", "Queue=orders",
            "--unit", "Count", env=env,
        )  # fmt: skip
    got = shipyard_cli(
        "metrics", "get", namespace, "Depth", "--statistic", "Average", "--statistic", "Maximum",
        "--period", "3600", "--since", "2h", "--dimension", "Queue=orders", "--json", env=env,
    )  # fmt: skip
    points = json.loads(got.stdout)
    assert sum(p["sample_count"] for p in points) == 3
    assert max(p["values"]["Maximum"] for p in points) == 6
    table = shipyard_cli("metrics", "get", namespace, "Depth", "-d", "Queue=orders", env=env)
    assert "Average" in table.stdout
    listed = json.loads(
        shipyard_cli("metrics", "list", "--namespace", namespace, "--json", env=env).stdout
    )
    assert listed == [
        {"namespace": namespace, "metric_name": "Depth", "dimensions": {"Queue": "orders"}}
    ]
    refused = shipyard_cli("metrics", "put", "Shipyard/Mine", "X", "1", env=env, expect=1)
    assert_one_line_error(refused, "ValidationError", "namespace")
    bad = shipyard_cli("metrics", "get", namespace, "Depth", "--period", "7", env=env, expect=1)
    assert_one_line_error(bad, "ValidationError", "period")
    since = shipyard_cli("metrics", "get", namespace, "Depth", "--since", "soon", env=env, expect=1)
    assert_one_line_error(since, "ValidationError", "--since")


def test_the_sdk(live_server) -> None:
    namespace = f"Sdk/{uuid.uuid4().hex[:8]}"
    with Session(url=live_server.url, token=live_server.token) as session:
        metrics = Metrics(session)
        at = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
        assert metrics.put(namespace, "Loss", 0.5, dimensions={"Run": "a"}, timestamp=at) == 1
        assert (
            metrics.put_data(
                namespace,
                [
                    {
                        "metric_name": "Loss",
                        "dimensions": {"Run": "a"},
                        "values": [0.1, 0.3],
                        "timestamp": at.isoformat(),
                    }
                ],
            )
            == 1
        )
        [point] = metrics.statistics(
            namespace, "Loss", statistics=["SampleCount", "p50"], period=60,
            dimensions={"Run": "a"}, start_time=at, end_time=at + timedelta(minutes=1),
        )  # fmt: skip
        assert point["values"] == {"SampleCount": 3.0, "p50": 0.3}
        [result] = metrics.data(
            [
                {
                    "id": "loss",
                    "metric_stat": {
                        "metric": {
                            "namespace": namespace,
                            "metric_name": "Loss",
                            "dimensions": {"Run": "a"},
                        },
                        "period": 60,
                        "stat": "Maximum",
                    },
                }
            ],
            start_time=at,
            end_time=at + timedelta(minutes=1),
        )
        assert result["values"] == [0.5]
        assert [m["metric_name"] for m in metrics.list(namespace, dimensions={"Run": None})] == [
            "Loss"
        ]
