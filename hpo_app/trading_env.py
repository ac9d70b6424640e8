"""A single-asset trading environment (gymnasium) and helpers to evaluate policies on it.

Timing: a segment ``(start, end)`` has decisions at bars ``t = start .. end-1``. The decision
at ``t`` sees features up to and including bar ``t`` and sets the position held from
``close[t]`` to ``close[t+1]``; so ``end <= len(close) - 1`` and ``start >= window - 1``.

Costs: changing the position by ``d`` costs ``cost_bps * 1e-4 * |d|`` of equity, paid at the
decision. The net simple return of the period is ``position * (close[t+1] / close[t] - 1) - cost``
and the reward is ``log(1 + net return)`` (growth floored at ``MIN_GROWTH`` so that it stays finite
when a short loses everything).

Observation (float32): the feature rows ``t-window+1 .. t`` flattened oldest first, then the
position held before the decision. Its Box bounds are finite (gymnasium's checker warns on
infinite ones): each feature column within +-max(1, max |value| of that column on the segment).

Regularization for training environments (both off by default): ``obs_noise`` adds Gaussian noise
of that standard deviation (in units of the train-scaled features) to the features of every
observation, clipped to the bounds, so no two visits of a bar look alike; ``reward_scale``
multiplies the reward (per-bar log returns of hourly bars are ~1e-3, small beside an entropy
bonus). Neither changes what a step earns: ``info["net_return"]``, from which every metric is
computed, is the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import gymnasium
import numpy as np
from gymnasium import spaces
from numpy.lib.stride_tricks import sliding_window_view

MIN_GROWTH: float = 1e-12
"""Floor of 1 + net return inside the log reward (reward >= log(MIN_GROWTH) ~ -27.6)."""

_SHORT_POSITIONS = (-1.0, 0.0, 1.0)
_LONG_ONLY_POSITIONS = (0.0, 1.0)


@dataclass(frozen=True)
class EpisodeRecord:
    """What a policy did over a segment, one entry per period (len n = end - start)."""

    positions: np.ndarray  # position held in each period
    net_returns: np.ndarray  # simple return net of costs of each period
    costs: np.ndarray  # cost paid at the start of each period (fraction of equity)
    bars: np.ndarray  # bar index t of each decision (start .. end-1)


class TradingEnv(gymnasium.Env):
    """Trade one asset bar by bar: Discrete actions map to target positions (short/flat/long)."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        features: np.ndarray,
        close: np.ndarray,
        start: int,
        end: int,
        *,
        window: int,
        cost_bps: float,
        allow_short: bool = True,
        episode_length: int | None = None,
        seed: int | None = None,
        obs_noise: float = 0.0,
        reward_scale: float = 1.0,
    ) -> None:
        """Validate the data and segment, and precompute observations and price returns."""
        super().__init__()
        features = np.asarray(features, dtype=np.float32)
        close = np.asarray(close, dtype=np.float64)
        _check_data(features, close, window)
        check_segment(start, end, len(close), min_start=window - 1)
        _check_episode_length(episode_length, end - start)
        if not (math.isfinite(cost_bps) and cost_bps >= 0):
            raise ValueError(f"cost_bps must be a finite number >= 0, got {cost_bps}")
        if not (math.isfinite(obs_noise) and obs_noise >= 0):
            raise ValueError(f"obs_noise must be a finite number >= 0, got {obs_noise}")
        if not (math.isfinite(reward_scale) and reward_scale > 0):
            raise ValueError(f"reward_scale must be a finite number > 0, got {reward_scale}")
        self.obs_noise, self.reward_scale = float(obs_noise), float(reward_scale)
        self.start, self.end, self.window = int(start), int(end), int(window)
        self.cost_bps, self.allow_short, self.episode_length = float(cost_bps), allow_short, episode_length
        self._positions = np.array(_SHORT_POSITIONS if allow_short else _LONG_ONLY_POSITIONS)
        self._rows = _window_rows(features, self.start, self.end, self.window)
        self._price_returns = _price_returns(close, self.start, self.end)
        self._cost_rate = _cost_rate(self.cost_bps)
        self.action_space = spaces.Discrete(len(self._positions))
        self.observation_space = _observation_space(features, self.start, self.end, self.window, self._positions)
        self._t, self._stop, self._position = self.start, self.start, 0.0
        super().reset(seed=seed)

    @property
    def POSITIONS(self) -> np.ndarray:  # noqa: N802 - part of the public API
        """Allowed target positions, indexed by action: [-1, 0, 1], or [0, 1] without short."""
        return self._positions.copy()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Go flat at the segment start, or at a random start when episode_length is set.

        ``options={"full_segment": True}`` forces the whole segment from ``start``.
        """
        super().reset(seed=seed)
        full_segment = _full_segment_option(options)
        if self.episode_length is None or full_segment:
            self._t, self._stop = self.start, self.end
        else:
            last_start = self.end - self.episode_length
            self._t = int(self.np_random.integers(self.start, last_start + 1))
            self._stop = self._t + self.episode_length
        self._position = 0.0
        return self._observation(), {"bar": self._t, "position": 0.0}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move to the target position of ``action`` and hold it for one period."""
        if self._t >= self._stop:
            raise RuntimeError("the episode is over (or never started): call reset() first")
        new_position = float(self._positions[self._action_index(action)])
        cost = self._cost_rate * abs(new_position - self._position)
        net_return = new_position * float(self._price_returns[self._t - self.start]) - cost
        info = {"net_return": net_return, "position": new_position, "cost": cost, "bar": self._t}
        self._position = new_position
        self._t += 1
        reward = self.reward_scale * math.log(max(1.0 + net_return, MIN_GROWTH))
        return self._observation(), reward, self._t >= self._stop, False, info

    def _observation(self) -> np.ndarray:
        """Feature window ending at the current bar, then the current position."""
        obs = np.empty(self.observation_space.shape, dtype=np.float32)
        obs[:-1] = self._rows[self._t - self.start]
        if self.obs_noise > 0:
            noisy = obs[:-1] + self.obs_noise * self.np_random.standard_normal(len(obs) - 1)
            obs[:-1] = np.clip(noisy, self.observation_space.low[:-1], self.observation_space.high[:-1])
        obs[-1] = self._position
        return obs

    def _action_index(self, action: Any) -> int:
        """The action as an index into POSITIONS, or ValueError."""
        index = int(np.asarray(action).item())
        if not 0 <= index < len(self._positions):
            raise ValueError(f"invalid action {action!r}: expected an integer in [0, {len(self._positions)})")
        return index


