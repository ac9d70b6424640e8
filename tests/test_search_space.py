"""How sweep overrides become Optuna distributions (a table: override in, distribution out)."""

from __future__ import annotations

import pytest
from hydra_plugins.hpo_sweeper._space import SearchSpaceError, grid_size, last_wins, parse
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution


@pytest.mark.parametrize(
    "override, expected",
    [
        ("x=range(5, 20, 5)", IntDistribution(5, 15, step=5)),  # 20 excluded, as in Python
        ("x=range(1, 4)", IntDistribution(1, 3, step=1)),
        ("x=range(0.1, 0.5, 0.1)", FloatDistribution(0.1, 0.4, step=0.1)),
        ("x=interval(0.1, 0.5)", FloatDistribution(0.1, 0.5)),
        ("x=tag(log, interval(1e-5, 1e-2))", FloatDistribution(1e-5, 1e-2, log=True)),
        ("x=tag(log, interval(8, 256))", FloatDistribution(8.0, 256.0, log=True)),  # Hydra: floats
        ("x=choice(32, 64, 128)", CategoricalDistribution([32, 64, 128])),
        ("x=choice(tanh, relu)", CategoricalDistribution(["tanh", "relu"])),
        ("+model.target_kl=interval(0.01, 0.05)", FloatDistribution(0.01, 0.05)),
    ],
)
def test_sweep_grammar_to_distribution(override, expected):
    space = parse([], [override])
    name = override.split("=", 1)[0]
    assert space.distributions == {name: expected} and not space.fixed


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.n_epochs=range(3, 3)", r"^model.n_epochs=range\(3, 3\): .*at least one value"),
        ("model.x=choice()", r"^model.x=choice\(\): .*empty choice"),  # Hydra's parser, named
        ("model.x=interval(0.5", r"^model.x=interval\(0.5: "),
    ],
)
def test_a_broken_override_is_an_error_naming_it(override, message):
    with pytest.raises(SearchSpaceError, match=message):
        parse([], [override])


def test_the_last_override_of_a_key_wins():
    overrides = ["model.gamma=choice(0.9, 0.99)", "model.lr=interval(0.1, 0.2)", "model.gamma=0.95"]
    assert last_wins(overrides) == ["model.lr=interval(0.1, 0.2)", "model.gamma=0.95"]
    assert last_wins(["a=1", "a=choice(1, 2)"]) == ["a=choice(1, 2)"]


def test_the_command_line_pins_and_re_ranges_the_configs_space():
    space = parse(["model.gamma=choice(0.9, 0.99)", "model.lr=interval(0.1, 0.2)"],
                  ["model.gamma=0.95", "model.lr=interval(0.3, 0.4)", "model=a2c"])
    assert space.distributions == {"model.lr": FloatDistribution(0.3, 0.4)}
    assert space.fixed == {"model.gamma": "0.95", "model": "a2c"}
    assert space.overrides({"model.lr": 0.35}) == ["model.lr=0.35", "model.gamma=0.95", "model=a2c"]
    assert space.representative() == ["model.lr=0.3", "model.gamma=0.95", "model=a2c"]


def test_grid_points_and_size():
    space = parse([], ["a=choice(1, 2, 3)", "b=range(0, 10, 5)", "c=range(0.5, 1.0, 0.25)"])
    grid = space.grid()
    assert grid == {"a": [1, 2, 3], "b": [0, 5], "c": [0.5, 0.75]}
    assert grid_size(grid) == 3 * 2 * 2


def test_grid_over_an_interval_is_refused_by_name():
    space = parse([], ["a=choice(1, 2)", "lr=interval(0.1, 0.2)"])
    with pytest.raises(SearchSpaceError, match=r"sampler=grid needs discrete parameters; lr is an interval"):
        space.grid()


def test_the_space_as_plain_data():
    space = parse([], ["lr=tag(log, interval(1e-4, 1e-2))", "n=range(1, 4)", "act=choice(tanh, relu)"])
    assert space.describe() == {
        "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "n": {"type": "int", "low": 1, "high": 3, "log": False, "step": 1},
        "act": {"type": "categorical", "choices": ["tanh", "relu"]},
    }
