"""Model factory: a model's schema instance (``hpo_app.model_schema``) to a stable-baselines3 algorithm.

Every key of the model's schema reaches the SB3 constructor: the policy keys (``net_width``,
``net_depth``, ``activation``, ``weight_decay``) become ``policy_kwargs`` here, in one place, and
every other key not left null is passed as the constructor argument of its name. ``weight_decay``
is the optimizer's own argument (L2 decay in torch's Adam, and in RMSprop for A2C). The values
were checked against the schema's rules (``hpo_app.checks``) before they come here.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from torch import nn

from hpo_app.model_schema import ACTIVATION_NAMES, MODEL_SCHEMAS, NETWORK_KEYS, ModelConf

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "dqn": DQN, "a2c": A2C}
ACTIVATIONS: dict[str, type[nn.Module]] = dict(zip(ACTIVATION_NAMES, (nn.Tanh, nn.ReLU, nn.ELU, nn.LeakyReLU)))
# What a saved model keeps when it is continued (``train.init_from``): the network (policy_kwargs,
# checked), the replay buffer's size, and A2C's optimizer (its RMSprop was built from these).
STRUCTURAL = ("buffer_size", "use_rms_prop", "rms_prop_eps", "optimize_memory_usage")


class ModelConfigError(ValueError):
    """A model that cannot be built or continued here; the message is one line."""


def algorithm_class(name: str) -> type[BaseAlgorithm]:
    """The SB3 class for ``name`` (ppo, dqn, a2c)."""
    try:
        return ALGORITHMS[name.lower()]
    except KeyError:
        raise ModelConfigError(
            f"model.name={name!r}: unknown algorithm (choose from {', '.join(ALGORITHMS)})"
        ) from None


def accepted_keys(name: str) -> frozenset[str]:
    """The keys a model config may hold for algorithm ``name``: its schema's."""
    return frozenset(MODEL_SCHEMAS[name.lower()].__dataclass_fields__) - {"name"}


def policy_kwargs(name: str, net_width: int, net_depth: int, activation: str, weight_decay: float = 0.0,
                  rms_prop_eps: float | None = None) -> dict[str, Any]:
    """``policy_kwargs`` for the SB3 policy: ``net_depth`` hidden layers of ``net_width`` units, and
    the optimizer's ``weight_decay``. ``rms_prop_eps`` (A2C with RMSprop): A2C replaces the
    optimizer's arguments when it picks RMSprop itself, so with a decay it is given here, with
    A2C's own alpha and eps."""
    layers = [int(net_width)] * int(net_depth)
    net_arch: Any = layers if name == "dqn" else {"pi": layers, "vf": list(layers)}
    out: dict[str, Any] = {"net_arch": net_arch, "activation_fn": ACTIVATIONS[activation]}
    if weight_decay:
        out["optimizer_kwargs"] = {"weight_decay": float(weight_decay)}
        if rms_prop_eps is not None:
            out["optimizer_class"] = torch.optim.RMSprop
            out["optimizer_kwargs"].update(alpha=0.99, eps=float(rms_prop_eps))
    return out


def model_kwargs(conf: ModelConf) -> dict[str, Any]:
    """The SB3 constructor's arguments for the model ``conf`` describes."""
    name = conf.name.lower()
    algorithm_class(name)
    hyperparams = conf.hyperparams()
    kwargs = {k: v for k, v in hyperparams.items() if k not in NETWORK_KEYS}
    if isinstance(kwargs.get("train_freq"), list):
        kwargs["train_freq"] = tuple(kwargs["train_freq"])  # SB3 takes (n, "step" | "episode"), not a list
    kwargs["policy"] = "MlpPolicy"
    network = {k: hyperparams[k] for k in NETWORK_KEYS}
    if name == "a2c" and kwargs.get("use_rms_prop", True):
        network["rms_prop_eps"] = kwargs["rms_prop_eps"]
    kwargs["policy_kwargs"] = policy_kwargs(name, **network)
    return kwargs


def build_model(conf: ModelConf, env: gym.Env, *, seed: int, device: str = "cpu") -> BaseAlgorithm:
    """Construct the SB3 model ``conf`` describes on ``env``, every hyperparameter applied."""
    return algorithm_class(conf.name)(env=env, seed=seed, device=device, verbose=0, **model_kwargs(conf))