def run_episode(env: TradingEnv, policy: Callable[[np.ndarray], int]) -> EpisodeRecord:
    """Run ``policy`` over the env's full segment (resets the env: use a dedicated eval env)."""
    n = env.end - env.start
    positions, net_returns, costs = np.empty(n), np.empty(n), np.empty(n)
    bars = np.empty(n, dtype=np.int64)
    obs, _ = env.reset(options={"full_segment": True})
    for i in range(n):
        obs, _, terminated, _, info = env.step(policy(obs))
        positions[i], net_returns[i], costs[i], bars[i] = (
            info["position"], info["net_return"], info["cost"], info["bar"])
    if not terminated:
        raise RuntimeError("the environment did not terminate at the end of its segment")
    return EpisodeRecord(positions=positions, net_returns=net_returns, costs=costs, bars=bars)


def run_deterministic(env: TradingEnv, act: Callable[[np.ndarray], np.ndarray]) -> EpisodeRecord:
    """What :func:`run_episode` gives for a deterministic policy, in one call of ``act``: the policy
    is asked for every bar of the segment and every position it could hold there (a batch of
    ``bars x positions`` observations), then the episode is walked through that table. The
    observation is the bar's features and the position held, so nothing else can change the
    decision; the returns and costs are computed as ``step`` computes them. Not for an env that
    adds noise to its observations (a training env)."""
    if env.obs_noise > 0:
        raise ValueError("run_deterministic needs an env without observation noise (an evaluation env)")
    n, positions = env.end - env.start, env._positions
    n_obs = env.observation_space.shape[0]
    obs = np.empty((n, len(positions), n_obs), dtype=np.float32)
    obs[:, :, :-1] = env._rows[:n, None, :]
    obs[:, :, -1] = positions[None, :].astype(np.float32)
    table = np.asarray(act(obs.reshape(n * len(positions), n_obs)), dtype=np.int64).reshape(n, len(positions))
    held = np.empty(n)
    index = int(np.flatnonzero(positions == 0.0)[0])  # every episode starts flat
    for i in range(n):
        index = int(table[i, index])  # an action is an index into the positions
        held[i] = positions[index]
    costs = env._cost_rate * np.abs(np.diff(held, prepend=0.0))
    return EpisodeRecord(positions=held, net_returns=held * env._price_returns - costs, costs=costs,
                         bars=np.arange(env.start, env.end, dtype=np.int64))


