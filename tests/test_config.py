"""Tests of the config tree: every option composes, overrides reach the engine's typed specs,
typos fail loudly, and every searched parameter is one the model factory takes.

Options are discovered from ``conf/<group>/*.yaml``; configs are composed by Hydra's compose API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep
from hpo_record.trial import build_pruner
from hydra_plugins.hpo_sweeper._study import build_sampler
from omegaconf import DictConfig, OmegaConf

from hpo_app.app import engine_from_config
from hpo_app.engine import ConfigError, TrainingEngine
from hpo_app import rules
from hpo_app.models import accepted_keys, build_model
from hpo_app.schema import EnvConf
from tests.conftest import CONF_DIR, SPY_SAMPLE, compose_config, config_options, small_trading_env

# Every directory of conf/ that holds options is a group (conf/hydra/<group> included).
GROUPS = sorted({str(p.parent.relative_to(CONF_DIR)) for p in CONF_DIR.glob("**/*.yaml") if p.parent != CONF_DIR})
# Overrides an option needs to be usable (and nothing else).
NEEDS = {("data", "csv"): (f"data.path={SPY_SAMPLE}",)}
MODELS = config_options("model")

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
]


def _group_options() -> list[tuple[str, str]]:
    return [(group, option) for group in GROUPS for option in config_options(group)]


def test_the_documented_groups_exist() -> None:
    documented = {"model", "data", "env", "objective", "scheduler", "sampler", "hpo", "search_space"}
    assert documented <= set(GROUPS)


@pytest.mark.parametrize("group, option", _group_options())
def test_every_option_composes_and_the_engine_accepts_it(group: str, option: str, tmp_path: Path) -> None:
    overrides = [f"{group}={option}", *NEEDS.get((group, option), ())]
    if group == "search_space" and option in MODELS:
        overrides.append(f"model={option}")  # a model's space goes with that model
    cfg = compose_config(overrides, return_hydra_config=True)
    assert cfg.hydra.runtime.choices[group] == option
    engine = engine_from_config(cfg, tmp_path)
    assert isinstance(engine, TrainingEngine)
    if group == "model":
        assert engine.model_spec.name == option
    if group == "data":
        assert engine.data_spec.source == option
    if group == "search_space":
        space = _search_space(cfg)
        for key in space:  # a model's hyperparameter, or a key the config has (env.window, ...)
            if key.startswith("model."):
                assert key.removeprefix("model.") in accepted_keys(engine.model_spec.name), key
            else:
                assert OmegaConf.select(cfg, key, default="<absent>") != "<absent>", key
    # the pruner and sampler the sweeper builds from this config are real Optuna objects, and
    # they configure the sweeper only: the job's own config has neither
    assert isinstance(build_pruner(cfg.hydra.sweeper.pruner), optuna.pruners.BasePruner)
    sampler = build_sampler(cfg.hydra.sweeper.sampler)
    if not OmegaConf.select(cfg, "hydra.sweeper.sampler._partial_", default=False):
        assert isinstance(sampler, optuna.samplers.BaseSampler)
    else:
        assert callable(sampler)
    assert "sampler" not in cfg and "scheduler" not in cfg


def _read(engine: TrainingEngine, path: str) -> Any:
    value: Any = engine
    for part in path.split("."):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value


@pytest.mark.parametrize(
    "override, where, expected",
    [
        ("model.learning_rate=3e-4", "model_spec.learning_rate", 3e-4),
        ("model.gamma=0.97", "model_spec.gamma", 0.97),
        ("model.activation=relu", "model_spec.activation", "relu"),
        ("model=dqn", "model_spec.name", "dqn"),
        ("data.seed=7", "data_spec.seed", 7),
        ("data.n_bars=1234", "data_spec.n_bars", 1234),
        ("data.train_frac=0.5", "data_spec.train_frac", 0.5),
        ("env.cost_bps=2", "env_spec.cost_bps", 2.0),  # a float key: the integer becomes one
        ("env.window=12", "env_spec.window", 12),
        ("env.allow_short=false", "env_spec.allow_short", False),
        ("env.episode_length=null", "env_spec.episode_length", None),
        ("seed=3", "seed", 3),
        ("train.total_timesteps=1000", "train_spec.total_timesteps", 1000),
        ("train.eval_every=250", "train_spec.eval_every", 250),
        ("train.save_model=false", "train_spec.save_model", False),
        ("resources.cpus_per_trial=2", "resources.cpus_per_trial", 2),
        ("objective=sortino", "objective_spec.metrics", ("val/sortino",)),
        ("objective.direction=minimize", "objective_spec.directions", ("minimize",)),
        ("objective=sharpe_drawdown", "objective_spec.directions", ("maximize", "minimize")),
    ],
)
def test_command_line_override_reaches_the_spec(override: str, where: str, expected: Any, tmp_path: Path) -> None:
    engine = engine_from_config(compose_config([override]), tmp_path)
    value = _read(engine, where)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(("overrides", "expected"), [
    (["model=ppo"], rules.default_of(EnvConf, "reward_scale")),  # the schema's default
    (["model=a2c"], rules.default_of(EnvConf, "reward_scale")),
    (["model=dqn"], OmegaConf.load(CONF_DIR / "env/model/dqn.yaml").reward_scale),  # over the schema's
    (["model=dqn", "env.reward_scale=2"], 2.0),  # the command line wins
])
def test_a_model_brings_its_own_env_settings_and_the_command_line_wins(overrides: list[str], expected: float,
                                                                      tmp_path: Path) -> None:
    assert OmegaConf.load(CONF_DIR / "env/model/dqn.yaml").reward_scale != rules.default_of(EnvConf, "reward_scale")
    assert _read(engine_from_config(compose_config(overrides), tmp_path), "env_spec.reward_scale") == expected


def test_csv_path_is_made_absolute_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(SPY_SAMPLE.parent)
    engine = engine_from_config(compose_config(["data=csv", f"data.path={SPY_SAMPLE.name}"]), tmp_path)
    assert engine.data_spec.path == str(SPY_SAMPLE)


@pytest.mark.parametrize(
    "override, error, key",
    [
        ("+env.foo=1", ConfigError, "env.foo"),
        ("+data.colse=1", ConfigError, "data.colse"),
        ("+train.total_steps=10", ConfigError, "train.total_steps"),
        ("+model.foo=1", ConfigError, "model.foo"),
        ("+model.learning_rat=0.1", ConfigError, "model.learning_rat"),
        ("+model.seed=1", ConfigError, "model.seed"),
        ("model.name=sac", ConfigError, "model.name"),
        ("objective.metric=val/sharp", ConfigError, "objective.metric"),
        ("objective.metric=test/sharpe", ConfigError, "objective.metric"),
        ("objective.direction=up", ConfigError, "objective.direction"),
        ("train.eval_every=0", ConfigError, "train.eval_every"),
    ],
)
def test_bad_key_or_value_is_an_error_naming_it(
    override: str, error: type[Exception], key: str, tmp_path: Path
) -> None:
    cfg = compose_config([override])
    with pytest.raises(error) as caught:
        engine_from_config(cfg, tmp_path)
    message = str(caught.value)
    assert message.startswith(key) and "\n" not in message
    assert not list(tmp_path.iterdir())  # rejected before any work


def test_csv_without_path_is_a_config_error_naming_data_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^data\.path"):
        engine_from_config(compose_config(["data=csv"]), tmp_path)


def _sweep_values(key: str, spec: str) -> list[str]:
    """The values Hydra's sweep grammar ``spec`` can give ``key``, as override strings."""
    override = OverridesParser.create().parse_override(f"{key}={spec}")
    assert override.is_sweep_override(), f"{key}: {spec} is not a sweep"
    sweep = override.value()
    if isinstance(sweep, ChoiceSweep):
        return list(override.sweep_string_iterator())
    assert isinstance(sweep, IntervalSweep) and sweep.start < sweep.end
    return [str(sweep.start), str(sweep.end)]


