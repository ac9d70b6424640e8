"""How sweep overrides become Optuna distributions (a table: override in, distribution out)."""

from __future__ import annotations

import pytest
from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
from optuna.distributions import (
    CategoricalDistribution,
    DiscreteUniformDistribution,
    IntUniformDistribution,
    LogUniformDistribution,
    UniformDistribution,
)

from hpo_app.sweeper import SweepError, _last_wins, _range_distributions


@pytest.mark.parametrize(
    "override, expected",
    [
        ("x=range(5, 20, 5)", IntUniformDistribution(5, 15, step=5)),  # 20 excluded, as in Python
        ("x=range(1, 4)", IntUniformDistribution(1, 3, step=1)),
        ("x=range(0.1, 0.5, 0.1)", DiscreteUniformDistribution(0.1, 0.4, 0.1)),
    ],
)
def test_range_excludes_its_end_like_hydra(override, expected):
    assert _range_distributions([override]) == {"x": expected}


@pytest.mark.parametrize(
    "override, expected",
    [
        ("x=interval(0.1, 0.5)", UniformDistribution(0.1, 0.5)),
        ("x=tag(log, interval(1e-5, 1e-2))", LogUniformDistribution(1e-5, 1e-2)),
        ("x=tag(log, interval(8, 256))", LogUniformDistribution(8.0, 256.0)),  # Hydra: floats
        ("x=choice(32, 64, 128)", CategoricalDistribution([32, 64, 128])),
        ("x=choice(tanh, relu)", CategoricalDistribution(["tanh", "relu"])),
    ],
)
def test_the_released_sweepers_other_distributions_are_kept(override, expected):
    space, fixed = create_params_from_overrides([override])
    assert space == {"x": expected} and not fixed
    assert _range_distributions([override]) == {}


def test_an_empty_range_is_an_error_naming_the_key():
    with pytest.raises(SweepError, match=r"^model.n_epochs: empty range"):
        _range_distributions(["model.n_epochs=range(3, 3)"])


def test_the_last_override_of_a_key_wins():
    overrides = ["model.gamma=choice(0.9, 0.99)", "model.lr=interval(0.1, 0.2)", "model.gamma=0.95"]
    assert _last_wins(overrides) == ["model.lr=interval(0.1, 0.2)", "model.gamma=0.95"]
    assert _last_wins(["a=1", "a=choice(1, 2)"]) == ["a=choice(1, 2)"]
