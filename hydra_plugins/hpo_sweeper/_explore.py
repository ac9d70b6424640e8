"""Population-based training's explore moves on one hyperparameter's distribution: a new draw, or
the current value perturbed by a factor (Ray Tune's ``PopulationBasedTraining`` rules)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution


def sample(dist: BaseDistribution, rng: np.random.Generator) -> Any:
    """A value drawn from the distribution (uniform, or log-uniform on a log scale)."""
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[int(rng.integers(len(dist.choices)))]
    if isinstance(dist, (FloatDistribution, IntDistribution)):
        low, high = float(dist.low), float(dist.high)
        x = math.exp(rng.uniform(math.log(low), math.log(high))) if dist.log else rng.uniform(low, high)
        return _fit(dist, x)
    raise TypeError(f"unknown distribution {dist!r}")


def perturb(dist: BaseDistribution, value: Any, factor: float, rng: np.random.Generator) -> Any:
    """``value`` times ``factor``, clipped to the range; for a choice of numbers, the next larger
    (factor above 1) or smaller one; for another choice (names, booleans), a random one."""
    if isinstance(dist, CategoricalDistribution):
        choices = list(dist.choices)
        numeric = all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in choices)
        if not numeric or value not in choices:
            return choices[int(rng.integers(len(choices)))]
        ordered = sorted(choices)
        i = ordered.index(value) + (1 if factor > 1 else -1 if factor < 1 else 0)
        return ordered[min(max(i, 0), len(ordered) - 1)]
    if isinstance(dist, (FloatDistribution, IntDistribution)):
        return _fit(dist, float(value) * factor)
    raise TypeError(f"unknown distribution {dist!r}")


def _fit(dist: FloatDistribution | IntDistribution, x: float) -> Any:
    """``x`` clipped to the distribution's range and on its step."""
    low, high = dist.low, dist.high
    x = min(max(x, low), high)
    step = dist.step
    if step is not None:
        x = low + round((x - low) / step) * step
        x = min(max(x, low), high)
    return round(x) if isinstance(dist, IntDistribution) else float(x)