def _search_space(cfg: DictConfig) -> dict[str, str]:
    params = OmegaConf.to_container(cfg.hydra.sweeper.params, resolve=True)
    assert isinstance(params, dict)
    return {str(k): str(v) for k, v in params.items()}


@pytest.mark.parametrize("model", MODELS)
def test_search_space_follows_the_model_and_every_key_reaches_it(model: str, tmp_path: Path) -> None:
    cfg = compose_config([f"model={model}"], return_hydra_config=True)
    assert cfg.hydra.runtime.choices["search_space"] == model
    space = _search_space(cfg)
    assert space
    hyperparams = {key.removeprefix("model."): value for key, value in space.items() if key.startswith("model.")}
    assert {key for key in space if not key.startswith("model.")} == {"env.window", "env.features"}
    assert set(hyperparams) <= accepted_keys(model), set(hyperparams) - accepted_keys(model)
    assert set(hyperparams) <= set(cfg.model), "a searched key the model config does not define"

    # The two ends of the space, as the sweeper would pass them on the command line, reach the
    # model's spec and build a real SB3 model.
    values = {key: _sweep_values(key, spec) for key, spec in space.items()}
    for pick in (0, -1):
        overrides = [f"{key}={options[pick]}" for key, options in values.items()]
        engine = engine_from_config(compose_config([f"model={model}", *overrides]), tmp_path)
        for override in overrides:
            key, _, text = override.partition("=")
            parsed = OverridesParser.create().parse_override(override).value()
            if key.startswith("env."):
                assert getattr(engine.env_spec, key.removeprefix("env.")) == parsed, override
                continue
            assert getattr(engine.model_spec, key.removeprefix("model.")) == parsed, override
        sb3 = build_model(engine.model_spec, small_trading_env(), seed=0)
        for key in hyperparams:
            if hasattr(sb3, key) and key not in ("learning_rate", "train_freq", "clip_range"):
                assert getattr(sb3, key) == getattr(engine.model_spec, key), key


def test_every_model_has_a_search_space() -> None:
    assert set(MODELS) <= set(config_options("search_space"))


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("search_space", config_options("search_space"))
def test_search_space_can_be_chosen_explicitly(model: str, search_space: str) -> None:
    cfg = compose_config([f"model={model}", f"search_space={search_space}"], return_hydra_config=True)
    assert cfg.hydra.runtime.choices["search_space"] == search_space
    if search_space in MODELS:  # the same space as the one that follows that model
        expected = compose_config([f"model={search_space}"], return_hydra_config=True)
        assert _search_space(cfg) == _search_space(expected)
    else:  # e.g. none: only what the command line sweeps
        assert all(key.startswith("model.") for key in _search_space(cfg))
