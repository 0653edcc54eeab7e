"""Minibatch training of a factorization machine with PyTorch, the one module that needs it.

Imported only when a model is trained (PyTorch is the optional extra `shipyard[torch]`).
The parameters are a table of d rows [w_i | v_i] and the bias w0. A minibatch gathers only
the rows its nonzeros use (`embedding` with sparse gradients, Adam or Adagrad updating
those rows alone), so a step costs O(k · nnz) whatever d is: hundreds of thousands of
one-hot columns train as fast as ten.

The objective is the mean over rows of the loss (logistic for binary classifiers, squared
error on the standardised target for regressors) plus, SGD-style, the L2 penalty of the
parameters each row uses: bias_wd · w0² + linear_wd · Σ w_i² + factors_wd · Σ |v_i|² over
the row's nonzeros, so a frequent id is held back in proportion to its use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from scipy import sparse

from shipyard.training.algorithms.fm_model import Factors

if TYPE_CHECKING:
    from shipyard.training.algorithms.factorization_machines import (
        FactorizationMachinesHyperparameters,
    )

EpochEnd = Callable[[int, Factors], bool]
"""after_epoch(epoch, the model so far): True to end the training now."""


def train_factors(
    matrix: sparse.csr_matrix,
    y: np.ndarray,
    binary: bool,
    params: FactorizationMachinesHyperparameters,
    after_epoch: EpochEnd | None = None,
) -> Factors:
    """Fit to `matrix` (float32 CSR) and `y` (0/1 codes, or values) for `params.epochs`
    passes over rows shuffled by `params.seed`; the same seed trains the same model.

    On one thread: a step is a few small gathers and scatters, which more threads slow down
    (on 2 cores, 1,000-row batches: 125,000 rows/s on one thread, 84,000 on two), and one
    thread gives the same model on any machine.
    """
    # torch checks the invariants of every sparse gradient otherwise, and warns that it does
    with _one_thread(), torch.sparse.check_sparse_tensor_invariants(False):
        target = _Target(y, binary)
        table, bias = _initial_parameters(matrix.shape[1], target, params)
        optimizers = _optimizers(table, bias, params)
        shuffle = np.random.default_rng(params.seed)
        for epoch in range(params.epochs):
            permutation = shuffle.permutation(matrix.shape[0])
            goals = torch.from_numpy(target.trained_on[permutation])
            for batch in _minibatches(matrix[permutation], params.mini_batch_size):
                outputs, used = _forward(batch, table, bias)
                goal = goals[batch.start : batch.stop]
                loss = (
                    F.binary_cross_entropy_with_logits(outputs, goal)
                    if binary
                    else F.mse_loss(outputs, goal)
                )
                penalty = (
                    params.linear_wd * used[:, 0].square().sum()
                    + params.factors_wd * used[:, 1:].square().sum()
                ) / len(goal) + params.bias_wd * bias.square().sum()
                for optimizer in optimizers:
                    optimizer.zero_grad()
                (loss + penalty).backward()
                for optimizer in optimizers:
                    optimizer.step()
            if after_epoch is not None and after_epoch(epoch, target.factors(table, bias)):
                break
        return target.factors(table, bias)


class _Target:
    """The target as trained on: 0/1 for classifiers; standardised for regressors, so that
    the defaults suit any scale, with the factors scaled back to the target's units."""

    def __init__(self, y: np.ndarray, binary: bool) -> None:
        self.mean, self.spread, self.initial_bias = 0.0, 1.0, 0.0
        if binary:
            rate = float(np.clip(np.mean(y), 1e-6, 1 - 1e-6))
            self.initial_bias = float(np.log(rate / (1 - rate)))
        else:
            self.mean, self.spread = float(np.mean(y)), float(np.std(y)) or 1.0
        self.trained_on = ((y - self.mean) / self.spread).astype(np.float32)

    def factors(self, table: torch.Tensor, bias: torch.Tensor) -> Factors:
        """The model in the target's units: w0 and w scale with it, V with its square root."""
        values = table.detach().numpy()
        return Factors(
            bias=self.mean + self.spread * float(bias.detach()[0]),
            linear=(self.spread * values[:, 0]).astype(np.float32),
            pairwise=(np.sqrt(self.spread) * values[:, 1:]).astype(np.float32),
        )


@dataclass(frozen=True)
class _Batch:
    """Rows start..stop of the shuffled matrix: their nonzeros and the row of each."""

    start: int
    stop: int
    indices: torch.Tensor
    values: torch.Tensor
    row_of: torch.Tensor


def _minibatches(matrix: sparse.csr_matrix, size: int) -> Iterator[_Batch]:
    indices = torch.from_numpy(matrix.indices.astype(np.int64))
    values = torch.from_numpy(matrix.data.astype(np.float32))
    row_of = torch.from_numpy(np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr)))
    for start in range(0, matrix.shape[0], size):
        stop = min(start + size, matrix.shape[0])
        first, last = int(matrix.indptr[start]), int(matrix.indptr[stop])
        yield _Batch(
            start, stop, indices[first:last], values[first:last], row_of[first:last] - start
        )


def _forward(
    batch: _Batch, table: torch.Tensor, bias: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's output for each row of `batch`, and the table rows it used."""
    used = F.embedding(batch.indices, table, sparse=True)
    weighted = used * batch.values.unsqueeze(1)
    rows = batch.stop - batch.start
    sums = torch.zeros(rows, table.shape[1]).index_add_(0, batch.row_of, weighted)
    squares = torch.zeros(rows, table.shape[1] - 1).index_add_(
        0, batch.row_of, weighted[:, 1:].square()
    )
    pairs = 0.5 * (sums[:, 1:].square() - squares).sum(dim=1)
    return bias + sums[:, 0] + pairs, used


def _initial_parameters(
    dimension: int, target: _Target, params: FactorizationMachinesHyperparameters
) -> tuple[torch.nn.Parameter, torch.nn.Parameter]:
    """w = 0, V ~ N(0, factors_init_sigma²), w0 at the base rate's log-odds (or 0, the
    standardised mean)."""
    generator = torch.Generator().manual_seed(params.seed)
    factors = torch.randn(dimension, params.num_factors, generator=generator)
    table = torch.cat([torch.zeros(dimension, 1), params.factors_init_sigma * factors], dim=1)
    bias = torch.tensor([target.initial_bias], dtype=torch.float32)
    return torch.nn.Parameter(table), torch.nn.Parameter(bias)


def _optimizers(
    table: torch.nn.Parameter,
    bias: torch.nn.Parameter,
    params: FactorizationMachinesHyperparameters,
) -> list[torch.optim.Optimizer]:
    """Adam keeps moments for the rows a step touches only (SparseAdam); Adagrad takes the
    sparse gradients as they are."""
    if params.optimizer == "adagrad":
        return [torch.optim.Adagrad([table, bias], lr=params.learning_rate)]
    return [
        torch.optim.SparseAdam([table], lr=params.learning_rate),
        torch.optim.Adam([bias], lr=params.learning_rate),
    ]


@contextmanager
def _one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
