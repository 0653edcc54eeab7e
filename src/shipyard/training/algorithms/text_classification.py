"""Text classification, binary or multiclass: documents become features, then a logistic
regression learns the classes. Two featurizers, picked by the hyperparameter `embedding`:

    tfidf   word n-gram TF-IDF learned from the train channel (scikit-learn); the vectorizer
            and the classifier are saved together, one skops pipeline from documents onwards
    minilm  all-MiniLM-L6-v2 sentence embeddings (the `shipyard[embeddings]` extra); only the
            classifier is saved, the manifest names the embedding model, and loading takes
            its weights from the installed package
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import sklearn
import skops.io
from pydantic import Field, field_validator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from shipyard.core.errors import ValidationError
from shipyard.training.algorithms import embeddings
from shipyard.training.algorithms.base import BaseAlgorithm, Emitted, MetricLogger, StopCheck
from shipyard.training.algorithms.dataset import (
    ProblemType,
    encode_classes,
    require_target,
    shorten_names,
    target_values,
)
from shipyard.training.algorithms.hyperparameters import HyperparameterSchema
from shipyard.training.algorithms.metrics import CLASSIFIER_METRICS, classification_metrics
from shipyard.training.algorithms.model_io import (
    Features,
    LoadedModel,
    ModelManifest,
    as_frame,
)
from shipyard.training.algorithms.scikit_learn import load_trusted

TEXT_FIELD = "hyperparameters.text_column"


class TextClassificationHyperparameters(HyperparameterSchema):
    """`text_column` holds the documents. `word_ngrams`, `max_features`, `min_df` and
    `sublinear_tf` shape the TF-IDF features, `mini_batch_size` the MiniLM embedding; `C`,
    `class_weight` and `max_iter` are the logistic regression's."""

    text_column: str = Field("text", min_length=1)
    embedding: Literal["tfidf", "minilm"] = "tfidf"
    word_ngrams: int = Field(2, ge=1, le=5)
    max_features: Annotated[int, Field(ge=1)] | None = 50_000
    min_df: int = Field(1, ge=1)
    sublinear_tf: bool = True
    C: float = Field(1.0, gt=0)
    class_weight: Literal["balanced"] | None = None
    max_iter: int = Field(1000, ge=1, le=100_000)
    mini_batch_size: int = Field(64, ge=1, le=4096)

    @field_validator("embedding")
    @classmethod
    def _extra_installed(cls, value: str) -> str:
        if value == "minilm":
            embeddings.require_embeddings()
        return value


@dataclass(frozen=True)
class TextData:
    """The documents of each channel and their class codes 0..k-1 into `classes`."""

    problem_type: ProblemType
    target: str
    classes: list[Any]
    documents_train: list[str]
    y_train: np.ndarray
    documents_validation: list[str] | None = None
    y_validation: np.ndarray | None = None


def prepare_text_data(
    train: pd.DataFrame, validation: pd.DataFrame | None, target: str | None, text_column: str
) -> TextData:
    """Check the channels: a target with at least 2 classes, and a text column of strings.

    Raises ValidationError naming `target`, `channels.*` or `hyperparameters.text_column`.
    """
    if len(train) == 0:
        raise ValidationError("channel 'train' has no rows", field="channels.train")
    target = require_target(train, validation, target)
    frames = {"train": train} if validation is None else {"train": train, "validation": validation}
    _check_text_column(text_column, target, {name: f.columns for name, f in frames.items()})
    documents_train = _documents(train, text_column, "train")
    documents_validation = None
    if validation is not None:
        documents_validation = _documents(validation, text_column, "validation")
    y_train = target_values(train, target, "train")
    y_validation = None if validation is None else target_values(validation, target, "validation")
    problem_type: ProblemType = (
        "binary_classification" if y_train.nunique() == 2 else "multiclass_classification"
    )
    classes, codes_train, codes_validation = encode_classes(
        y_train, y_validation, target, problem_type, requested_by="target"
    )
    return TextData(
        problem_type,
        target,
        classes,
        documents_train,
        codes_train,
        documents_validation,
        codes_validation,
    )


