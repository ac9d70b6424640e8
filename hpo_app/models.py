"""Model factory: ``model=ppo|dqn|a2c`` to a stable-baselines3 algorithm.

Every key of ``conf/model/<name>.yaml`` reaches the SB3 constructor: the policy keys
(``net_width``, ``net_depth``, ``activation``, ``weight_decay``) become ``policy_kwargs`` here, in
one place, and every other key is passed as a constructor argument. ``weight_decay`` is the
optimizer's own argument (L2 decay in torch's Adam, and in RMSprop for A2C). A key that the algorithm does not accept is
an error, never silently dropped.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import torch
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from torch import nn

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "dqn": DQN, "a2c": A2C}
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}
NETWORK_KEYS = ("net_width", "net_depth", "activation", "weight_decay")
# Constructor arguments the engine sets itself; a model config may not set them.
ENGINE_ARGUMENTS = frozenset(
    {"env", "seed", "device", "verbose", "tensorboard_log", "_init_setup_model", "policy_kwargs"}
)
# What a saved model keeps when it is continued (``train.init_from``): the network (policy_kwargs,
# checked), the replay buffer's size, and A2C's optimizer (its RMSprop was built from these).
STRUCTURAL = ("buffer_size", "use_rms_prop", "rms_prop_eps", "optimize_memory_usage")
# Arguments that take objects rather than values from a YAML file.
OBJECT_ARGUMENTS = frozenset(
    {"rollout_buffer_class", "rollout_buffer_kwargs", "replay_buffer_class", "replay_buffer_kwargs"}
)


class ModelConfigError(ValueError):
    """A model configuration that stable-baselines3 cannot take; the message is one line."""


def algorithm_class(name: str) -> type[BaseAlgorithm]:
    """The SB3 class for ``name`` (ppo, dqn, a2c)."""
    try:
        return ALGORITHMS[name.lower()]
    except KeyError:
        raise ModelConfigError(
            f"model.name={name!r}: unknown algorithm (choose from {', '.join(ALGORITHMS)})"
        ) from None


def accepted_keys(name: str) -> frozenset[str]:
    """Hyperparameter keys a ``conf/model`` file may hold for algorithm ``name``."""
    parameters = inspect.signature(algorithm_class(name).__init__).parameters
    constructor = set(parameters) - {"self"} - ENGINE_ARGUMENTS - OBJECT_ARGUMENTS
    return frozenset(constructor | set(NETWORK_KEYS))


def policy_kwargs(name: str, net_width: int, net_depth: int, activation: str, weight_decay: float = 0.0,
                  rms_prop_eps: float | None = None) -> dict[str, Any]:
    """``policy_kwargs`` for the SB3 policy: ``net_depth`` hidden layers of ``net_width`` units, and
    the optimizer's ``weight_decay``. ``rms_prop_eps`` (A2C with RMSprop): A2C replaces the
    optimizer's arguments when it picks RMSprop itself, so with a decay it is given here, with
    A2C's own alpha and eps."""
    if int(net_width) < 1 or int(net_depth) < 0:
        raise ModelConfigError(
            f"model.net_width={net_width}, model.net_depth={net_depth}: need width >= 1 and depth >= 0"
        )
    if activation not in ACTIVATIONS:
        raise ModelConfigError(
            f"model.activation={activation!r}: unknown (choose from {', '.join(ACTIVATIONS)})"
        )
    layers = [int(net_width)] * int(net_depth)
    net_arch: Any = layers if name == "dqn" else {"pi": layers, "vf": list(layers)}
    out: dict[str, Any] = {"net_arch": net_arch, "activation_fn": ACTIVATIONS[activation]}
    if weight_decay:
        out["optimizer_kwargs"] = {"weight_decay": float(weight_decay)}
        if rms_prop_eps is not None:
            out["optimizer_class"] = torch.optim.RMSprop
            out["optimizer_kwargs"].update(alpha=0.99, eps=float(rms_prop_eps))
    return out


def model_kwargs(name: str, hyperparams: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``hyperparams`` for algorithm ``name`` and map them to constructor arguments."""
    name = name.lower()
    allowed = accepted_keys(name)
    unknown = sorted(set(hyperparams) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed - {"policy"}))
        raise ModelConfigError(
            f"model.{unknown[0]}: not a hyperparameter of {algorithm_class(name).__name__} "
            f"(known: {known})"
        )
    _check_types(name, hyperparams)
    kwargs = {k: v for k, v in hyperparams.items() if k not in NETWORK_KEYS}
    kwargs.setdefault("policy", "MlpPolicy")
    network = {k: hyperparams[k] for k in NETWORK_KEYS if k in hyperparams}
    defaults = {"net_width": 64, "net_depth": 2, "activation": "relu" if name == "dqn" else "tanh"}
    if name == "a2c" and kwargs.get("use_rms_prop", True):
        network["rms_prop_eps"] = kwargs.get("rms_prop_eps", 1e-5)
    kwargs["policy_kwargs"] = policy_kwargs(name, **{**defaults, **network})
    if name in ("ppo", "a2c") and "n_steps" in kwargs and int(kwargs["n_steps"]) < 2:
        raise ModelConfigError(f"model.n_steps={kwargs['n_steps']}: must be at least 2")
    if name == "ppo" and "batch_size" in kwargs and int(kwargs["batch_size"]) < 2:
        raise ModelConfigError(f"model.batch_size={kwargs['batch_size']}: must be at least 2")
    return kwargs


def _check_types(name: str, hyperparams: Mapping[str, Any]) -> None:
    """A value whose constructor default is a number (or a bool) must be one: a typo such as
    ``model.learning_rate=abc`` is a one-line error here, not an assertion deep inside SB3."""
    parameters = inspect.signature(algorithm_class(name).__init__).parameters
    for key, value in hyperparams.items():
        if key == "train_freq" and isinstance(value, (list, tuple)):
            continue  # DQN also takes (frequency, "step" | "episode")
        default = parameters[key].default if key in parameters else None
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ModelConfigError(f"model.{key}={value!r}: expected true or false")
        elif isinstance(default, (int, float)) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ModelConfigError(f"model.{key}={value!r}: expected a number")
    for key in ("net_width", "net_depth", "weight_decay"):
        value = hyperparams.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ModelConfigError(f"model.{key}={value!r}: expected a number")


def build_model(
    name: str,
    env: gym.Env,
    hyperparams: Mapping[str, Any],
    *,
    seed: int,
    device: str = "cpu",
) -> BaseAlgorithm:
    """Construct the SB3 model for ``name`` on ``env`` with every hyperparameter applied."""
    kwargs = model_kwargs(name, hyperparams)
    cls = algorithm_class(name)
    return cls(env=env, seed=seed, device=device, verbose=0, **kwargs)
