"""The models' keys: one schema per algorithm (PPO, DQN, A2C from stable-baselines3), each key with
the project's default, its range and its meaning. ``conf/model/<name>.yaml`` starts from it.

Every key but ``name`` and the network keys (``net_width``, ``net_depth``, ``activation``,
``weight_decay``: the policy's, mapped in ``hpo_app.models``) is the algorithm's constructor
argument of the same name. ``null`` means stable-baselines3's own default (the argument is not
passed). A key an algorithm does not take is not in its schema: Hydra refuses it by name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

from omegaconf import MISSING

from hpo_app.rules import Rule, key

ACTIVATION_NAMES = ("tanh", "relu", "elu", "leaky_relu")
NETWORK_KEYS = ("net_width", "net_depth", "activation", "weight_decay")

# Rules of the keys several algorithms share (each algorithm sets its own default).
LEARNING_RATE = Rule("the optimizer's step size (Adam moves each weight by about this much a step: above 1 it "
                     "only diverges)", low=0, low_open=True, high=1)
GAMMA = Rule("the discount factor", low=0, high=1)
GAE_LAMBDA = Rule("GAE's lambda: bias-variance trade-off of the advantage", low=0, high=1)
ENT_COEF = Rule("the entropy bonus's weight (exploration)", low=0)
VF_COEF = Rule("the value loss's weight", low=0)
MAX_GRAD_NORM = Rule("the gradient clipping norm", low=0, low_open=True)
NORMALIZE_ADVANTAGE = Rule("whether advantages are normalized", kind="bool", optional=True)
USE_SDE = Rule("state-dependent exploration", kind="bool", optional=True)
SDE_SAMPLE_FREQ = Rule("steps between noise samples of state-dependent exploration", kind="integer", low=-1,
                       optional=True)
STATS_WINDOW = Rule("episodes averaged in stable-baselines3's logs", kind="integer", low=1, optional=True)
ROLLOUT = Rule("steps per env per rollout (a rollout: n_steps x env.n_envs steps, then an update)", kind="integer",
               low=2)
# Past these sizes a run on a few features would take hours on a CPU, not a typo's seconds.
NET_WIDTH = Rule("units per hidden layer (policy and value networks)", kind="integer", low=1, high=4096)
NET_DEPTH = Rule("hidden layers", kind="integer", low=0, high=16)
ACTIVATION = Rule("the hidden layers' activation", kind="choice", options=ACTIVATION_NAMES)
WEIGHT_DECAY = Rule("the optimizer's L2 weight decay (regularization)", low=0)


@dataclass
class ModelConf:
    """What every model schema has: its algorithm's name."""

    name: str = MISSING

    def hyperparams(self) -> dict[str, Any]:
        """The keys that reach the model factory: every key but ``name``, none left null."""
        return {k: v for k, v in asdict(self).items() if k != "name" and v is not None}


@dataclass
class PPOConf(ModelConf):
    """PPO (stable_baselines3.PPO): proximal policy optimization."""

    name: str = "ppo"
    learning_rate: float = key(3.0e-4, LEARNING_RATE)
    # with env.n_envs 4 (conf/env/model/ppo.yaml): rollouts of 512 steps, picked by validation (bench/bench_vec.py)
    n_steps: int = key(128, ROLLOUT)
    batch_size: int = key(128, Rule("the mini-batch size; PPO normalizes advantages over it", kind="integer", low=2))
    n_epochs: int = key(10, Rule("passes over each rollout", kind="integer", low=1))
    gamma: float = key(0.99, GAMMA)
    gae_lambda: float = key(0.95, GAE_LAMBDA)
    clip_range: float = key(0.2, Rule("PPO's clip range of the policy ratio", low=0, low_open=True))
    clip_range_vf: Optional[float] = key(None, Rule("PPO's clip range of the value function", low=0, low_open=True,
                                                    optional=True))
    normalize_advantage: Optional[bool] = key(None, NORMALIZE_ADVANTAGE)
    ent_coef: float = key(0.01, ENT_COEF)
    vf_coef: float = key(0.5, VF_COEF)
    max_grad_norm: float = key(0.5, MAX_GRAD_NORM)
    use_sde: Optional[bool] = key(None, USE_SDE)
    sde_sample_freq: Optional[int] = key(None, SDE_SAMPLE_FREQ)
    target_kl: Optional[float] = key(None, Rule("PPO's early-stop KL divergence per update", low=0, low_open=True,
                                                optional=True))
    stats_window_size: Optional[int] = key(None, STATS_WINDOW)
    net_width: int = key(64, NET_WIDTH)
    net_depth: int = key(2, NET_DEPTH)
    activation: str = key("tanh", ACTIVATION)
    weight_decay: float = key(0.0, WEIGHT_DECAY)