def documents_to_predict(features: pd.DataFrame, text_column: str) -> np.ndarray:
    """The documents of a request: its column `text_column` (other columns are ignored, as in
    training), or its only column when that is positional (a list of strings, a CSV without
    header). Raises ValidationError(field="instances")."""
    columns = features.columns.tolist()
    if text_column in columns:
        documents = features[text_column].tolist()
    elif len(columns) == 1 and isinstance(columns[0], int | np.integer):
        documents = features[columns[0]].tolist()
    else:
        raise ValidationError(
            f"expected records with the text column '{text_column}', or a list of strings; "
            f"got columns {shorten_names([str(c) for c in columns])}",
            field="instances",
        )
    for row, document in enumerate(documents):
        if not isinstance(document, str):
            raise ValidationError(
                f"instance {row} has {type(document).__name__} {document!r} where a text "
                "is expected",
                field="instances",
            )
    return np.array(documents, dtype=object)


class TextClassificationModel(LoadedModel):
    """Class probabilities of each document, from a pipeline that starts at the documents."""

    def __init__(self, manifest: ModelManifest, pipeline: Pipeline) -> None:
        super().__init__(manifest)
        self.pipeline = pipeline
        self.text_column: str = manifest.options["text_column"]

    def model_input(self, features: Features) -> np.ndarray:
        return documents_to_predict(as_frame(features), self.text_column)

    def raw_predict(self, matrix: np.ndarray) -> np.ndarray:
        """`matrix` holds the documents, one per row."""
        probabilities: np.ndarray = self.pipeline.predict_proba(matrix)
        return probabilities


class TextClassificationAlgorithm(BaseAlgorithm):
    """TF-IDF or MiniLM features, then LogisticRegression; final metrics as for classifiers."""

    name = "text-classification"
    hyperparameters_schema = TextClassificationHyperparameters
    model_format = "skops"
    model_file = "model.skops"
    library = "scikit-learn"
    library_version = sklearn.__version__
    trusted_types: frozenset[str] = frozenset()
    """Types skops may not trust by default that the saved pipelines contain: none."""

    def fit(
        self,
        train: pd.DataFrame,
        validation: pd.DataFrame | None,
        target: str | None,
        hyperparameters: Mapping[str, Any],
        model_dir: Path,
        log_metric: MetricLogger,
        cpu_count: int | None = None,
        should_stop: StopCheck | None = None,
    ) -> dict[str, float]:
        """`target` holds the labels and `text_column` the documents; other columns are
        ignored. One pass, so `should_stop` is never asked. See `BaseAlgorithm.fit`."""
        params = self.hyperparameters_schema.parse(hyperparameters)
        data = prepare_text_data(train, validation, target, params.text_column)
        featurizer = _featurizer(params, cpu_count)
        classifier = LogisticRegression(
            C=params.C, class_weight=params.class_weight, max_iter=params.max_iter
        )
        # BLAS and OpenMP pools of scikit-learn ignore n_jobs; cap them too
        with threadpool_limits(cpu_count) if cpu_count else nullcontext():
            x_train = _learn_features(featurizer, data.documents_train, params)
            classifier.fit(x_train, data.y_train)
            metrics = classification_metrics(
                "train", data.y_train, classifier.predict_proba(x_train), data.problem_type
            )
            if data.documents_validation is not None and data.y_validation is not None:
                x_validation = featurizer.transform(data.documents_validation)
                probabilities = classifier.predict_proba(x_validation)
                metrics |= classification_metrics(
                    "validation", data.y_validation, probabilities, data.problem_type
                )
        model_dir.mkdir(parents=True, exist_ok=True)
        saved = classifier if params.embedding == "minilm" else _pipeline(featurizer, classifier)
        skops.io.dump(saved, model_dir / self.model_file)
        self._manifest(data, params).write(model_dir)
        for name, value in metrics.items():
            log_metric(name, value, None)
        return metrics

    def emitted_metrics(
        self, hyperparameters: Mapping[str, Any], channels: Iterable[str]
    ) -> Emitted:
        scored = ["train", *(["validation"] if "validation" in set(channels) else [])]
        return Emitted(f"{channel}:{metric}" for channel in scored for metric in CLASSIFIER_METRICS)

    def check_columns(
        self,
        hyperparameters: Mapping[str, Any],
        target: str | None,
        columns: Mapping[str, Sequence[str]],
    ) -> None:
        """The text column is in every channel and is not the target."""
        params = self.hyperparameters_schema.parse(hyperparameters)
        _check_text_column(params.text_column, target, columns)

    def read_model(self, path: Path, manifest: ModelManifest) -> TextClassificationModel:
        """Raises ValueError, too, for a MiniLM model where the embedding model installed here
        is missing or another; the encoder is loaded now, not on the first request."""
        saved = load_trusted(path, self.trusted_types)
        if manifest.options.get("embedding") == "minilm":
            embeddings.check_model_identity(manifest.options)
            embeddings.sentence_encoder()
            saved = _pipeline(embeddings.SentenceEmbeddings(), saved)
        return TextClassificationModel(manifest, saved)

    def _manifest(self, data: TextData, params: TextClassificationHyperparameters) -> ModelManifest:
        options: dict[str, Any] = {"text_column": params.text_column, "embedding": params.embedding}
        if params.embedding == "minilm":
            options |= embeddings.model_identity()
        return ModelManifest(
            algorithm=self.name,
            problem_type=data.problem_type,
            target=data.target,
            feature_names=[params.text_column],
            classes=data.classes,
            model_file=self.model_file,
            format=self.model_format,
            library=self.library,
            library_version=self.library_version,
            hyperparameters=params.to_dict(),
            options=options,
        )


