"""Acceptance: a transform job over 100,000 CSV rows in 4 files writes 4 ``.out`` files of
100,000 predictions in input order, equal to what a real-time endpoint of the same model
answers for the same rows — a LightGBM regressor on 30 features, trained through the API."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from training_testing import unique

from shipyard.core.artifacts import key_from_uri
from shipyard.training.algorithms import load_model

FEATURES = [f"f{i}" for i in range(30)]
FILES = 4
ROWS_PER_FILE = 25_000
SAMPLED_PER_FILE = 100


def rows(rng: np.random.Generator, count: int) -> pd.DataFrame:
    frame = pd.DataFrame(rng.normal(size=(count, len(FEATURES))).round(5), columns=FEATURES)
    return frame


@pytest.fixture(scope="module")
def regressor(served) -> str:
    """A LightGBM regressor of y = a noisy function of f0..f29, served as a model."""
    rng = np.random.default_rng(7)
    train = rows(rng, 3000)
    weights = rng.normal(size=len(FEATURES))
    train["y"] = train.to_numpy() @ weights + np.sin(train["f0"] * 3) + rng.normal(0, 0.1, 3000)
    path = served.root / "regression-train.csv"
    train.to_csv(path, index=False)
    name = unique("bt-lgbm")
    job = {
        "name": name,
        "algorithm": "lightgbm",
        "target": "y",
        "hyperparameters": {"num_iterations": 60, "num_leaves": 15},
        "channels": {"train": str(path)},
    }
    assert served.post("/api/v1/training-jobs", json=job).status_code == 201
    trained = served.wait_for(f"/api/v1/training-jobs/{name}")
    assert trained["status"] == "Completed", trained["failure_reason"]
    made = served.post("/api/v1/models", json={"name": name, "training_job_name": name})
    assert made.status_code == 201, made.text
    return name


def test_100k_rows_in_4_files_match_the_endpoint(served, regressor):
    rng = np.random.default_rng(11)
    store = served.context.store
    prefix = f"staging/{unique('acceptance')}"
    texts = []
    for index in range(FILES):
        part = rows(rng, ROWS_PER_FILE)
        text = part.to_csv(index=False, header=index % 2 == 0)  # two with a header, two without
        store.put_bytes(f"{prefix}/part-{index}.csv", text.encode())
        texts.append(text)

    endpoint = unique("bt-endpoint")
    for path, body in (
        (
            "/api/v1/endpoint-configs",
            {"name": endpoint, "production_variants": [{"model_name": regressor}]},
        ),
        ("/api/v1/endpoints", {"name": endpoint, "endpoint_config_name": endpoint}),
    ):
        response = served.post(path, json=body)
        assert response.status_code == 201, response.text

    done = served.transform(
        {"data_source": f"shipyard://{prefix}"},
        model_name=regressor,
        max_concurrent_transforms=2,
    )
    assert done["records_total"] == done["records_processed"] == FILES * ROWS_PER_FILE
    assert done["records_failed"] == 0
    outputs = done["outputs"]
    assert [o["output_uri"].rsplit("/", 1)[1] for o in outputs] == [
        f"part-{i}.csv.out" for i in range(FILES)
    ]
    assert [o["records"] for o in outputs] == [ROWS_PER_FILE] * FILES
    written = [served.lines(o["output_uri"]) for o in outputs]

    # every row, in input order: the model's own predictions of the file as pandas reads it
    model_dir = store.local_path(key_from_uri(done["model_data_uri"]))
    model = load_model(model_dir)
    for index, text in enumerate(texts):
        frame = pd.read_csv(io.StringIO(text), header=0 if index % 2 == 0 else None)
        frame.columns = FEATURES
        assert written[index] == [str(p) for p in model.predict(frame)["predictions"]]

    # a sample spread over the 4 files, each file's rows in one request: the same answers
    served.wait_for(f"/api/v1/endpoints/{endpoint}", ("InService", "Failed"), timeout=60)
    for index, text in enumerate(texts):
        lines = text.splitlines()[1:] if index % 2 == 0 else text.splitlines()
        sampled = np.sort(rng.choice(ROWS_PER_FILE, SAMPLED_PER_FILE, replace=False))
        body = "".join(lines[i] + "\n" for i in sampled).encode()
        answer = served.post(
            f"/api/v1/endpoints/{endpoint}/invocations",
            content=body,
            headers={"Content-Type": "text/csv", "Accept": "text/csv"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.text.splitlines() == [written[index][i] for i in sampled]