@dataclass
class DQNConf(ModelConf):
    """DQN (stable_baselines3.DQN): deep Q-learning with a replay buffer."""

    name: str = "dqn"
    learning_rate: float = key(1.0e-4, LEARNING_RATE)
    buffer_size: int = key(50000, Rule("the replay buffer's size", kind="integer", low=1))
    learning_starts: int = key(1000, Rule("steps before learning starts", kind="integer", low=0))
    batch_size: int = key(64, Rule("the mini-batch size", kind="integer", low=1))
    tau: float = key(1.0, Rule("the target network's update rate", low=0, high=1, low_open=True))
    gamma: float = key(0.99, GAMMA)
    # with env.n_envs 8 (conf/env/model/dqn.yaml): an update every 8 transitions (bench/bench_vec.py)
    train_freq: Any = key(1, Rule("steps of the vectorized env between updates (each: env.n_envs transitions); "
                                  "or [n, step] or [n, episode]", kind="integer", low=1))
    gradient_steps: int = key(1, Rule("gradient steps per update; -1: as many as steps collected", kind="integer",
                                      low=0, also=(-1,)))
    optimize_memory_usage: Optional[bool] = key(None, Rule("the replay buffer's memory saving", kind="bool",
                                                           optional=True))
    n_steps: Optional[int] = key(None, Rule("the steps of DQN's n-step returns", kind="integer", low=1, optional=True))
    target_update_interval: int = key(1000, Rule("steps between target network updates", kind="integer", low=1))
    exploration_fraction: float = key(0.2, Rule("the share of training with decaying exploration", low=0, high=1))
    exploration_initial_eps: float = key(1.0, Rule("the initial exploration probability", low=0, high=1))
    exploration_final_eps: float = key(0.05, Rule("the final exploration probability", low=0, high=1))
    max_grad_norm: float = key(10.0, MAX_GRAD_NORM)
    stats_window_size: Optional[int] = key(None, STATS_WINDOW)
    net_width: int = key(64, NET_WIDTH)
    net_depth: int = key(2, NET_DEPTH)
    activation: str = key("relu", ACTIVATION)
    weight_decay: float = key(0.0, WEIGHT_DECAY)


@dataclass
class A2CConf(ModelConf):
    """A2C (stable_baselines3.A2C): synchronous advantage actor-critic."""

    name: str = "a2c"
    # lr 2e-4: picked by validation on the planted edge, data seeds 0-2 (docs/agents.md); n_steps 4 with
    # env.n_envs 8 (conf/env/model/a2c.yaml): rollouts of 32 steps, picked by validation (bench/bench_vec.py)
    learning_rate: float = key(2.0e-4, LEARNING_RATE)
    n_steps: int = key(4, ROLLOUT)
    gamma: float = key(0.99, GAMMA)
    gae_lambda: float = key(0.95, GAE_LAMBDA)
    ent_coef: float = key(0.01, ENT_COEF)
    vf_coef: float = key(0.5, VF_COEF)
    max_grad_norm: float = key(0.5, MAX_GRAD_NORM)
    rms_prop_eps: float = key(1.0e-5, Rule("RMSprop's epsilon", low=0, low_open=True))
    use_rms_prop: bool = key(True, Rule("whether A2C uses RMSprop (false: Adam)", kind="bool"))
    use_sde: Optional[bool] = key(None, USE_SDE)
    sde_sample_freq: Optional[int] = key(None, SDE_SAMPLE_FREQ)
    normalize_advantage: bool = key(False, Rule("whether advantages are normalized", kind="bool"))
    stats_window_size: Optional[int] = key(None, STATS_WINDOW)
    net_width: int = key(64, NET_WIDTH)
    net_depth: int = key(2, NET_DEPTH)
    activation: str = key("tanh", ACTIVATION)
    weight_decay: float = key(0.0, WEIGHT_DECAY)


MODEL_SCHEMAS: dict[str, type[ModelConf]] = {"ppo": PPOConf, "dqn": DQNConf, "a2c": A2CConf}
