"""Production variants through REST: two models at 70/30 share 2,000 requests by their
weights (within ±5 points), a request may target a variant, a variant of weight 0 answers
only targeted requests; all-zero weights, and a body over the payload limit, are 4xx
naming the field — the oversized body never reaching a model."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from serving_testing import assert_error, breast_cancer, deploy, trained_model, unique

from shipyard.core.config import Settings
from shipyard.serving.fleet import VariantFleet

VARIANT_HEADER = "X-Shipyard-Variant"
TARGET_HEADER = "X-Shipyard-Target-Variant"
LIMIT = 4096
REQUESTS = 2000


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        data_roots=[tmp_path],
        heartbeat_seconds=0.5,
        load_quickstart=False,
        max_payload_bytes=LIMIT,
    )


def test_variants_share_traffic_by_weight_and_answer_when_targeted(api, tmp_path) -> None:
    train, validation = breast_cancer(tmp_path / "data")
    strong = trained_model(api, train, "xgboost", {"num_round": 20, "max_depth": 3})
    other = trained_model(api, train, "xgboost", {"num_round": 2, "max_depth": 1})
    endpoint = deploy(
        api,
        [
            {"variant_name": "champion", "model_name": strong, "initial_weight": 7},
            {"variant_name": "challenger", "model_name": other, "initial_weight": 3},
            {"variant_name": "dormant", "model_name": other, "initial_weight": 0},
        ],
    )
    described = api.get(f"/api/v1/endpoints/{endpoint}").json()
    assert [v["variant_name"] for v in described["production_variants"]] == [
        "champion",
        "challenger",
        "dormant",
    ]
    row = json.dumps([validation.drop(columns=["target"]).iloc[0].tolist()]).encode()
    path = f"/api/v1/endpoints/{endpoint}/invocations"
    headers = {**api.headers, "Content-Type": "application/json"}

    answered = Counter()
    for _ in range(REQUESTS):
        response = api.client.post(path, content=row, headers=headers)
        assert response.status_code == 200, response.text
        answered[response.headers[VARIANT_HEADER]] += 1
    assert set(answered) == {"champion", "challenger"}
    assert abs(answered["champion"] / REQUESTS - 0.7) <= 0.05, answered
    assert abs(answered["challenger"] / REQUESTS - 0.3) <= 0.05, answered

    for target in ("challenger", "dormant"):
        for _ in range(20):
            response = api.client.post(
                path, content=row, headers={**headers, TARGET_HEADER: target}
            )
            assert response.headers[VARIANT_HEADER] == target
    unknown = api.client.post(path, content=row, headers={**headers, TARGET_HEADER: "nobody"})
    assert_error(unknown, 400, TARGET_HEADER, "nobody")

    zero = api.post(
        "/api/v1/endpoint-configs",
        json={
            "name": unique("config"),
            "production_variants": [
                {"variant_name": "a", "model_name": strong, "initial_weight": 0},
                {"variant_name": "b", "model_name": other, "initial_weight": 0},
            ],
        },
    )
    assert_error(zero, 400, "production_variants", "every initial_weight is 0")


def test_a_body_over_the_limit_never_reaches_the_model(api, tmp_path, monkeypatch) -> None:
    train, validation = breast_cancer(tmp_path / "data")
    model = trained_model(api, train, "xgboost", {"num_round": 5, "max_depth": 2})
    endpoint = deploy(api, [{"model_name": model}])
    sent = []  # the bodies that went to an instance (its process holds the model)
    real_call = VariantFleet.call

    async def counting(self, content_type, accept, body):
        sent.append(len(body))
        return await real_call(self, content_type, accept, body)

    monkeypatch.setattr(VariantFleet, "call", counting)
    path = f"/api/v1/endpoints/{endpoint}/invocations"
    headers = {**api.headers, "Content-Type": "application/json"}
    rows = validation.drop(columns=["target"]).values.tolist()
    small = json.dumps(rows[:2]).encode()
    big = json.dumps(rows * 3).encode()
    assert len(small) < LIMIT < len(big)

    assert api.client.post(path, content=small, headers=headers).status_code == 200
    declared = api.client.post(path, content=big, headers=headers)
    assert_error(declared, 413, "body", f"over the limit of {LIMIT}")
    chunks = (big[i : i + 1000] for i in range(0, len(big), 1000))
    streamed = api.client.post(path, content=chunks, headers=headers)  # no Content-Length
    assert_error(streamed, 413, "body", str(LIMIT))
    assert sent == [len(small)]
