"""The endpoint page's live state (``/console/endpoints/{name}/live``) over plain HTTP:
the charts it builds from the metrics store, exact for known datapoints; a deployed
endpoint's invocations, errors and instances after real requests; and who may see what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from console_testing import log_in
from fastapi.testclient import TestClient
from serving_testing import breast_cancer, deploy, trained_model

from shipyard.console import endpoint_charts
from shipyard.monitoring.metrics import service as metrics
from shipyard.monitoring.metrics.schemas import MetricDatum
from shipyard.security.service import create_api_key, ensure_user
from shipyard.serving.schemas import VariantStatus

START = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


def context_of(api):
    return api.client.app.state.context


def put(api, variant: str, metric: str, values: list[float], at: datetime, unit: str) -> None:
    datum = MetricDatum(
        metric_name=metric,
        dimensions={"EndpointName": "charted", "VariantName": variant},
        values=values,
        unit=unit,
        timestamp=at,
        storage_resolution=1,
    )
    with context_of(api).db.session_scope() as session:
        metrics.put_platform_metrics(session, metrics.ENDPOINTS_NAMESPACE, [datum])


def client_of(api, actions: list[str], user: str) -> TestClient:
    """A console client signed in as ``user``, allowed only ``actions``."""
    policy = {
        "name": user,
        "statements": [{"effect": "Allow", "actions": actions, "resources": ["*"]}],
    }
    with context_of(api).db.session_scope() as session:
        ensure_user(session, user, [policy])
        key = create_api_key(session, user)
    client = TestClient(api.client.app)
    assert log_in(client, key).status_code == 303
    return client


# ---- the charts, from known datapoints --------------------------------------------------
def test_periods_are_aligned_as_the_store_aligns_its_points() -> None:
    start = START + timedelta(seconds=7, microseconds=5)

    starts = endpoint_charts.period_starts(start, start + timedelta(seconds=30), 10)

    assert starts == [START + timedelta(seconds=s) for s in (0, 10, 20, 30)]


def test_counts_sum_per_period_with_zeros_and_latencies_are_percentiles_in_ms(api) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    at = now - timedelta(minutes=2)
    put(api, "A", "Invocations", [1.0] * 4, at, "Count")
    put(api, "A", "Invocations", [1.0] * 2, at + timedelta(seconds=30), "Count")
    put(api, "B", "Invocations", [1.0], at, "Count")
    put(api, "A", "Invocation4XXErrors", [0.0, 1.0, 1.0, 0.0], at, "Count")
    latencies = [float(us) for us in range(1000, 101_000, 1000)]  # 1 ms .. 100 ms
    put(api, "A", "ModelLatency", latencies, at, "Microseconds")

    with context_of(api).db.session_scope() as session:
        charts = endpoint_charts.endpoint_charts(
            session, "charted", ["A", "B"], now - timedelta(minutes=15), now, 10
        )

    invocations = {t["name"]: t for t in charts["invocations"]["data"]}
    assert sum(invocations["A"]["y"]) == 6 and sum(invocations["B"]["y"]) == 1
    # every 10 s period the range touches (the first and last ones in part), 0 if idle
    assert len(invocations["A"]["x"]) == (90 if now.second % 10 == 0 else 91)
    assert max(invocations["A"]["y"]) == 4
    errors = {t["name"]: sum(t["y"]) for t in charts["errors"]["data"]}
    assert errors == {"A 4XX": 2, "A 5XX": 0, "B 4XX": 0, "B 5XX": 0}
    latency = {t["name"]: t["y"] for t in charts["model-latency"]["data"]}
    # the store's percentiles of raw values are exact (nearest rank)
    assert (latency["A p50"], latency["A p90"], latency["A p99"]) == ([50.0], [90.0], [99.0])
    assert latency["B p50"] == []
    assert not charts["invocations"]["empty"] and charts["overhead-latency"]["empty"]
    assert charts["model-latency"]["layout"]["yaxis"]["title"]["text"] == "model latency (ms)"


def test_a_variant_in_both_configs_of_a_rollout_is_labelled_with_its_config() -> None:
    def status(variant: str, config: str, current: int) -> VariantStatus:
        return VariantStatus(
            variant_name=variant,
            endpoint_config_name=config,
            current_instance_count=current,
            desired_instance_count=2,
            current_weight=0.5,
        )

    rows = endpoint_charts.instance_counts(
        [
            status("AllTraffic", "blue", 2),
            status("AllTraffic", "green", 1),
            status("Shadow", "blue", 1),
        ]
    )

    assert [r["label"] for r in rows] == ["AllTraffic (blue)", "AllTraffic (green)", "Shadow"]
    assert endpoint_charts.counts_of(rows, "AllTraffic", "green")["current_instance_count"] == 1
    assert endpoint_charts.counts_of(rows, "Shadow", "other")["label"] == "Shadow"
    assert endpoint_charts.counts_of(rows, "Missing", "blue") is None


# ---- a deployed endpoint -----------------------------------------------------------------
def test_the_live_state_of_a_deployed_endpoint_after_requests(api, tmp_path) -> None:
    train, validation = breast_cancer(tmp_path / "data")
    model = trained_model(api, train, "xgboost", {"num_round": 5, "max_depth": 2})
    endpoint = deploy(api, [{"model_name": model, "initial_instance_count": 2}])
    rows = validation.drop(columns=["target"]).iloc[:3].to_csv(header=False, index=False)
    for _ in range(5):
        assert api.invoke(endpoint, rows.encode(), "text/csv").status_code == 200
    for _ in range(2):
        assert api.invoke(endpoint, b"not,numbers\n", "text/csv").status_code == 400
    context_of(api).extras["metrics"].flush()
    log_in(api.client, api.token)

    response = api.client.get(f"/console/endpoints/{endpoint}/live")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    state = response.json()
    assert state["endpoint"] == endpoint and state["status"] == "InService"
    assert (state["range"], state["period"]) == ("15m", 10)
    [instances] = state["instances"]
    assert instances["variant_name"] == "AllTraffic"
    assert instances["current_instance_count"] == instances["desired_instance_count"] == 2
    charts = state["charts"]
    assert set(charts) == {"invocations", "model-latency", "overhead-latency", "errors"}
    [invocations] = charts["invocations"]["data"]
    assert sum(invocations["y"]) == 7
    errors = {t["name"]: sum(t["y"]) for t in charts["errors"]["data"]}
    assert errors == {"AllTraffic 4XX": 2, "AllTraffic 5XX": 0}
    latencies = {t["name"]: t["y"] for t in charts["model-latency"]["data"]}
    assert set(latencies) == {"AllTraffic p50", "AllTraffic p90", "AllTraffic p99"}
    assert all(latencies["AllTraffic p50"]) and latencies["AllTraffic p50"]
    hourly = api.client.get(f"/console/endpoints/{endpoint}/live?range=1h").json()
    assert (hourly["range"], hourly["period"]) == ("1h", 60)
    assert sum(hourly["charts"]["invocations"]["data"][0]["y"]) == 7

    page = api.client.get(f"/console/endpoints/{endpoint}")
    assert page.status_code == 200
    assert 'id="instances-AllTraffic"' in page.text and "2 / 2" in page.text
    assert 'id="endpoint-live-data"' in page.text and 'id="invocations-chart"' in page.text

    # a viewer who may describe the endpoint but not read the metrics gets its instances
    describer = client_of(api, ["serving:DescribeEndpoint"], "describer")
    state = describer.get(f"/console/endpoints/{endpoint}/live").json()
    assert state["charts"] is None and state["instances"][0]["current_instance_count"] == 2
    page = describer.get(f"/console/endpoints/{endpoint}")
    assert page.status_code == 200 and 'id="no-metrics-access"' in page.text
    assert 'id="invocations-chart"' not in page.text


def test_the_live_state_is_refused_without_describe_endpoint(api) -> None:
    reader = client_of(api, ["monitoring:*", "serving:ListEndpoints"], "reader")

    refused = reader.get("/console/endpoints/anything/live")

    assert refused.status_code == 403
    assert "reader is not allowed to serving:DescribeEndpoint" in refused.text


def test_an_unknown_range_or_endpoint_is_said(api) -> None:
    log_in(api.client, api.token)

    bad_range = api.client.get("/console/endpoints/anything/live?range=2y")
    assert bad_range.status_code == 400 and "range" in bad_range.text
    assert api.client.get("/console/endpoints/nothing-here/live").status_code == 404


def test_without_a_session_the_live_state_redirects_to_login(api) -> None:
    response = api.client.get("/console/endpoints/anything/live", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login?next=")
