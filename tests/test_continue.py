"""A run that continues a saved model (``train.init_from``, population-based training's intervals):
real SB3 trainings, the saved files read back, nothing mocked.

What must hold: the continued model is the saved one (its first evaluation is the parent's last,
its optimizer state and timestep counter are the parent's, DQN's replay buffer too), and the
continuing run's hyperparameters are the ones SB3 uses from then on.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from stable_baselines3 import DQN, PPO

from hpo_record import files, job as job_record
from hpo_app.app import engine_from_config, run
from hpo_app.engine import ConfigError, Evaluation
from hpo_app.models import ModelConfigError
from hpo_app.training import AgentRun
from tests.conftest import SMALL_DATA, TINY_MODEL, compose_config

EVERY = 64
PPO_BASE = (*SMALL_DATA, *TINY_MODEL["ppo"], f"train.eval_every={EVERY}")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _curve(job: Path) -> pd.DataFrame:
    return pd.read_csv(job / files.EVAL_CURVE_FILE)


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("parent")
    run(compose_config([*PPO_BASE, "train.total_timesteps=256"]), out)
    return out


def test_the_continued_model_starts_where_its_parent_ended(parent: Path, tmp_path: Path) -> None:
    run(compose_config([*PPO_BASE, "train.total_timesteps=384", f"train.init_from={parent}"]), tmp_path)
    before, after = _curve(parent), _curve(tmp_path)
    assert after["timesteps"].iloc[0] == before["timesteps"].iloc[-1] == 256
    # The same weights on the same validation segment: the same deterministic evaluation.
    assert after["objective"].iloc[0] == before["objective"].iloc[-1]
    assert after["timesteps"].iloc[-1] == 384
    assert PPO.load(tmp_path / files.MODEL_FILE).num_timesteps == 384
    rec = job_record.read(tmp_path)
    assert rec.timesteps == 128  # trained by this job
    assert rec.lineage == {"init_from": str(parent), "from_timesteps": 256}


def test_weights_and_optimizer_state_are_the_parents(parent: Path) -> None:
    cfg = compose_config([*PPO_BASE, "train.total_timesteps=384", f"train.init_from={parent}"])
    engine = engine_from_config(cfg, Path("/dev/null"))
    agent = AgentRun(engine.prepare(), engine.env_spec, engine.model_spec, engine.train_spec, seed=0)
    continued, saved = agent.resume(parent), PPO.load(parent / files.MODEL_FILE)
    for (name, a), b in zip(continued.policy.state_dict().items(), saved.policy.state_dict().values()):
        assert torch.equal(a, b), name
    adam, adam_saved = continued.policy.optimizer.state_dict(), saved.policy.optimizer.state_dict()
    assert adam["state"] and adam["state"].keys() == adam_saved["state"].keys()
    for key, state in adam["state"].items():
        assert torch.equal(state["exp_avg"], adam_saved["state"][key]["exp_avg"])
        assert int(state["step"]) == int(adam_saved["state"][key]["step"]) > 0


def _episode_starts(model: PPO, n: int = 6) -> list[int]:
    """The first bars of the next n training episodes the model's env draws."""
    starts = []
    for _ in range(n):
        model.env.reset()
        starts.append(int(model.env.reset_infos[0]["bar"]))
    return starts


def test_a_continued_run_draws_new_episodes_reproducibly(parent: Path, tmp_path: Path) -> None:
    # PBT's intervals: were each job re-seeded with the run's seed (or any one seed), every interval
    # would train on the first (or second) interval's episodes again.
    later = tmp_path / "later"  # the parent continued once more: a checkpoint further on
    run(compose_config([*PPO_BASE, "train.total_timesteps=384", f"train.init_from={parent}"]), later)
    cfg = compose_config([*PPO_BASE, "env.episode_length=64"])
    engine = engine_from_config(cfg, Path("/dev/null"))

    def agent() -> AgentRun:
        return AgentRun(engine.prepare(), engine.env_spec, engine.model_spec, engine.train_spec, seed=0)

    fresh = _episode_starts(agent().build())
    continued, further = _episode_starts(agent().resume(parent)), _episode_starts(agent().resume(later))
    assert len(set(fresh)) > 1  # random windows, not one fixed start
    assert len({tuple(fresh), tuple(continued), tuple(further)}) == 3
    assert _episode_starts(agent().resume(parent)) == continued


def test_the_continuing_runs_hyperparameters_reach_sb3(parent: Path, tmp_path: Path) -> None:
    saved = PPO.load(parent / files.MODEL_FILE)
    new = {"learning_rate": 1.7e-3, "ent_coef": 0.037, "clip_range": 0.31, "gae_lambda": 0.83}
    assert all(getattr(saved, k) != v for k, v in new.items() if k != "clip_range")
    cfg = compose_config([*PPO_BASE, "train.total_timesteps=448", f"train.init_from={parent}",
                          *(f"model.{k}={v}" for k, v in new.items())])
    engine = engine_from_config(cfg, tmp_path)
    seen: list[tuple[int, float, float, float, float]] = []

    def look(point: Evaluation) -> None:  # during training, right after SB3's update of a rollout
        m = engine.current_model
        assert m is not None
        seen.append((point.timesteps, m.policy.optimizer.param_groups[0]["lr"], m.ent_coef, m.clip_range(0.5),
                     m.rollout_buffer.gae_lambda))

    engine.on_evaluation = look
    engine.run()
    trained = [s for s in seen if s[0] > 256]
    assert trained, seen
    for _, lr, ent_coef, clip, gae_lambda in trained:
        assert (lr, ent_coef, clip, gae_lambda) == pytest.approx(
            (new["learning_rate"], new["ent_coef"], new["clip_range"], new["gae_lambda"]))
    again = PPO.load(tmp_path / files.MODEL_FILE)
    assert again.learning_rate == new["learning_rate"] and again.ent_coef == new["ent_coef"]


