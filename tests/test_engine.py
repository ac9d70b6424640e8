"""End-to-end tests of the TrainingEngine through Hydra's compose API: real SB3, real files.

The expected numbers are computed here from the same data (buy-and-hold from the closes, the
agent's metrics by replaying the saved model over each segment), never typed in.
"""

from __future__ import annotations

import re

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import DictConfig, OmegaConf
from stable_baselines3 import PPO

from hpo_record import files, job as job_record
from hpo_app.app import engine_from_config, run
from hpo_app.market import load_market_data
from hpo_app.engine import Evaluation, TrainingDiverged
from hpo_app.features import PreparedData, feature_columns, prepare_data, select_features
from hpo_app.metrics import METRIC_NAMES, compute_metrics
from hpo_app.trading_env import TradingEnv, model_policy, run_episode
from tests.conftest import SMALL_DATA, SPY_SAMPLE, TINY_MODEL, compose_config

TOTAL, EVERY = 256, 64
PPO_RUN = (*SMALL_DATA, *TINY_MODEL["ppo"], f"train.total_timesteps={TOTAL}", f"train.eval_every={EVERY}")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@dataclass(frozen=True)
class Finished:
    cfg: DictConfig
    objective: float | list[float]
    out: Path

    @property
    def metrics_file(self) -> dict[str, Any]:
        return json.loads((self.out / files.METRICS_FILE).read_text())


def _run(overrides: tuple[str, ...] | list[str], out: Path) -> Finished:
    cfg = compose_config(overrides)
    return Finished(cfg, run(cfg, out), out)


def _prepared(cfg: DictConfig) -> PreparedData:
    """The engine's data, prepared again from the config (the same seeded series)."""
    market = load_market_data(OmegaConf.to_object(cfg.data))
    prepared = prepare_data(market.prices, window=cfg.env.window, train_frac=cfg.data.train_frac,
                            val_frac=cfg.data.val_frac, periods_per_year=market.periods_per_year,
                            source=market.source)
    return select_features(prepared, feature_columns(cfg.env.features))


def _hold_return(first: float, second: float, last: float, cost: float) -> float:
    """Buy-and-hold net return: the cost (fraction of equity) comes off the first period's return."""
    return (second / first - cost) * (last / second) - 1


def _metric_keys(segment: str) -> list[str]:
    return [f"{segment}/{m}" for m in METRIC_NAMES]


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    return _run(PPO_RUN, tmp_path_factory.mktemp("ppo_run"))


def test_run_writes_every_output_file(ppo_run: Finished) -> None:
    for name in (files.METRICS_FILE, files.EVAL_CURVE_FILE, files.EQUITY_FILE, files.MODEL_FILE):
        assert (ppo_run.out / name).is_file(), name
        assert (ppo_run.out / name).stat().st_size > 0, name
    assert not (ppo_run.out / files.ERROR_FILE).exists()


def test_metrics_file_has_sane_values(ppo_run: Finished) -> None:
    m = ppo_run.metrics_file
    assert m["schema"] == job_record.SCHEMA
    assert m["state"] == files.STATE_COMPLETE and m["error"] is None
    assert m["model"] == "ppo" and m["seed"] == ppo_run.cfg.seed
    assert m["timesteps"] == TOTAL
    assert m["seconds"] > 0
    assert m["trial"] is None
    prepared = _prepared(ppo_run.cfg)
    assert m["periods_per_year"] == prepared.periods_per_year
    assert set(m["segments"]) == set(files.SEGMENTS)
    for segment, (start, end) in prepared.segments.items():
        written = m["segments"][segment]
        assert written["bars"] == end - start > 0
        # Timestamps are written as equity.csv writes them (the index's own string form).
        stamps = prepared.index.astype(str)
        assert written["start"] == stamps[start] and written["end"] == stamps[end]

    expected_keys = {k for s in files.SEGMENTS for k in _metric_keys(s)}
    assert set(m["metrics"]) == expected_keys
    assert set(m["baselines"]) == set(files.BASELINES)  # the default data is the planted-edge market
    for values in (m["metrics"], *m["baselines"].values()):
        assert set(values) == expected_keys
        assert all(isinstance(v, float) and math.isfinite(v) for v in values.values())
    for segment in files.SEGMENTS:
        flat = m["baselines"]["flat"]
        assert flat[f"{segment}/n_trades"] == 0 and flat[f"{segment}/total_return"] == 0
        assert flat[f"{segment}/exposure"] == 0
        hold = m["baselines"]["buy_and_hold"]
        assert hold[f"{segment}/n_trades"] == 1 and hold[f"{segment}/exposure"] == 1


