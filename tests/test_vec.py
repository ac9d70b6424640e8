"""Vectorized training (``env.n_envs``) and the one-batch evaluation of a deterministic policy, on real
(small) stable-baselines3 trainings."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from hpo_app.app import engine_from_config, run
from hpo_app.models import algorithm_class
from hpo_app.trading_env import model_actions, model_policy, run_deterministic, run_episode
from hpo_app.training import AgentRun
from tests.conftest import SMALL_DATA, TINY_MODEL, compose_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BUDGET = ("train.total_timesteps=512", "train.eval_every=256")


def _record(path: Path) -> dict:
    data = json.loads((path / "metrics.json").read_text())
    data.pop("seconds")
    return data


@pytest.mark.parametrize("model", ["ppo", "a2c", "dqn"])
def test_a_vectorized_run_is_reproducible_and_its_model_has_the_envs(model: str, tmp_path: Path) -> None:
    overrides = [*SMALL_DATA, *[o for o in TINY_MODEL[model] if not o.startswith("env.n_envs")], *BUDGET,
                 "env.n_envs=4"]
    run(compose_config(overrides), tmp_path / "a")
    run(compose_config(overrides), tmp_path / "b")
    assert _record(tmp_path / "a") == _record(tmp_path / "b")  # same seed, same record
    with zipfile.ZipFile(tmp_path / "a" / "model.zip") as saved:
        data = json.loads(saved.read("data"))
    assert data["n_envs"] == 4  # env.n_envs reached SB3
    loaded = algorithm_class(model).load(tmp_path / "a" / "model.zip")
    assert loaded.n_envs == 4
    other = [*overrides, "seed=1"]
    run(compose_config(other), tmp_path / "c")
    assert _record(tmp_path / "c")["metrics"] != _record(tmp_path / "a")["metrics"]  # the seed matters


def test_each_copy_of_the_training_env_has_its_own_seed(tmp_path: Path) -> None:
    engine = engine_from_config(compose_config([*SMALL_DATA, "env.n_envs=3"]), tmp_path)
    agent = AgentRun(engine.prepare(), engine.env_spec, engine.model_spec, engine.train_spec, seed=5)
    venv = agent._seeded_train_env()
    venv.reset()
    starts = [int(e.unwrapped._t) for e in venv.envs]
    assert len(set(starts)) == 3  # three random episode starts, not one repeated
    again = agent._seeded_train_env()
    again.reset()
    assert [int(e.unwrapped._t) for e in again.envs] == starts  # and the same ones for the same seed


@pytest.mark.parametrize("model", ["ppo", "a2c", "dqn"])
@pytest.mark.parametrize("allow_short", [True, False])
def test_the_one_batch_evaluation_is_the_step_by_step_episode(model: str, allow_short: bool, tmp_path: Path) -> None:
    cfg = compose_config([*SMALL_DATA, *TINY_MODEL[model], f"env.allow_short={str(allow_short).lower()}",
                          "env.window=3", "env.features=returns_volatility"])
    engine = engine_from_config(cfg, tmp_path)
    agent = AgentRun(engine.prepare(), engine.env_spec, engine.model_spec, engine.train_spec, seed=0)
    trained = agent.build()
    trained.learn(300)
    for segment in ("train", "val", "test"):
        env = agent.segment_env(segment, training=False)
        batched = run_deterministic(env, model_actions(trained))
        stepped = run_episode(agent.segment_env(segment, training=False), model_policy(trained))
        for name in ("positions", "net_returns", "costs", "bars"):
            np.testing.assert_array_equal(getattr(batched, name), getattr(stepped, name), err_msg=name)
        assert len(np.unique(batched.positions)) > 1 or segment != "train"  # a policy that trades


def test_the_one_batch_evaluation_refuses_a_noisy_env(tmp_path: Path) -> None:
    engine = engine_from_config(compose_config([*SMALL_DATA, "env.obs_noise=0.5"]), tmp_path)
    agent = AgentRun(engine.prepare(), engine.env_spec, engine.model_spec, engine.train_spec, seed=0)
    with pytest.raises(ValueError, match="observation noise"):
        run_deterministic(agent.segment_env("train", training=True), lambda obs: np.zeros(len(obs)))


def test_n_envs_is_checked(tmp_path: Path) -> None:
    from hpo_app.specs import ConfigError

    with pytest.raises(ConfigError, match=r"^env\.n_envs=0: must be an integer >= 1"):
        engine_from_config(compose_config(["env.n_envs=0"]), tmp_path)
