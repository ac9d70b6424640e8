"""The levers against memorization (issue #14) reach the environment or stable-baselines3, the
checkpoint choice ``train.keep=best`` restores exactly the best evaluation's policy, the run
summary shows the train - validation gap, and a tiny agent learns the sign rule of a strong
AR(1) market. Real SB3 training, real files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from stable_baselines3 import PPO

from hpo_record import files
from hpo_app.app import engine_from_config, run
from hpo_app.features import FEATURE_NAMES, FEATURE_SETS
from hpo_app.reference import reference_positions
from hpo_app.metrics import MEMORIZED_MARGIN
from hpo_app.trading_env import TradingEnv, model_policy, run_episode
from hpo_app.training import AgentRun
from tests.conftest import SMALL_DATA, TINY_MODEL, compose_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _agent(overrides: list[str], tmp_path: Path) -> AgentRun:
    engine = engine_from_config(compose_config([*SMALL_DATA, *overrides]), tmp_path)
    return AgentRun(engine.prepare(), engine.env_spec, engine.model_spec, engine.train_spec, seed=0)


@pytest.mark.parametrize("features, names", [
    ("returns", FEATURE_SETS["returns"]),
    ("price", FEATURE_SETS["price"]),
    ("[vol_10,ret_1]", ("vol_10", "ret_1")),
])
def test_the_feature_set_and_window_shape_what_the_agent_sees(features: str, names: tuple[str, ...],
                                                             tmp_path: Path) -> None:
    agent = _agent([f"env.features={features}", "env.window=4"], tmp_path)
    full = _agent(["env.window=4", "env.features=all"], tmp_path)
    assert agent.prepared.feature_names == names
    model = agent.build()
    assert model.observation_space.shape == (4 * len(names) + 1,)
    # The columns are the full data's, scaled the same way (train statistics per column).
    cols = [FEATURE_NAMES.index(n) for n in names]
    np.testing.assert_array_equal(agent.prepared.features, full.prepared.features[:, cols])
    env = model.get_env().envs[0].unwrapped
    obs, info = env.reset(options={"full_segment": True})
    t = info["bar"]
    np.testing.assert_array_equal(obs[:-1], agent.prepared.features[t - 3:t + 1].reshape(-1))


def test_observation_noise_and_reward_scale_reach_the_training_env_only(tmp_path: Path) -> None:
    agent = _agent(["env.obs_noise=0.4", "env.reward_scale=50"], tmp_path)
    model = agent.build()
    train_env = model.get_env().envs[0].unwrapped
    assert (train_env.obs_noise, train_env.reward_scale) == (0.4, 50.0)
    _, episode = agent.metrics(model, "val")  # builds the evaluation env
    val_env = agent._eval_envs["val"]
    assert (val_env.obs_noise, val_env.reward_scale) == (0.0, 1.0)


def test_observation_noise_is_gaussian_of_the_set_size_and_rewards_are_scaled() -> None:
    rng = np.random.default_rng(0)
    n, window = 400, 3
    features = rng.standard_normal((n, 2)).astype(np.float32)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    clean = TradingEnv(features, close, window - 1, n - 1, window=window, cost_bps=5.0)
    noisy = TradingEnv(features, close, window - 1, n - 1, window=window, cost_bps=5.0, obs_noise=0.3,
                       reward_scale=10.0, seed=1)
    a, _ = clean.reset(options={"full_segment": True})
    b, _ = noisy.reset(options={"full_segment": True})
    diffs = [b[:-1] - a[:-1]]
    for _ in range(300):
        a, r_clean, *_, info_clean = clean.step(2)
        b, r_noisy, *_, info_noisy = noisy.step(2)
        diffs.append(b[:-1] - a[:-1])
        assert info_noisy["net_return"] == info_clean["net_return"]  # what a step earns is unchanged
        assert r_noisy == pytest.approx(10.0 * r_clean, rel=1e-12)
        assert a[-1] == b[-1]  # the position is never noised
    diffs = np.concatenate(diffs)
    assert abs(diffs.mean()) < 0.03 and diffs.std() == pytest.approx(0.3, rel=0.1)


def _curve_run(keep: str, out: Path) -> tuple[dict, pd.DataFrame]:
    overrides = [*SMALL_DATA, *TINY_MODEL["ppo"], "model.learning_rate=0.003", "train.total_timesteps=640",
                 "train.eval_every=64", f"train.keep={keep}"]
    run(compose_config(overrides), out)
    return json.loads((out / files.METRICS_FILE).read_text()), pd.read_csv(out / files.EVAL_CURVE_FILE)


def test_keep_best_restores_exactly_the_best_evaluations_policy(tmp_path: Path) -> None:
    last, last_curve = _curve_run("last", tmp_path / "last")
    best, best_curve = _curve_run("best", tmp_path / "best")
    pd.testing.assert_frame_equal(best_curve, last_curve)  # keeping a copy changes nothing in training
    values = best_curve["objective"].to_numpy()
    i = int(np.argmax(values))  # the first of equal values: the shorter-trained policy
    assert i != len(values) - 1, "this run's best evaluation is its last: the test would not tell keep from last"
    assert last["objective"]["values"][0] == values[-1] and last["kept"] is None
    assert best["objective"]["values"][0] == values[i] == best["metrics"]["val/sharpe"]
    assert best["kept"] == {"rule": "best", "timesteps": [int(best_curve["timesteps"].iloc[i])]}
    # The saved agent is that policy: replayed on validation it scores the best evaluation's value.
    agent = _agent([*TINY_MODEL["ppo"]], tmp_path / "x")
    model = PPO.load(tmp_path / "best" / files.MODEL_FILE, device="cpu")
    metrics, _ = agent.metrics(model, "val")
    assert metrics["val/sharpe"] == values[i]
    assert best["metrics"]["test/sharpe"] == agent.metrics(model, "test")[0]["test/sharpe"]


def test_the_run_summary_shows_the_gap_and_flags_memorization(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hpo_app.engine")
    overrides = [*SMALL_DATA, *TINY_MODEL["ppo"], "train.total_timesteps=256", "train.eval_every=128"]
    run(compose_config(overrides), tmp_path)
    m = json.loads((tmp_path / files.METRICS_FILE).read_text())
    gap = m["metrics"]["train/sharpe"] - m["metrics"]["val/sharpe"]
    ref = m["baselines"]["reference"]
    line = next(r.getMessage() for r in caplog.records if "train - val sharpe" in r.getMessage())
    assert line.split() == ["gap", "train", "-", "val", "sharpe", f"{gap:.2f}", "(reference",
                            f"{ref['train/sharpe'] - ref['val/sharpe']:.2f})"]
    warned = any("memorized its training bars" in r.getMessage() for r in caplog.records)
    excess = gap - (ref["train/sharpe"] - ref["val/sharpe"])
    assert warned == (m["metrics"]["train/sharpe"] > ref["train/sharpe"] and excess > MEMORIZED_MARGIN)


@pytest.mark.slow
def test_a_tiny_agent_learns_the_sign_rule_of_a_strong_ar1_market(tmp_path: Path) -> None:
    """AR(1) coefficient 0.5 over 1,200 bars: the agent that sees the last return should hold its
    sign on most test bars, and earn most of what that rule earns."""
    overrides = ["data=edge", "data.edge=0.5", "data.n_bars=1200", "env.window=1", "env.features=returns",
                 "model.gamma=0.5", "model.net_width=16", "model.net_depth=1", "train.total_timesteps=20000",
                 "train.eval_every=5000"]
    cfg = compose_config(overrides)
    run(cfg, tmp_path)
    m = json.loads((tmp_path / files.METRICS_FILE).read_text())
    engine = engine_from_config(cfg, tmp_path / "x")
    prepared = engine.prepare()
    start, end = prepared.segments["test"]
    equity = pd.read_csv(tmp_path / files.EQUITY_FILE)
    positions = equity.loc[equity["segment"] == "test", "position"].to_numpy()[:-1]
    agree = np.mean(positions == reference_positions(prepared.close, start, end))
    assert agree > 0.8, f"the agent holds the last return's sign on {agree:.0%} of test bars"
    assert m["metrics"]["test/sharpe"] > 0.7 * m["baselines"]["reference"]["test/sharpe"] > 0
    model = PPO.load(tmp_path / files.MODEL_FILE, device="cpu")
    env = TradingEnv(prepared.features, prepared.close, start, end, window=1, cost_bps=5.0)
    np.testing.assert_array_equal(run_episode(env, model_policy(model)).positions, positions)


def test_runs_with_different_windows_are_scored_on_the_same_bars(tmp_path: Path) -> None:
    """So a sweep that searches the window can compare its trials bar by bar (the report's PBO)."""
    records = []
    for window in (1, 5):
        overrides = [*SMALL_DATA, *TINY_MODEL["ppo"], f"env.window={window}", "train.total_timesteps=128",
                     "train.eval_every=64", "train.save_model=false"]
        run(compose_config(overrides), tmp_path / str(window))
        records.append(json.loads((tmp_path / str(window) / files.METRICS_FILE).read_text()))
    assert records[0]["segments"] == records[1]["segments"]
    assert len(records[0]["val_returns"]) == len(records[1]["val_returns"]) == records[0]["segments"]["val"]["bars"]
    assert records[0]["baselines"] == records[1]["baselines"]
