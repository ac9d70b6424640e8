"""Every value a user can set, checked before any training: one line naming the key, the value
and what is allowed.

The ranges are the libraries' own: stable-baselines3's (PPO asserts ``batch_size > 1`` and a
rollout of more than one step for its advantage normalization; ``clip_range_vf`` must be positive
or null; DQN's ``train_freq`` must be a positive integer; probabilities, discount factors and GAE
lambdas are in [0, 1]), torch's (learning rates >= 0; a zero rate trains nothing, so > 0 here) and
this project's (fractions of the data, a stationary AR(1) market, costs >= 0). A value outside them
would otherwise come back from deep inside torch as a traceback, or, worse, train silently (a
discount factor above 1 gives NaN logits; a negative buffer size was accepted).

The model's rules apply to whichever of PPO, DQN and A2C takes the key; keys the algorithm does
not take are left to ``hpo_app.models``, which refuses them by name. An integer must be written as
one (``4``, not ``4.0``: stable-baselines3 refuses a float ``train_freq`` and cannot size a buffer
with a float ``n_steps``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hpo_app.specs import ConfigError


@dataclass(frozen=True)
class Rule:
    """What a value may be: a number (``integer``: a whole one) in a range, or a boolean."""

    what: str  # the value's meaning, for people
    kind: str = "number"  # number, integer, bool
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself excluded
    high_open: bool = False
    optional: bool = False  # null allowed
    also: tuple[float, ...] = ()  # values allowed outside the range (e.g. -1: "as many as collected")
    options: tuple[str, ...] = ()  # kind "choice": the allowed words

    def allowed(self) -> str:
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(self.options)
        noun = "an integer" if self.kind == "integer" else "a number"
        if self.low is not None and self.high is not None:
            text = f"{noun} in {'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}{')' if self.high_open else ']'}"
        elif self.low is not None:
            text = f"{noun} {'>' if self.low_open else '>='} {_num(self.low)}"
        elif self.high is not None:
            text = f"{noun} {'<' if self.high_open else '<='} {_num(self.high)}"
        else:
            text = noun
        extras = [_num(v) for v in self.also] + (["null"] if self.optional else [])
        return text + (f" (or {' or '.join(extras)})" if extras else "")

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "choice":
            return value in self.options
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.kind == "integer" and not isinstance(value, int):
            return False
        if value in self.also:
            return True
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


MODEL: dict[str, Rule] = {
    "learning_rate": Rule("the optimizer's step size", low=0, low_open=True),
    "gamma": Rule("the discount factor", low=0, high=1),
    "gae_lambda": Rule("GAE's lambda", low=0, high=1),
    "clip_range": Rule("PPO's clip range", low=0, low_open=True),
    "clip_range_vf": Rule("PPO's value clip range", low=0, low_open=True, optional=True),
    "ent_coef": Rule("the entropy bonus's weight", low=0),
    "vf_coef": Rule("the value loss's weight", low=0),
    "max_grad_norm": Rule("the gradient clipping norm", low=0, low_open=True),
    "n_steps": Rule("steps per rollout; for DQN, the steps of its n-step returns", kind="integer", low=1),
    "batch_size": Rule("the mini-batch size", kind="integer", low=1),
    "n_epochs": Rule("epochs per rollout", kind="integer", low=1),
    "target_kl": Rule("PPO's early-stop KL divergence", low=0, low_open=True, optional=True),
    "normalize_advantage": Rule("whether advantages are normalized", kind="bool"),
    "buffer_size": Rule("the replay buffer's size", kind="integer", low=1),
    "learning_starts": Rule("steps before learning starts", kind="integer", low=0),
    "tau": Rule("the target network's update rate", low=0, high=1, low_open=True),
    "train_freq": Rule("steps between updates; or [n, step] or [n, episode]", kind="integer", low=1),
    "gradient_steps": Rule("gradient steps per update; -1: as many as steps collected", kind="integer", low=0,
                           also=(-1,)),
    "target_update_interval": Rule("steps between target network updates", kind="integer", low=1),
    "exploration_fraction": Rule("the share of training with decaying exploration", low=0, high=1),
    "exploration_initial_eps": Rule("the initial exploration probability", low=0, high=1),
    "exploration_final_eps": Rule("the final exploration probability", low=0, high=1),
    "optimize_memory_usage": Rule("the replay buffer's memory saving", kind="bool"),
    "use_rms_prop": Rule("whether A2C uses RMSprop", kind="bool"),
    "rms_prop_eps": Rule("RMSprop's epsilon", low=0, low_open=True),
    "use_sde": Rule("state-dependent exploration", kind="bool"),
    "sde_sample_freq": Rule("steps between noise samples", kind="integer", low=-1),
    "stats_window_size": Rule("episodes averaged in the logs", kind="integer", low=1),
    "net_width": Rule("units per hidden layer", kind="integer", low=1),
    "net_depth": Rule("hidden layers", kind="integer", low=0),
    "weight_decay": Rule("the optimizer's L2 weight decay", low=0),
}
PPO_ONLY: dict[str, Rule] = {  # stable-baselines3 asserts these for advantage normalization
    "batch_size": Rule("the mini-batch size; PPO normalizes advantages over it", kind="integer", low=2),
    "n_steps": Rule("steps per rollout; PPO normalizes advantages over it", kind="integer", low=2),
}

SETTINGS: dict[str, Rule] = {
    "seed": Rule("the run's seed; numpy takes seeds below 2**32", kind="integer", low=0, high=2**32 - 1),
    "train.total_timesteps": Rule("environment steps of training", kind="integer", low=1),
    "train.eval_every": Rule("steps between evaluations", kind="integer", low=1),
    "train.n_seeds": Rule("runs per fold", kind="integer", low=1),
    "train.save_model": Rule("whether model.zip is written", kind="bool"),
    "train.keep": Rule("the policy scored at the end: the last one, or the best validation evaluation's",
                       kind="choice", options=("last", "best")),
    "train.save_replay_buffer": Rule("whether an off-policy model's replay buffer is saved beside model.zip",
                                     kind="bool"),
    "resources.cpus_per_trial": Rule("CPUs (torch threads) per run", low=1),
    "env.window": Rule("bars in an observation", kind="integer", low=1),
    "env.cost_bps": Rule("the transaction cost in basis points", low=0),
    "env.allow_short": Rule("whether short positions are allowed", kind="bool"),
    "env.episode_length": Rule("bars per training episode", kind="integer", low=2, optional=True),
    "env.obs_noise": Rule("the std of the noise on training observations, in units of the scaled features", low=0),
    "env.reward_scale": Rule("the training reward's multiplier", low=0, low_open=True),
    "data.n_bars": Rule("bars of generated data", kind="integer", low=2, optional=True),
    "data.seed": Rule("the data's seed", kind="integer", low=0, high=2**32 - 1, optional=True),
    "data.edge": Rule("the planted edge, an AR(1) coefficient: the market is stationary below 1 in size", low=-1, high=1,
                      low_open=True, high_open=True),
    "data.vol": Rule("the daily volatility", low=0, low_open=True),
    "data.use_adjusted": Rule("whether Adj Close is used", kind="bool"),
    "data.train_frac": Rule("the training segment's share of the bars", low=0, high=1, low_open=True, high_open=True),
    "data.val_frac": Rule("the validation segment's share of the bars", low=0, high=1, low_open=True, high_open=True),
}


def fault(key: str, value: Any, rule: Rule) -> str:
    shown = "null" if value is None else str(value).lower() if isinstance(value, bool) else repr(value) \
        if isinstance(value, str) else str(value)  # 4.0 stays 4.0: an integer must be written as one
    return f"{key}={shown}: must be {rule.allowed()} ({rule.what})"


def check_model(name: str, hyperparams: Mapping[str, Any]) -> None:
    """Raise ConfigError for the first model value out of its range (keys the algorithm does
    not take are left to ``hpo_app.models``)."""
    from hpo_app.models import accepted_keys

    accepted = accepted_keys(name)
    for key, value in hyperparams.items():
        rule = (PPO_ONLY.get(key) if name.lower() == "ppo" else None) or MODEL.get(key)
        if rule is None or key not in accepted:
            continue
        if key == "train_freq" and isinstance(value, (list, tuple)):
            if not (len(value) == 2 and rule.accepts(value[0]) and value[1] in ("step", "episode")):
                raise ConfigError(fault(f"model.{key}", value, rule))
        elif not rule.accepts(value):
            raise ConfigError(fault(f"model.{key}", value, rule))


def check_settings(values: Mapping[str, Any]) -> None:
    """Raise ConfigError for the first setting out of its range; ``values`` maps dotted keys
    (``env.cost_bps``) to values, and keys it lacks are not checked."""
    for key, rule in SETTINGS.items():
        if key in values and not rule.accepts(values[key]):
            raise ConfigError(fault(key, values[key], rule))
    if "env.features" in values:
        from hpo_app.features import feature_columns

        feature_columns(values["env.features"])
    seed, n_seeds = values.get("seed"), values.get("train.n_seeds")
    if isinstance(seed, int) and isinstance(n_seeds, int) and seed + n_seeds - 1 > 2**32 - 1:
        raise ConfigError(f"seed={seed}, train.n_seeds={n_seeds}: the runs' seeds seed ... seed+n_seeds-1 "
                          "must stay below 2**32")
    train, val = values.get("data.train_frac"), values.get("data.val_frac")
    if isinstance(train, (int, float)) and isinstance(val, (int, float)) and train + val >= 1:
        raise ConfigError(f"data.train_frac={_num(train)}, data.val_frac={_num(val)}: their sum must be below 1 "
                          "(the rest is the test segment)")