def test_dqn_continues_its_replay_buffer(tmp_path: Path) -> None:
    base = (*SMALL_DATA, *TINY_MODEL["dqn"], f"train.eval_every={EVERY}", "train.save_replay_buffer=true")
    first, second = tmp_path / "first", tmp_path / "second"
    run(compose_config([*base, "train.total_timesteps=200"]), first)
    assert (first / files.REPLAY_BUFFER_FILE).is_file()
    parent = DQN.load(first / files.MODEL_FILE)
    parent.load_replay_buffer(first / files.REPLAY_BUFFER_FILE)
    assert parent.replay_buffer.size() == 200
    cfg = compose_config([*base, "train.total_timesteps=300", f"train.init_from={first}"])
    engine = engine_from_config(cfg, second)
    agent = AgentRun(engine.prepare(), engine.env_spec, engine.model_spec, engine.train_spec, seed=0)
    continued = agent.resume(first)
    assert continued.replay_buffer.size() == 200
    assert (continued.replay_buffer.observations[:200] == parent.replay_buffer.observations[:200]).all()
    run(cfg, second)
    final = DQN.load(second / files.MODEL_FILE)
    final.load_replay_buffer(second / files.REPLAY_BUFFER_FILE)
    assert final.num_timesteps == 300 and final.replay_buffer.size() == 300


def test_a_normal_run_saves_no_replay_buffer(tmp_path: Path) -> None:
    run(compose_config([*SMALL_DATA, *TINY_MODEL["dqn"], "train.total_timesteps=100", "train.eval_every=50"]),
        tmp_path)
    assert (tmp_path / files.MODEL_FILE).is_file() and not (tmp_path / files.REPLAY_BUFFER_FILE).exists()


@pytest.mark.parametrize("overrides, error, words", [
    (["model.net_width=32"], ModelConfigError, "network"),
    (["env.window=5"], ModelConfigError, "cannot continue"),
    (["validation=walkforward"], ConfigError, "validation=holdout"),
])
def test_a_config_that_cannot_continue_the_model_is_one_line(parent: Path, tmp_path: Path, overrides: list[str],
                                                             error: type, words: str) -> None:
    cfg = compose_config([*PPO_BASE, "train.total_timesteps=384", f"train.init_from={parent}", *overrides])
    with pytest.raises(error) as info:
        run(cfg, tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert f"train.init_from={parent}" in message
    assert words in message
    assert json.loads((tmp_path / files.METRICS_FILE).read_text())["state"] == "failed"


def test_another_algorithms_model_is_one_line(parent: Path, tmp_path: Path) -> None:
    """A DQN run told to continue the PPO parent: named from its record, or, a model.zip alone, from
    what SB3 finds in it, not SB3's AttributeError."""
    dqn = [*SMALL_DATA, *TINY_MODEL["dqn"], f"train.eval_every={EVERY}", "train.total_timesteps=384"]
    with pytest.raises(ModelConfigError, match=f"train.init_from={parent}: it holds a PPO model, this run trains DQN"):
        run(compose_config([*dqn, f"train.init_from={parent}"]), tmp_path / "recorded")
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(parent / files.MODEL_FILE, bare / files.MODEL_FILE)
    with pytest.raises(ModelConfigError, match="model.zip is not a DQN model"):
        run(compose_config([*dqn, f"train.init_from={bare}"]), tmp_path / "bare-run")


def test_a_model_that_already_has_its_steps_is_evaluated_as_it_is(parent: Path, tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    # PPO trains whole rollouts, so an interval may end past its mark; the next one may have nothing to do.
    run(compose_config([*PPO_BASE, "train.total_timesteps=200", f"train.init_from={parent}"]), tmp_path)
    assert "nothing left to train" in caplog.text
    curve, before = _curve(tmp_path), _curve(parent)
    assert list(curve["timesteps"]) == [256] and curve["objective"].iloc[0] == before["objective"].iloc[-1]
    assert job_record.read(tmp_path).timesteps == 0
    assert PPO.load(tmp_path / files.MODEL_FILE).num_timesteps == 256


def test_a_missing_checkpoint_is_one_line(tmp_path: Path) -> None:
    cfg = compose_config([*PPO_BASE, "train.total_timesteps=384", f"train.init_from={tmp_path / 'nowhere'}"])
    with pytest.raises(ModelConfigError, match=r"no model\.zip there"):
        run(cfg, tmp_path / "out")


def test_a_checkpoint_cut_short_is_one_line(parent: Path, tmp_path: Path) -> None:
    """What a job killed with kill -9 while saving leaves: half a model.zip."""
    cut = tmp_path / "cut"
    cut.mkdir()
    data = (parent / files.MODEL_FILE).read_bytes()
    (cut / files.MODEL_FILE).write_bytes(data[:len(data) // 2])
    cfg = compose_config([*PPO_BASE, "train.total_timesteps=384", f"train.init_from={cut}"])
    with pytest.raises(ModelConfigError, match=r"model\.zip cannot be read .*cut short"):
        run(cfg, tmp_path / "out")
