"""How an agent is validated: holdout or walk-forward folds, seeds, and how runs are aggregated.

- ``holdout``: one run per seed, trained on the training segment and scored on validation.
- ``walkforward``: the training and validation segments together (everything before the test
  segment) are cut into ``folds + 1`` equal blocks in time order. Fold ``k`` (1..folds) scores on
  block ``k`` and trains on the blocks before it: all of them (``scheme=expanding``) or the last
  ``train_blocks`` (``scheme=rolling``). The first ``gap`` bars of each validation block are
  dropped, so that no validation decision sees, in its observation window, a bar the fold trained
  on, and no training reward uses a validation bar's price. Each fold is trained from scratch and
  its features are scaled with its own training bars only. The test segment is never touched.

Each fold runs ``train.n_seeds`` times (seeds ``seed``, ``seed + 1``, ...). The objective is the
aggregate of the runs' validation metric: their ``mean``, or ``mean_minus_std`` (mean minus
``penalty`` times their standard deviation), which prefers agents that are good on every fold.
The keys and their defaults: ``hpo_app.schema.ValidationConf``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hpo_app.data import DataError
from hpo_app.schema import ValidationConf


@dataclass(frozen=True)
class Fold:
    """Decision bars ``[start, end)`` of one fold's training and validation blocks."""

    index: int  # 1, 2, ...
    train: tuple[int, int]
    val: tuple[int, int]


def make_folds(spec: ValidationConf, segments: dict[str, tuple[int, int]], min_bars: int = 50) -> list[Fold]:
    """The folds of ``spec`` over a holdout split's segments (train, val, test)."""
    if spec.kind == "holdout":
        return [Fold(1, segments["train"], segments["val"])]
    first, test_start = segments["train"][0], segments["test"][0]
    edges = [first + round(i * (test_start - first) / (spec.folds + 1)) for i in range(spec.folds + 2)]
    folds = []
    for k in range(1, spec.folds + 1):
        train_start = edges[0] if spec.scheme == "expanding" else edges[max(0, k - spec.train_blocks)]
        fold = Fold(k, (train_start, edges[k]), (edges[k] + spec.gap, edges[k + 1]))
        for name, (a, b) in (("training", fold.train), ("validation", fold.val)):
            if b - a < min_bars:
                raise DataError(
                    f"walk-forward fold {k}: {max(b - a, 0)} {name} decisions (need {min_bars}); "
                    f"{test_start - first} bars before the test segment, folds={spec.folds}, gap={spec.gap}"
                )
        folds.append(fold)
    return folds


def aggregate(values: Sequence[float], spec: ValidationConf) -> float:
    """The objective from the runs' validation values (NaN-free by construction upstream)."""
    v = np.asarray(values, dtype=np.float64)
    if spec.aggregate == "mean" or len(v) < 2:
        return float(v.mean())
    return float(v.mean() - spec.penalty * v.std(ddof=1))
