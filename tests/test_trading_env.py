"""Tests of hpo_app.trading_env: timing, costs, observations, episodes and SB3 compatibility."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from hpo_app.trading_env import (
    MIN_GROWTH,
    EpisodeRecord,
    TradingEnv,
    constant_position_record,
    model_policy,
    run_episode,
)

TINY_CLOSE = np.array([100.0, 110.0, 99.0, 99.0, 120.0])
LONG, FLAT, SHORT = 2, 1, 0  # action indices with short allowed: [-1, 0, 1]


def _market(n_bars: int = 80, n_features: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random-walk closes and random scaled features."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n_bars)))
    features = rng.normal(size=(n_bars, n_features)).astype(np.float32)
    return features, close


def _tiny_env(**kwargs: object) -> TradingEnv:
    features = np.arange(10, dtype=np.float32).reshape(5, 2)
    return TradingEnv(features, TINY_CLOSE, 0, 4, window=1, cost_bps=10.0, **kwargs)


def test_step_by_step_costs_rewards_and_positions() -> None:
    env = _tiny_env()
    obs, info = env.reset()
    assert obs[-1] == 0.0 and info["bar"] == 0
    previous = 0.0
    actions = [LONG, LONG, SHORT, FLAT]
    for t, action in enumerate(actions):
        target = float(env.POSITIONS[action])
        cost = 10.0 * 1e-4 * abs(target - previous)
        net = target * (TINY_CLOSE[t + 1] / TINY_CLOSE[t] - 1.0) - cost
        obs, reward, terminated, truncated, info = env.step(action)
        assert reward == pytest.approx(math.log(1.0 + net), rel=1e-12)
        assert info["net_return"] == pytest.approx(net, rel=1e-12)
        assert info["cost"] == pytest.approx(cost) and info["position"] == target and info["bar"] == t
        assert obs[-1] == target
        assert terminated == (t == len(actions) - 1) and truncated is False
        previous = target
    with pytest.raises(RuntimeError):
        env.step(FLAT)


def test_long_only_has_two_actions() -> None:
    env = _tiny_env(allow_short=False)
    assert env.action_space.n == 2
    np.testing.assert_array_equal(env.POSITIONS, [0.0, 1.0])
    env.reset()
    _, _, _, _, info = env.step(1)
    assert info["position"] == 1.0
    with pytest.raises(ValueError, match="invalid action"):
        env.step(2)


def _observations(features: np.ndarray, close: np.ndarray, window: int) -> list[np.ndarray]:
    """Observations at bars 10 .. 29 of a flat policy."""
    env = TradingEnv(features, close, 10, 30, window=window, cost_bps=5.0)
    observations = [env.reset()[0]]
    for _ in range(19):
        observations.append(env.step(FLAT)[0])
    return observations


def test_observation_is_the_past_window() -> None:
    features, close = _market()
    window = 4
    for t, obs in zip(range(10, 30), _observations(features, close, window)):
        expected = [float(x) for row in features[t - window + 1:t + 1] for x in row] + [0.0]
        assert obs.tolist() == expected
        assert obs.dtype == np.float32


@pytest.mark.parametrize("t", [10, 17, 29])
def test_observation_has_no_look_ahead(t: int) -> None:
    features, close = _market()
    changed = features.copy()
    changed[t + 1:] += 1000.0
    changed_close = close.copy()
    changed_close[t + 1:] *= 2.0
    original = _observations(features, close, 4)[t - 10]
    np.testing.assert_array_equal(_observations(changed, changed_close, 4)[t - 10], original)


def test_constant_long_episode_equals_buy_and_hold_record() -> None:
    features, close = _market()
    env = TradingEnv(features, close, 5, 60, window=5, cost_bps=7.5)
    for position, action in [(1.0, LONG), (0.0, FLAT), (-1.0, SHORT)]:
        record = run_episode(env, lambda obs, a=action: a)
        expected = constant_position_record(close, 5, 60, position, 7.5)
        for field in ("positions", "net_returns", "costs", "bars"):
            np.testing.assert_array_equal(getattr(record, field), getattr(expected, field))
    assert len(record.bars) == 55 and record.bars[0] == 5 and record.bars[-1] == 59


def test_constant_position_record_by_hand() -> None:
    record = constant_position_record(TINY_CLOSE, 0, 4, 1.0, 10.0)
    rets = [TINY_CLOSE[t + 1] / TINY_CLOSE[t] - 1.0 for t in range(4)]
    np.testing.assert_allclose(record.net_returns, [rets[0] - 0.001] + rets[1:], rtol=1e-12)
    np.testing.assert_array_equal(record.costs, [0.001, 0.0, 0.0, 0.0])
    flat = constant_position_record(TINY_CLOSE, 0, 4, 0.0, 10.0)
    assert not flat.net_returns.any() and not flat.costs.any()


def test_random_start_episodes_stay_inside_the_segment() -> None:
    features, close = _market()
    start, end, length = 10, 40, 5
    env = TradingEnv(features, close, start, end, window=3, cost_bps=1.0, episode_length=length, seed=3)
    starts = set()
    for _ in range(60):
        _, info = env.reset()
        first = info["bar"]
        starts.add(first)
        for k in range(length):
            _, _, terminated, _, info = env.step(env.action_space.sample())
            assert start <= info["bar"] < end and info["bar"] == first + k
            assert terminated == (k == length - 1)
    assert min(starts) >= start and max(starts) <= end - length and len(starts) > 5
    _, info = env.reset(options={"full_segment": True})
    assert info["bar"] == start


def test_seeded_resets_are_reproducible() -> None:
    features, close = _market()
    kwargs = dict(window=3, cost_bps=1.0, episode_length=5)
    a = TradingEnv(features, close, 10, 40, seed=7, **kwargs)
    b = TradingEnv(features, close, 10, 40, seed=7, **kwargs)
    assert [a.reset()[1]["bar"] for _ in range(10)] == [b.reset()[1]["bar"] for _ in range(10)]


def test_ruinous_short_keeps_reward_finite() -> None:
    close = np.array([100.0, 300.0])
    env = TradingEnv(np.zeros((2, 1), np.float32), close, 0, 1, window=1, cost_bps=0.0)
    env.reset()
    _, reward, _, _, info = env.step(SHORT)
    assert info["net_return"] == pytest.approx(-2.0)
    assert reward == math.log(MIN_GROWTH)


@pytest.mark.parametrize(
    ("start", "end", "window", "message"),
    [(2, 10, 4, "not enough history"), (5, 80, 3, "len\\(close\\) - 1"), (10, 10, 3, "must be > start")],
)
def test_invalid_segments_raise(start: int, end: int, window: int, message: str) -> None:
    features, close = _market()
    with pytest.raises(ValueError, match=message):
        TradingEnv(features, close, start, end, window=window, cost_bps=1.0)


def test_invalid_episode_length_and_options_raise() -> None:
    features, close = _market()
    with pytest.raises(ValueError, match="episode_length"):
        TradingEnv(features, close, 10, 20, window=3, cost_bps=1.0, episode_length=11)
    env = TradingEnv(features, close, 10, 20, window=3, cost_bps=1.0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(FLAT)
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"full": True})


@pytest.mark.parametrize("kwargs", [{}, {"allow_short": False, "episode_length": 8}])
def test_env_checkers_pass_without_warnings(kwargs: dict[str, object]) -> None:
    features, close = _market()
    env = TradingEnv(features, close, 10, 40, window=3, cost_bps=2.0, seed=0, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env, skip_render_check=True)
        sb3_check_env(env, warn=True)
    assert [str(w.message) for w in caught] == []


def test_tiny_ppo_learns_and_is_evaluated() -> None:
    from stable_baselines3 import PPO

    features, close = _market()
    env = TradingEnv(features, close, 10, 70, window=3, cost_bps=2.0, episode_length=20, seed=0)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=2, seed=0, device="cpu")
    model.learn(total_timesteps=128)
    eval_env = TradingEnv(features, close, 10, 70, window=3, cost_bps=2.0)
    record = run_episode(eval_env, model_policy(model))
    assert isinstance(record, EpisodeRecord) and record.positions.shape == (60,)
    assert set(record.positions.tolist()) <= {-1.0, 0.0, 1.0}
    assert np.all(np.isfinite(record.net_returns))
