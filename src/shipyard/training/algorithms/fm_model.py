"""A trained factorization machine as numpy arrays: saved as .npz, scored without torch.

The model file holds `bias` (w0), `linear` (w, one per matrix column) and `pairwise` (V,
one row of `num_factors` per matrix column); the feature space that turns records into
that matrix is the JSON file the manifest's `options["feature_space_file"]` names.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydantic
from scipy import sparse
from scipy.special import expit

from shipyard.training.algorithms.fm_features import FeatureSpace
from shipyard.training.algorithms.model_io import (
    Features,
    LoadedModel,
    ModelManifest,
    as_frame,
    binary_to_two_columns,
)

FEATURE_SPACE_OPTION = "feature_space_file"


@dataclass(frozen=True)
class Factors:
    """The parameters of a second-order factorization machine, float32."""

    bias: float
    linear: np.ndarray
    """(d,): the weight of each matrix column."""
    pairwise: np.ndarray
    """(d, k): the factor vector of each matrix column."""

    def score(self, matrix: sparse.csr_matrix) -> np.ndarray:
        """w0 + Σ w_i x_i + Σ_{i<j} <v_i, v_j> x_i x_j for every row, as float64.

        In O(k · nnz) by the identity Σ_{i<j} <v_i, v_j> x_i x_j =
        ½ Σ_f [(Σ_i v_if x_i)² − Σ_i v_if² x_i²].
        """
        summed = matrix @ self.pairwise
        squares = matrix.multiply(matrix) @ self._pairwise_squared
        pairs = 0.5 * (summed * summed - squares).sum(axis=1, dtype=np.float64)
        return self.bias + (matrix @ self.linear).astype(np.float64) + pairs

    @functools.cached_property
    def _pairwise_squared(self) -> np.ndarray:
        return self.pairwise * self.pairwise

    def save(self, path: Path) -> None:
        np.savez(path, bias=np.float32(self.bias), linear=self.linear, pairwise=self.pairwise)

    @classmethod
    def read(cls, path: Path, dimension: int) -> Factors:
        """Raises ValueError unless `path` holds the arrays of a model `dimension` wide."""
        with np.load(path, allow_pickle=False) as arrays:
            try:
                bias, linear, pairwise = (arrays[k] for k in ("bias", "linear", "pairwise"))
            except KeyError as exc:
                raise ValueError(f"{path.name} lacks the array {exc}") from None
        if bias.shape != () or linear.shape != (dimension,) or pairwise.shape[:-1] != (dimension,):
            raise ValueError(
                f"{path.name} holds arrays of shapes {bias.shape}, {linear.shape}, "
                f"{pairwise.shape}; the feature space is {dimension} wide"
            )
        return cls(float(bias), linear.astype(np.float32), pairwise.astype(np.float32))


class FactorizationMachineModel(LoadedModel):
    """Scores records (one column per input feature) with numpy and scipy alone."""

    def __init__(self, manifest: ModelManifest, space: FeatureSpace, factors: Factors) -> None:
        super().__init__(manifest)
        self.space = space
        self.factors = factors

    def predict(self, features: Features) -> dict[str, list[Any]]:
        """See `LoadedModel.predict`. Ids may be text or numbers; an id not kept in training
        scores as the out-of-vocabulary bucket. A sparse feature is {index: value} or
        "index:value ..." text. Bad records raise ValidationError(field="instances")."""
        raw = self.raw_predict(self.space.encode(as_frame(features), "instances"))
        if self.problem_type == "regression":
            return {"predictions": raw.tolist()}
        assert self._labels is not None
        return {
            "predictions": self._labels[raw.argmax(axis=1)].tolist(),
            "probabilities": raw.tolist(),
        }

    def raw_predict(self, matrix: np.ndarray | sparse.csr_matrix) -> np.ndarray:
        """Class probabilities (n, 2) or values (n,) for a matrix of the feature space."""
        scores = self.factors.score(sparse.csr_matrix(matrix, dtype=np.float32))
        if self.problem_type == "binary_classification":
            return binary_to_two_columns(expit(scores))
        return scores

    def save(self, model_dir: Path) -> None:
        self.factors.save(model_dir / self.manifest.model_file)
        (model_dir / self.manifest.options[FEATURE_SPACE_OPTION]).write_text(
            self.space.model_dump_json()
        )

    @classmethod
    def read(cls, path: Path, manifest: ModelManifest) -> FactorizationMachineModel:
        """The model whose arrays are at `path`; raises ValueError for files it did not write."""
        name = manifest.options.get(FEATURE_SPACE_OPTION)
        if not isinstance(name, str) or Path(name).name != name or name in {"", ".", ".."}:
            raise ValueError(f"options.{FEATURE_SPACE_OPTION} must be a plain file name")
        try:
            space = FeatureSpace.model_validate_json((path.parent / name).read_text())
        except pydantic.ValidationError as exc:
            raise ValueError(f"{name} is not a feature space: {exc.errors()[0]['msg']}") from None
        return cls(manifest, space, Factors.read(path, space.dimension))