def model_actions(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A stable-baselines3 model's deterministic actions for a batch of observations."""

    def act(obs: np.ndarray) -> np.ndarray:
        actions, _ = model.predict(obs, deterministic=True)
        return np.asarray(actions)

    return act


def model_policy(model: Any) -> Callable[[np.ndarray], int]:
    """Wrap a stable-baselines3 model as a deterministic policy returning an int action."""

    def policy(obs: np.ndarray) -> int:
        action, _ = model.predict(obs, deterministic=True)
        return int(np.asarray(action).item())

    return policy


def constant_position_record(
    close: np.ndarray, start: int, end: int, position: float, cost_bps: float
) -> EpisodeRecord:
    """Hold ``position`` over the segment from flat (1.0 buy-and-hold, 0.0 flat), same cost rule."""
    return positions_record(close, start, end, np.full(end - start, float(position)), cost_bps)


def positions_record(close: np.ndarray, start: int, end: int, positions: np.ndarray, cost_bps: float) -> EpisodeRecord:
    """What holding ``positions`` (one per decision, from flat) earns over the segment, costs included."""
    close = np.asarray(close, dtype=np.float64)
    check_segment(start, end, len(close), min_start=0)
    n = end - start
    positions = np.asarray(positions, dtype=np.float64)
    if positions.shape != (n,):
        raise ValueError(f"positions must have one entry per decision ({n}), got shape {positions.shape}")
    costs = _cost_rate(float(cost_bps)) * np.abs(np.diff(positions, prepend=0.0))
    net_returns = positions * _price_returns(close, start, end) - costs
    return EpisodeRecord(positions=positions, net_returns=net_returns, costs=costs,
                         bars=np.arange(start, end, dtype=np.int64))


def _cost_rate(cost_bps: float) -> float:
    """Cost per unit of position change, as a fraction of equity."""
    return cost_bps * 1e-4


def _price_returns(close: np.ndarray, start: int, end: int) -> np.ndarray:
    """Simple returns close[t+1] / close[t] - 1 for t = start .. end-1."""
    segment = close[start:end + 1]
    if not (np.all(np.isfinite(segment)) and np.all(segment > 0)):
        raise ValueError(f"close must be finite and > 0 on bars {start}..{end}")
    return segment[1:] / segment[:-1] - 1.0


def _window_rows(features: np.ndarray, start: int, end: int, window: int) -> np.ndarray:
    """Row i: features of bars start+i-window+1 .. start+i flattened, for bars start .. end."""
    block = features[start - window + 1:end + 1]
    if not np.all(np.isfinite(block)):
        raise ValueError(f"features must be finite on bars {start - window + 1}..{end}")
    views = sliding_window_view(block, window, axis=0)  # (bars, n_features, window)
    return np.ascontiguousarray(views.transpose(0, 2, 1)).reshape(len(views), -1)


def _observation_space(features: np.ndarray, start: int, end: int, window: int,
                       positions: np.ndarray) -> spaces.Box:
    """Features bounded by +-max(1, max |value| of their column on the segment), then the position."""
    column_bounds = np.maximum(np.abs(features[start - window + 1:end + 1]).max(axis=0), 1.0)
    high = np.append(np.tile(column_bounds, window), positions.max()).astype(np.float32)
    low = np.append(-high[:-1], positions.min()).astype(np.float32)
    return spaces.Box(low=low, high=high, dtype=np.float32)


def _full_segment_option(options: dict[str, Any] | None) -> bool:
    """The ``full_segment`` reset option; other keys are rejected."""
    options = options or {}
    unknown = set(options) - {"full_segment"}
    if unknown:
        raise ValueError(f"unknown reset options {sorted(unknown)}; only 'full_segment' is supported")
    return bool(options.get("full_segment", False))


def _check_data(features: np.ndarray, close: np.ndarray, window: int) -> None:
    """Shapes of features and close, and the window size."""
    if features.ndim != 2 or close.ndim != 1:
        raise ValueError(f"features must be 2-D and close 1-D, got {features.shape} and {close.shape}")
    if len(features) != len(close):
        raise ValueError(f"features has {len(features)} bars but close has {len(close)}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")


def check_segment(start: int, end: int, n_bars: int, *, min_start: int) -> None:
    """A segment needs min_start <= start < end <= n_bars - 1 (the last decision needs close[end])."""
    if start < min_start:
        raise ValueError(f"segment start {start} < {min_start} (window - 1: not enough history)")
    if end > n_bars - 1:
        raise ValueError(f"segment end {end} > {n_bars - 1} (len(close) - 1: the last period needs close[end])")
    if end <= start:
        raise ValueError(f"segment end {end} must be > start {start}")


def _check_episode_length(episode_length: int | None, segment_length: int) -> None:
    """episode_length is None or within 1 .. end - start."""
    if episode_length is not None and not 1 <= episode_length <= segment_length:
        raise ValueError(f"episode_length must be in [1, {segment_length}] (end - start), got {episode_length}")
