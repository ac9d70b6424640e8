"""Tests of hpo_app.models: every key of a model's schema (hpo_app/model_schema.py) reaches the real
SB3 object.

Each model config is composed by Hydra with every key overridden on the command line to a value
that differs from both the schema's default and SB3's own, built through ``build_model`` on a real
TradingEnv, trained a few hundred steps, and then every value is read back from the SB3 object.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf
from stable_baselines3.common.base_class import BaseAlgorithm
from torch import nn

from hpo_app.app import engine_from_config
from hpo_app.checks import check_model
from hpo_app.model_schema import MODEL_SCHEMAS, NETWORK_KEYS, ModelConf
from hpo_app.models import ACTIVATIONS, accepted_keys, algorithm_class, build_model
from hpo_app.specs import ConfigError
from tests.conftest import compose_config, config_options, small_trading_env

ALGORITHMS = ("ppo", "dqn", "a2c")

# Every key of a model's schema (but `name` and UNTESTED), set to a value that is neither the
# schema's nor SB3's default (checked by test_tables_cover_every_key_with_non_default_values).
NON_DEFAULT: dict[str, dict[str, Any]] = {
    "ppo": {
        "learning_rate": 1.23e-3,
        "n_steps": 96,
        "batch_size": 48,
        "n_epochs": 3,
        "gamma": 0.93,
        "gae_lambda": 0.87,
        "clip_range": 0.13,
        "clip_range_vf": 0.3,
        "normalize_advantage": False,
        "target_kl": 0.5,
        "stats_window_size": 7,
        "ent_coef": 0.021,
        "vf_coef": 0.37,
        "max_grad_norm": 0.77,
        "net_width": 24,
        "net_depth": 3,
        "activation": "elu",
        "weight_decay": 3e-4,
    },
    "dqn": {
        "learning_rate": 6.5e-4,
        "buffer_size": 777,
        "learning_starts": 40,
        "batch_size": 24,
        "tau": 0.6,
        "gamma": 0.91,
        "train_freq": 3,
        "gradient_steps": 2,
        "n_steps": 2,
        "stats_window_size": 9,
        "target_update_interval": 50,
        "exploration_fraction": 0.35,
        "exploration_initial_eps": 0.8,
        "exploration_final_eps": 0.11,
        "max_grad_norm": 3.3,
        "net_width": 40,
        "net_depth": 1,
        "activation": "leaky_relu",
        "weight_decay": 2e-3,
    },
    "a2c": {
        "learning_rate": 2.2e-3,
        "n_steps": 12,
        "gamma": 0.955,
        "gae_lambda": 0.81,
        "ent_coef": 0.033,
        "vf_coef": 0.44,
        "max_grad_norm": 0.66,
        "use_rms_prop": False,  # Adam; rms_prop_eps is checked with RMSprop below
        "rms_prop_eps": 3e-4,
        "normalize_advantage": True,
        "stats_window_size": 11,
        "net_width": 20,
        "net_depth": 3,
        "activation": "relu",
        "weight_decay": 7e-4,
    },
}
# State-dependent exploration needs continuous actions (the env's are discrete); the replay
# buffer's memory saving is left to SB3's default.
UNTESTED = {"use_sde", "sde_sample_freq", "optimize_memory_usage"}
TRAIN_STEPS = {"ppo": 192, "dqn": 240, "a2c": 120}  # whole rollouts: 2 x 96, 80 x 3, 10 x 12

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _clip_range(model: BaseAlgorithm) -> float:
    return model.clip_range(1.0)  # PPO turns the float into a schedule


def _optimizer_lr(model: BaseAlgorithm) -> float:
    lrs = {group["lr"] for group in model.policy.optimizer.param_groups}
    assert len(lrs) == 1
    assert model.learning_rate == lrs.pop()
    return model.learning_rate


# How to read a hyperparameter back from the SB3 object when it is not `getattr(model, key)`.
READ_BACK: dict[str, Callable[[BaseAlgorithm], Any]] = {
    "clip_range": _clip_range,
    "learning_rate": _optimizer_lr,
    "train_freq": lambda model: model.train_freq.frequency,
    "use_rms_prop": lambda model: isinstance(model.policy.optimizer, torch.optim.RMSprop),
    "clip_range_vf": lambda model: model.clip_range_vf(1.0),
    "stats_window_size": lambda model: model._stats_window_size,
}
NOT_OBSERVABLE = {("a2c", "rms_prop_eps")}  # without RMSprop; see test_a2c_rms_prop_settings


def _schema_defaults(name: str) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(MODEL_SCHEMAS[name]) if f.name != "name"}


def _conf(name: str, overrides: Mapping[str, Any] = {}) -> ModelConf:
    """conf/model/<name>.yaml composed by Hydra with command-line overrides, as the engine gets it."""
    cfg = compose_config([f"model={name}", *(f"model.{k}={v}" for k, v in overrides.items())])
    conf = OmegaConf.to_object(cfg.model)
    assert isinstance(conf, MODEL_SCHEMAS[name])
    return conf


def _sb3_defaults(name: str) -> dict[str, Any]:
    parameters = inspect.signature(algorithm_class(name).__init__).parameters
    return {k: p.default for k, p in parameters.items() if p.default is not inspect.Parameter.empty}


def _parameters(model: BaseAlgorithm) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.policy.parameters()]


def _expected_updates(name: str, hp: Mapping[str, Any], steps: int) -> int:
    """Gradient updates SB3 does in ``steps`` environment steps, counted the way SB3 counts them."""
    if name == "ppo":
        return (steps // hp["n_steps"]) * hp["n_epochs"]  # one per epoch per rollout
    if name == "a2c":
        return steps // hp["n_steps"]  # one per rollout
    rollout_ends = range(hp["train_freq"], steps + 1, hp["train_freq"])
    return sum(hp["gradient_steps"] for t in rollout_ends if t > hp["learning_starts"])


def _check_network(model: BaseAlgorithm, name: str, width: int, depth: int, activation: str) -> None:
    n_obs = model.observation_space.shape[0]
    n_actions = model.action_space.n
    activation_cls = ACTIVATIONS[activation]
    if name == "dqn":
        nets = [model.policy.q_net.q_net, model.policy.q_net_target.q_net]
        for net in nets:
            linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
            assert [lin.out_features for lin in linears] == [width] * depth + [n_actions]
            assert linears[0].in_features == n_obs
            acts = [m for m in net.modules() if isinstance(m, tuple(ACTIVATIONS.values()))]
            assert len(acts) == depth and all(type(a) is activation_cls for a in acts)
        return
    extractor = model.policy.mlp_extractor
    for net in (extractor.policy_net, extractor.value_net):
        linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
        assert [lin.out_features for lin in linears] == [width] * depth
        assert linears[0].in_features == n_obs
        acts = [m for m in net.modules() if isinstance(m, tuple(ACTIVATIONS.values()))]
        assert len(acts) == depth and all(type(a) is activation_cls for a in acts)
    assert model.policy.action_net.in_features == width and model.policy.action_net.out_features == n_actions
    assert model.policy.value_net.in_features == width and model.policy.value_net.out_features == 1


def test_tables_cover_every_key_with_non_default_values() -> None:
    assert config_options("model") == sorted(ALGORITHMS) == sorted(MODEL_SCHEMAS)
    for name in ALGORITHMS:
        defaults = _schema_defaults(name)
        assert set(NON_DEFAULT[name]) == set(defaults) - UNTESTED, f"{name}'s schema has keys the test lacks"
        sb3_defaults = _sb3_defaults(name)
        for key, value in NON_DEFAULT[name].items():
            assert value != defaults[key], f"{name}.{key}"
            assert key not in sb3_defaults or value != sb3_defaults[key], f"{name}.{key}"


@pytest.mark.parametrize("name", ALGORITHMS)
def test_every_config_key_reaches_the_trained_sb3_model(name: str) -> None:
    conf = _conf(name, NON_DEFAULT[name])
    hp = conf.hyperparams()
    assert {k: hp[k] for k in NON_DEFAULT[name]} == NON_DEFAULT[name]  # Hydra parsed each value to its type
    env = small_trading_env()
    model = build_model(conf, env, seed=3)
    assert type(model) is algorithm_class(name)
    before = _parameters(model)

    steps = TRAIN_STEPS[name]
    model.learn(total_timesteps=steps)

    assert model.num_timesteps == steps
    assert model._n_updates == _expected_updates(name, hp, steps) or name == "ppo"  # target_kl may stop epochs
    after = _parameters(model)
    assert any(not torch.equal(b, a) for b, a in zip(before, after)), "training changed no weight"
    assert all(torch.isfinite(p).all() for p in after)
    for key, value in hp.items():
        if key in NETWORK_KEYS or (name, key) in NOT_OBSERVABLE:
            continue
        observed = READ_BACK.get(key, lambda m, k=key: getattr(m, k))(model)
        assert observed == pytest.approx(value), f"model.{key}: {observed!r} != {value!r}"
    _check_network(model, name, hp["net_width"], hp["net_depth"], hp["activation"])
    assert {g["weight_decay"] for g in model.policy.optimizer.param_groups} == {hp["weight_decay"]}


def test_ppo_update_count_without_early_stop() -> None:
    conf = _conf("ppo", {k: v for k, v in NON_DEFAULT["ppo"].items() if k != "target_kl"})
    model = build_model(conf, small_trading_env(), seed=3)
    model.learn(total_timesteps=TRAIN_STEPS["ppo"])
    assert model._n_updates == _expected_updates("ppo", conf.hyperparams(), TRAIN_STEPS["ppo"])


def test_a_null_key_is_left_to_stable_baselines3() -> None:
    conf = _conf("ppo")
    assert conf.target_kl is None and "target_kl" not in conf.hyperparams()
    model = build_model(conf, small_trading_env(), seed=0)
    assert model.target_kl is None and model.normalize_advantage is True  # SB3's own defaults


def test_dqn_exploration_schedule_and_buffer() -> None:
    conf = _conf("dqn", NON_DEFAULT["dqn"])
    model = build_model(conf, small_trading_env(), seed=0)
    start, final, fraction = conf.exploration_initial_eps, conf.exploration_final_eps, conf.exploration_fraction
    assert model.exploration_schedule(1.0) == pytest.approx(start)  # progress_remaining 1 = the start
    assert model.exploration_schedule(1.0 - fraction / 2) == pytest.approx((start + final) / 2)
    assert model.exploration_schedule(1.0 - fraction) == pytest.approx(final)
    assert model.exploration_schedule(0.0) == pytest.approx(final)
    assert model.replay_buffer.buffer_size == conf.buffer_size


@pytest.mark.parametrize("use_rms_prop, optimizer", [(True, torch.optim.RMSprop), (False, torch.optim.Adam)])
def test_a2c_rms_prop_settings(use_rms_prop: bool, optimizer: type[torch.optim.Optimizer]) -> None:
    conf = _conf("a2c", {"use_rms_prop": use_rms_prop, "rms_prop_eps": 3e-4})
    model = build_model(conf, small_trading_env(), seed=0)
    assert type(model.policy.optimizer) is optimizer
    if use_rms_prop:
        assert model.policy.optimizer.defaults["eps"] == pytest.approx(conf.rms_prop_eps)


@pytest.mark.parametrize("use_rms_prop", [True, False])
def test_a2c_weight_decay_keeps_its_optimizer_settings(use_rms_prop: bool) -> None:
    """A2C replaces the optimizer's arguments when it picks RMSprop itself: with a decay, RMSprop
    still gets A2C's alpha and the configured eps, and the decay."""
    conf = _conf("a2c", {"use_rms_prop": use_rms_prop, "rms_prop_eps": 3e-4, "weight_decay": 0.01})
    model = build_model(conf, small_trading_env(), seed=0)
    defaults = model.policy.optimizer.defaults
    assert type(model.policy.optimizer) is (torch.optim.RMSprop if use_rms_prop else torch.optim.Adam)
    assert defaults["weight_decay"] == pytest.approx(0.01)
    if use_rms_prop:
        assert defaults["eps"] == pytest.approx(3e-4) and defaults["alpha"] == pytest.approx(0.99)