def _check_text_column(
    text_column: str, target: str | None, columns: Mapping[str, Sequence[str]]
) -> None:
    if text_column == target:
        raise ValidationError(
            f"names the target column '{target}'; it must name the column of documents",
            field=TEXT_FIELD,
        )
    for channel, names in columns.items():
        if text_column not in names:
            raise ValidationError(
                f"text column '{text_column}' not found in channel '{channel}'; "
                f"columns are: {shorten_names([str(name) for name in names])}",
                field=TEXT_FIELD,
            )


def _documents(frame: pd.DataFrame, text_column: str, channel: str) -> list[str]:
    """Every row's document: a string, possibly blank, but not all of them blank."""
    values = frame[text_column]
    documents = values.tolist()
    absent = values.isna().tolist()
    if all(
        na or (isinstance(d, str) and not d.strip())
        for d, na in zip(documents, absent, strict=True)
    ):
        raise ValidationError(
            f"column '{text_column}' is empty in channel '{channel}': no row has any text",
            field=TEXT_FIELD,
        )
    missing = sum(absent)
    if missing:
        raise ValidationError(
            f"column '{text_column}' has no value in {missing} of {len(values)} rows of channel "
            f"'{channel}'",
            field=TEXT_FIELD,
        )
    kinds = sorted({type(d).__name__ for d in documents if not isinstance(d, str)})
    if kinds:
        raise ValidationError(
            f"column '{text_column}' holds {', '.join(kinds)} values in channel '{channel}', "
            "not text",
            field=TEXT_FIELD,
        )
    return documents


def _featurizer(
    params: TextClassificationHyperparameters, cpu_count: int | None
) -> TfidfVectorizer | embeddings.SentenceEmbeddings:
    if params.embedding == "minilm":
        return embeddings.SentenceEmbeddings(params.mini_batch_size, cpu_count)
    return TfidfVectorizer(
        ngram_range=(1, params.word_ngrams),
        max_features=params.max_features,
        min_df=params.min_df,
        sublinear_tf=params.sublinear_tf,
    )


def _learn_features(
    featurizer: TfidfVectorizer | embeddings.SentenceEmbeddings,
    documents: list[str],
    params: TextClassificationHyperparameters,
) -> Any:
    """The train channel's features; TF-IDF learns its vocabulary from them."""
    if params.embedding == "minilm":
        return featurizer.fit_transform(documents)
    try:
        return featurizer.fit_transform(documents)
    except ValueError:  # scikit-learn: "empty vocabulary", or "no terms remain" after min_df
        if params.min_df > 1:
            raise ValidationError(
                f"is {params.min_df}, and no word is in that many documents of channel 'train'",
                field="hyperparameters.min_df",
            ) from None
        raise ValidationError(
            "the documents of channel 'train' hold no words", field=TEXT_FIELD
        ) from None


def _pipeline(featurizer: Any, classifier: LogisticRegression) -> Pipeline:
    return Pipeline([("features", featurizer), ("classifier", classifier)])