def test_objective_is_the_validation_sharpe(ppo_run: Finished) -> None:
    m = ppo_run.metrics_file
    assert isinstance(ppo_run.objective, float)
    assert ppo_run.objective == m["metrics"]["val/sharpe"]
    assert m["objective"] == {"metrics": ["val/sharpe"], "directions": ["maximize"], "values": [ppo_run.objective]}


def test_buy_and_hold_baseline_from_the_closes(ppo_run: Finished) -> None:
    prepared = _prepared(ppo_run.cfg)
    cost = ppo_run.cfg.env.cost_bps * 1e-4
    hold = ppo_run.metrics_file["baselines"]["buy_and_hold"]
    for segment, (start, end) in prepared.segments.items():
        close = prepared.close
        expected = _hold_return(close[start], close[start + 1], close[end], cost)
        assert hold[f"{segment}/total_return"] == pytest.approx(expected, rel=1e-9)


def test_eval_curve(ppo_run: Finished) -> None:
    curve = pd.read_csv(ppo_run.out / files.EVAL_CURVE_FILE)
    assert list(curve.columns) == ["timesteps", "objective", *_metric_keys("val")]
    assert len(curve) == TOTAL // EVERY
    assert curve["timesteps"].tolist() == list(range(EVERY, TOTAL + 1, EVERY))
    assert curve["timesteps"].is_monotonic_increasing and curve["timesteps"].is_unique
    np.testing.assert_array_equal(curve["objective"], curve["val/sharpe"])
    assert np.isfinite(curve.drop(columns="timesteps").to_numpy()).all()


def test_equity_curves_match_the_metrics(ppo_run: Finished) -> None:
    equity = pd.read_csv(ppo_run.out / files.EQUITY_FILE)
    assert list(equity.columns) == ["segment", "timestamp", "position", "agent", "buy_and_hold", "flat", "reference"]
    m = ppo_run.metrics_file
    assert equity["segment"].unique().tolist() == list(files.SEGMENTS)
    for segment in files.SEGMENTS:
        rows = equity[equity["segment"] == segment]
        assert len(rows) == m["segments"][segment]["bars"] + 1  # equity at every bar, 1.0 at the start
        assert pd.Timestamp(rows["timestamp"].iloc[0]) == pd.Timestamp(m["segments"][segment]["start"])
        assert pd.Timestamp(rows["timestamp"].iloc[-1]) == pd.Timestamp(m["segments"][segment]["end"])
        first, last = rows.iloc[0], rows.iloc[-1]
        assert first["agent"] == first["buy_and_hold"] == 1.0
        assert (rows["flat"] == 1.0).all()
        hold_return = m["baselines"]["buy_and_hold"][f"{segment}/total_return"]
        assert last["buy_and_hold"] == pytest.approx(1 + hold_return, rel=1e-12)
        assert last["agent"] == pytest.approx(1 + m["metrics"][f"{segment}/total_return"], rel=1e-12)
        assert rows["position"].iloc[:-1].isin([-1.0, 0.0, 1.0]).all() and np.isnan(last["position"])
        ref_return = m["baselines"]["reference"][f"{segment}/total_return"]
        assert last["reference"] == pytest.approx(1 + ref_return, rel=1e-12)


def test_the_reference_policy_holds_the_sign_of_the_last_return(ppo_run: Finished) -> None:
    """Recomputed with a plain loop from the closes: position sign(close[t]/close[t-1] - 1), 5 bps
    per unit of position change, from flat."""
    prepared = _prepared(ppo_run.cfg)
    m = ppo_run.metrics_file["baselines"]["reference"]
    cost = ppo_run.cfg.env.cost_bps * 1e-4
    for segment, (start, end) in prepared.segments.items():
        close, equity, held = prepared.close, 1.0, 0.0
        for t in range(start, end):
            position = 1.0 if close[t] > close[t - 1] else (-1.0 if close[t] < close[t - 1] else 0.0)
            equity *= 1 + position * (close[t + 1] / close[t] - 1) - cost * abs(position - held)
            held = position
        assert equity - 1 == pytest.approx(m[f"{segment}/total_return"], rel=1e-9)