@pytest.mark.parametrize("name", ALGORITHMS)
def test_schema_defaults_build_the_documented_network(name: str) -> None:
    conf = MODEL_SCHEMAS[name]()  # from Python: the same defaults as the command line's
    assert conf == _conf(name)
    model = build_model(conf, small_trading_env(), seed=0)
    _check_network(model, name, conf.net_width, conf.net_depth, conf.activation)


@pytest.mark.parametrize("name", ALGORITHMS)
def test_zero_depth_network_is_linear(name: str) -> None:
    model = build_model(MODEL_SCHEMAS[name](net_depth=0, net_width=8), small_trading_env(), seed=0)
    linears = [m for m in model.policy.modules() if isinstance(m, nn.Linear)]
    n_obs = model.observation_space.shape[0]
    assert linears and all(lin.in_features == n_obs for lin in linears)


@pytest.mark.parametrize(
    "name, key",
    [
        ("ppo", "foo"),
        ("ppo", "learning_rat"),
        ("ppo", "buffer_size"),  # a DQN key
        ("ppo", "use_rms_prop"),  # an A2C key
        ("a2c", "n_epochs"),  # a PPO key
        ("a2c", "clip_range"),
        ("dqn", "n_epochs"),
        ("dqn", "gae_lambda"),
        ("ppo", "seed"),  # the engine's own arguments
        ("dqn", "device"),
        ("a2c", "policy_kwargs"),
        ("ppo", "verbose"),
    ],
)
def test_a_key_the_algorithm_does_not_take_is_an_error_naming_it(name: str, key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        engine_from_config(compose_config([f"model={name}", f"+model.{key}=1"]), tmp_path)
    assert str(caught.value).startswith(f"model.{key}: unknown key (known: ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "conf, fault",
    [
        (MODEL_SCHEMAS["ppo"](activation="sigmoid"), "model.activation='sigmoid': must be one of tanh, relu"),
        (MODEL_SCHEMAS["dqn"](net_width=0), "model.net_width=0: must be an integer in [1, 4096]"),
        (MODEL_SCHEMAS["a2c"](net_depth=-1), "model.net_depth=-1: must be an integer in [0, 16]"),
        (MODEL_SCHEMAS["ppo"](learning_rate="abc"), "model.learning_rate='abc': must be a number in (0, 1]"),
        (MODEL_SCHEMAS["a2c"](normalize_advantage=1), "model.normalize_advantage=1: must be true or false"),
        (MODEL_SCHEMAS["dqn"](buffer_size="big"), "model.buffer_size='big': must be an integer >= 1"),
    ],
)
def test_a_bad_value_from_python_is_a_one_line_error_naming_it(conf: ModelConf, fault: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_model(conf)
    assert str(caught.value).startswith(fault) and "\n" not in str(caught.value)


def test_unknown_algorithm_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^model\.name='sac': unknown algorithm"):
        engine_from_config(compose_config(["model.name=sac"]), tmp_path)


@pytest.mark.parametrize(
    "name, key, accepted",
    [
        ("ppo", "learning_rate", True),
        ("ppo", "n_steps", True),
        ("ppo", "n_epochs", True),
        ("ppo", "clip_range", True),
        ("ppo", "clip_range_vf", True),
        ("ppo", "target_kl", True),
        ("ppo", "gae_lambda", True),
        ("ppo", "buffer_size", False),
        ("ppo", "exploration_fraction", False),
        ("ppo", "use_rms_prop", False),
        ("dqn", "learning_rate", True),
        ("dqn", "buffer_size", True),
        ("dqn", "learning_starts", True),
        ("dqn", "train_freq", True),
        ("dqn", "target_update_interval", True),
        ("dqn", "exploration_fraction", True),
        ("dqn", "tau", True),
        ("dqn", "n_epochs", False),
        ("dqn", "clip_range", False),
        ("dqn", "gae_lambda", False),
        ("dqn", "replay_buffer_class", False),  # takes a class, not a YAML value
        ("dqn", "replay_buffer_kwargs", False),
        ("a2c", "learning_rate", True),
        ("a2c", "n_steps", True),
        ("a2c", "use_rms_prop", True),
        ("a2c", "rms_prop_eps", True),
        ("a2c", "normalize_advantage", True),
        ("a2c", "n_epochs", False),
        ("a2c", "clip_range", False),
        ("a2c", "buffer_size", False),
        ("a2c", "rollout_buffer_class", False),
        ("ppo", "rollout_buffer_kwargs", False),
    ],
)
def test_accepted_keys_table(name: str, key: str, accepted: bool) -> None:
    assert (key in accepted_keys(name)) is accepted


ENGINE_ARGUMENTS = {"env", "seed", "device", "verbose", "tensorboard_log", "_init_setup_model", "policy_kwargs",
                    "policy", "rollout_buffer_class", "rollout_buffer_kwargs", "replay_buffer_class",
                    "replay_buffer_kwargs"}


@pytest.mark.parametrize("name", ALGORITHMS)
def test_accepted_keys_are_constructor_arguments_or_network_keys(name: str) -> None:
    keys = accepted_keys(name)
    parameters = set(inspect.signature(algorithm_class(name).__init__).parameters)
    assert set(NETWORK_KEYS) <= keys
    assert keys - set(NETWORK_KEYS) <= parameters
    assert parameters - keys - {"self"} <= ENGINE_ARGUMENTS  # every other argument is in the schema
    assert accepted_keys(name.upper()) == keys


def test_dqn_train_freq_may_be_a_pair() -> None:
    model = build_model(_conf("dqn", {"train_freq": "[1,episode]"}), small_trading_env(), seed=0)
    assert model.train_freq.frequency == 1 and model.train_freq.unit.value == "episode"