def test_saved_model_loads_and_reproduces_the_recorded_agent(ppo_run: Finished) -> None:
    model = PPO.load(ppo_run.out / files.MODEL_FILE, device="cpu")
    prepared = _prepared(ppo_run.cfg)
    equity = pd.read_csv(ppo_run.out / files.EQUITY_FILE)
    metrics = ppo_run.metrics_file["metrics"]
    env_cfg = ppo_run.cfg.env
    for segment, (start, end) in prepared.segments.items():
        env = TradingEnv(prepared.features, prepared.close, start, end, window=env_cfg.window,
                         cost_bps=env_cfg.cost_bps, allow_short=env_cfg.allow_short)
        obs, _ = env.reset()
        action, _ = model.predict(obs, deterministic=True)
        assert env.action_space.contains(int(action))
        record = run_episode(env, model_policy(model))
        recorded = equity.loc[equity["segment"] == segment, "position"].to_numpy()[:-1]
        np.testing.assert_array_equal(record.positions, recorded)
        replayed = compute_metrics(record.net_returns, record.positions, prepared.periods_per_year)
        for name, value in replayed.items():
            assert metrics[f"{segment}/{name}"] == pytest.approx(value, rel=1e-12, abs=1e-12)


def test_same_seed_reproduces_exactly_and_hook_sees_each_evaluation(ppo_run: Finished, tmp_path: Path) -> None:
    engine = engine_from_config(compose_config(PPO_RUN), tmp_path)
    points: list[Evaluation] = []
    engine.on_evaluation = points.append
    result = engine.run()

    assert result.objective == ppo_run.objective  # exactly, not approximately
    assert result.metrics == ppo_run.metrics_file["metrics"]
    # The hook (the pruner) sees every evaluation made during training; the last point of the
    # curve is the fully trained policy, after learn() returned: nothing is left to prune there.
    assert [p.index for p in points] == list(range(1, TOTAL // EVERY))
    assert [p.timesteps for p in points] == list(range(EVERY, TOTAL, EVERY))
    curve = pd.read_csv(tmp_path / files.EVAL_CURVE_FILE)
    assert len(curve) == len(points) + 1
    for point, (_, row) in zip(points, curve.iloc[:-1].iterrows(), strict=True):
        assert set(point.metrics) == set(_metric_keys("val"))
        assert point.objective == point.metrics["val/sharpe"] == row["objective"]
        assert row["timesteps"] == point.timesteps
    assert curve["timesteps"].iloc[-1] == TOTAL
    assert curve["objective"].iloc[-1] == result.objective  # the final point is the objective
    reference = pd.read_csv(ppo_run.out / files.EVAL_CURVE_FILE)
    pd.testing.assert_frame_equal(curve, reference)


def test_different_seed_gives_a_different_objective(ppo_run: Finished, tmp_path: Path) -> None:
    other = _run((*PPO_RUN, "seed=1"), tmp_path)
    assert other.metrics_file["seed"] == 1
    assert other.objective != ppo_run.objective
    assert other.metrics_file["baselines"] == ppo_run.metrics_file["baselines"]  # same data


def test_multi_objective_returns_a_list(tmp_path: Path) -> None:
    done = _run((*SMALL_DATA, *TINY_MODEL["a2c"], "objective=sharpe_drawdown",
                 "train.total_timesteps=128", "train.eval_every=64"), tmp_path)
    metrics = done.metrics_file
    assert isinstance(done.objective, list) and len(done.objective) == 2
    assert all(isinstance(v, float) and math.isfinite(v) for v in done.objective)
    assert done.objective == [metrics["metrics"]["val/sharpe"], metrics["metrics"]["val/max_drawdown"]]
    assert metrics["objective"]["directions"] == ["maximize", "minimize"]
    assert metrics["model"] == "a2c"


def test_csv_run_reports_val_and_test_beside_buy_and_hold(tmp_path: Path) -> None:
    done = _run(("data=csv", f"data.path={SPY_SAMPLE}", *TINY_MODEL["a2c"],
                 "train.total_timesteps=128", "train.eval_every=64"), tmp_path)
    m = done.metrics_file
    assert m["state"] == files.STATE_COMPLETE
    assert SPY_SAMPLE.name in m["data_source"]
    assert m["periods_per_year"] == 252  # daily bars
    dates = pd.read_csv(SPY_SAMPLE)["Date"]
    assert m["segments"]["train"]["start"] > dates.iloc[0]  # after the feature warm-up
    assert m["segments"]["test"]["end"].startswith(dates.iloc[-1])
    for segment in ("val", "test"):
        for key in _metric_keys(segment):
            assert math.isfinite(m["metrics"][key]) and math.isfinite(m["baselines"]["buy_and_hold"][key])
    # buy-and-hold on the file's adjusted closes, computed here from the CSV itself
    adj = pd.read_csv(SPY_SAMPLE, index_col="Date")["Adj Close"]
    for segment in ("val", "test"):
        seg = m["segments"][segment]
        first = adj.index.get_loc(seg["start"][:10])
        last = adj.index.get_loc(seg["end"][:10])
        expected = _hold_return(adj.iloc[first], adj.iloc[first + 1], adj.iloc[last], done.cfg.env.cost_bps * 1e-4)
        assert m["baselines"]["buy_and_hold"][f"{segment}/total_return"] == pytest.approx(expected, rel=1e-9)


def _assert_failed_run(out: Path, error_type: str) -> None:
    m = json.loads((out / files.METRICS_FILE).read_text())
    assert m["state"] == files.STATE_FAILED
    assert m["error"].startswith(f"{error_type}:") and "\n" not in m["error"]
    assert m["objective"]["values"] is None
    assert error_type in (out / files.ERROR_FILE).read_text()
    assert "Traceback" in (out / files.ERROR_FILE).read_text()


def test_an_overflowing_update_at_the_last_step_raises_training_diverged(tmp_path: Path) -> None:
    # One A2C update, at the very end, on rewards that overflow float32: the weights become non-finite
    # and the final check sees it. (A learning rate above 1, which did the same, is refused by hpo_app.checks.)
    cfg = compose_config((*SMALL_DATA, "model=a2c", "model.n_steps=64", "env.reward_scale=1e300",
                          "train.total_timesteps=64", "train.eval_every=64"))
    with pytest.raises(TrainingDiverged, match="non-finite weights"):
        run(cfg, tmp_path)
    _assert_failed_run(tmp_path, "TrainingDiverged")
    assert not (tmp_path / files.MODEL_FILE).exists()


def _overflow_mid_training() -> DictConfig:
    return compose_config((*SMALL_DATA, "model=a2c", "model.n_steps=16", "env.reward_scale=1e300",
                           "train.total_timesteps=128", "train.eval_every=64"))


def test_divergence_mid_training_is_recorded_as_a_failed_run(tmp_path: Path) -> None:
    with pytest.raises(Exception) as caught:
        run(_overflow_mid_training(), tmp_path)
    _assert_failed_run(tmp_path, type(caught.value).__name__)


def test_divergence_mid_training_raises_training_diverged(tmp_path: Path) -> None:
    with pytest.raises(TrainingDiverged):
        run(_overflow_mid_training(), tmp_path)


def test_poisoned_dqn_weights_are_caught_at_the_next_evaluation(tmp_path: Path) -> None:
    # DQN acts on NaN Q-values without complaint, so only the engine's own check can notice.
    cfg = compose_config((*SMALL_DATA, *TINY_MODEL["dqn"], "train.total_timesteps=192", "train.eval_every=64"))
    engine = engine_from_config(cfg, tmp_path)
    seen: list[int] = []

    def poison(point: Evaluation) -> None:
        seen.append(point.index)
        assert engine.current_model is not None
        with torch.no_grad():
            next(engine.current_model.policy.parameters()).fill_(float("nan"))

    engine.on_evaluation = poison
    with pytest.raises(TrainingDiverged, match=r"non-finite weights .* after (\d+) steps") as caught:
        engine.run()
    steps = int(re.search(r"after (\d+) steps", str(caught.value)).group(1))
    assert steps == 2 * 64  # off-policy weights are checked at each evaluation
    assert seen == [1]
    _assert_failed_run(tmp_path, "TrainingDiverged")
    assert len(pd.read_csv(tmp_path / files.EVAL_CURVE_FILE)) == 1


@pytest.mark.parametrize("model", ["ppo", "dqn", "a2c"])
def test_a_run_leaves_nothing_in_the_temp_directory(model: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """SB3's default logger makes an empty ``SB3-<time>`` directory under the temp dir on every
    learn() (one per trial, thousands after a few sweeps); the engine gives it a logger without outputs."""
    import tempfile

    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.delenv("SB3_LOGDIR", raising=False)  # (conftest sets it for tests that call learn())
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    _run((*SMALL_DATA, *TINY_MODEL[model], "train.total_timesteps=128", "train.eval_every=64"), tmp_path / "out")
    assert [p.name for p in temp.iterdir() if p.name.startswith("SB3-")] == []  # (torch keeps one cache dir)
