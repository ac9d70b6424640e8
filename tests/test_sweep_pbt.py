"""Population-based training end to end: ``python -m hpo_app -m scheduler=pbt`` on Ray, real SB3
jobs continuing each other's saved models, the study and the job directories read back.

What must hold: exploit really copies weights (an interval that continues a checkpoint first
evaluates it exactly as its parent last did), explore really changes hyperparameters and they
reach SB3 (the saved model carries them), a failed member is replaced and the sweep goes on, and
an interrupted population resumes from its latest checkpoints.
"""

from __future__ import annotations

import itertools
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState
from stable_baselines3 import PPO

from hpo_record import files, job as job_record
from hpo_record.study import ATTR_END, ATTR_EXPLOITED, ATTR_MEMBER, ATTR_PARENT, ATTR_REASON, ATTR_START
from tests.sweep_helpers import REPO, explain, load_study, n_complete, results, run_app

pytestmark = pytest.mark.slow

TOTAL, INTERVAL, MEMBERS = 384, 128, 4
PBT = ["model=ppo", "scheduler=pbt", "data.n_bars=600", "model.n_steps=64", "model.batch_size=32", "model.n_epochs=2",
       "env.n_envs=1",
       f"train.total_timesteps={TOTAL}", "train.eval_every=64", f"hydra.sweeper.pbt.perturbation_interval={INTERVAL}",
       f"hydra.sweeper.pbt.population_size={MEMBERS}", "hydra.sweeper.n_jobs=2"]
MUTABLE = ("model.learning_rate", "model.ent_coef", "model.clip_range", "model.gae_lambda", "model.gamma")


def _intervals(sweep: Path) -> list[Any]:
    return [t for t in load_study(sweep, "ppo").trials if t.user_attrs.get(ATTR_MEMBER) is not None]


def _curve(trial: Any) -> pd.DataFrame:
    return pd.read_csv(Path(trial.user_attrs["job_dir"]) / files.EVAL_CURVE_FILE)


@pytest.fixture(scope="module")
def pbt_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    sweep = tmp_path_factory.mktemp("pbt") / "sweep"
    # Half the population is ranked bottom, so members are cloned at each interval.
    proc = run_app([*PBT, "hydra.sweeper.pbt.quantile_fraction=0.5"], sweep)
    assert proc.returncode == 0, explain(proc)
    return sweep, proc


def test_every_member_trains_its_budget_in_intervals_that_continue_each_other(pbt_sweep) -> None:
    sweep, proc = pbt_sweep
    out = proc.stdout + proc.stderr
    assert f"Population-based training: {MEMBERS} members x 3 interval(s) of {INTERVAL} steps" in out
    trials = {t.number: t for t in _intervals(sweep)}
    assert all(t.state == TrialState.COMPLETE for t in trials.values())
    assert len(trials) <= MEMBERS * 3
    ends = {m: max(t.user_attrs[ATTR_END] for t in trials.values() if t.user_attrs[ATTR_MEMBER] == m)
            for m in range(MEMBERS)}
    assert ends == {m: TOTAL for m in range(MEMBERS)}
    for t in trials.values():
        start, end, parent = (t.user_attrs[k] for k in (ATTR_START, ATTR_END, ATTR_PARENT))
        assert end == min(TOTAL, start + INTERVAL)
        rec = job_record.read(Path(t.user_attrs["job_dir"]))
        if parent is None:
            assert start == 0 and rec.lineage is None
        else:  # it continued its parent's saved model: the steps, and the job directory on disk
            assert start == trials[parent].user_attrs[ATTR_END]
            assert rec.lineage == {"init_from": trials[parent].user_attrs["job_dir"], "from_timesteps": start}
        assert PPO.load(Path(t.user_attrs["job_dir"]) / files.MODEL_FILE).num_timesteps == end
        assert f"trial {t.number} (job {t.user_attrs['job_num']}) COMPLETE" in out
    assert out.count("member ") >= len(trials)  # each progress line names its member


def test_exploit_copies_the_weights_so_the_clone_first_evaluates_as_its_parent_did(pbt_sweep) -> None:
    sweep, _ = pbt_sweep
    trials = {t.number: t for t in _intervals(sweep)}
    clones = [t for t in trials.values() if t.user_attrs[ATTR_REASON] == "exploit"]
    assert clones, "no member was cloned"
    for t in trials.values():
        parent = t.user_attrs[ATTR_PARENT]
        if parent is None:
            continue
        first, before = _curve(t).iloc[0], _curve(trials[parent]).iloc[-1]
        assert first["timesteps"] == before["timesteps"] == t.user_attrs[ATTR_START]
        assert first["objective"] == before["objective"] == trials[parent].value
    for t in clones:  # a clone continues another member's checkpoint
        donor = trials[t.user_attrs[ATTR_PARENT]]
        assert donor.user_attrs[ATTR_MEMBER] == t.user_attrs[ATTR_EXPLOITED] != t.user_attrs[ATTR_MEMBER]


def test_explore_changes_the_mutable_hyperparameters_and_sb3_trains_with_them(pbt_sweep) -> None:
    sweep, _ = pbt_sweep
    trials = {t.number: t for t in _intervals(sweep)}
    for t in trials.values():
        parent = t.user_attrs[ATTR_PARENT]
        if parent is None:
            continue
        donor = trials[parent].params
        inherited = {k: v for k, v in t.params.items() if k not in MUTABLE}
        assert inherited == {k: v for k, v in donor.items() if k not in MUTABLE}
        if t.user_attrs[ATTR_REASON] == "exploit":
            assert any(t.params[k] != donor[k] for k in MUTABLE)
        else:
            assert t.params == donor
        model = PPO.load(Path(t.user_attrs["job_dir"]) / files.MODEL_FILE)
        assert model.learning_rate == t.params["model.learning_rate"]
        assert model.ent_coef == t.params["model.ent_coef"]
        assert model.gamma == t.params["model.gamma"] and model.gae_lambda == t.params["model.gae_lambda"]
        assert model.clip_range(1.0) == t.params["model.clip_range"]


def test_the_result_is_the_best_member_at_the_end_with_its_schedule(pbt_sweep) -> None:
    sweep, proc = pbt_sweep
    trials = {t.number: t for t in _intervals(sweep)}
    final = [t for t in trials.values() if t.user_attrs[ATTR_END] == TOTAL]
    best = max(final, key=lambda t: t.value)
    res = results(sweep)
    assert res["best_value"] == best.value and res["best_trial"]["number"] == best.number
    assert res["pbt"]["best"]["member"] == best.user_attrs[ATTR_MEMBER]
    schedule = res["pbt"]["best_schedule"]
    assert [s["steps"] for s in schedule] == [[0, 128], [128, 256], [256, 384]]
    assert schedule[-1]["trial"] == best.number
    for earlier, later in itertools.pairwise(schedule):
        assert trials[later["trial"]].user_attrs[ATTR_PARENT] == earlier["trial"]
    for step in schedule:
        assert step["params"] == {k: v for k, v in trials[step["trial"]].params.items() if k in MUTABLE}
    assert len(res["pbt"]["intervals"]) == len(trials)
    out = proc.stdout + proc.stderr
    assert f"Best: member {res['pbt']['best']['member']} at the end of its budget" in out
    assert "steps 256-384 (trial" in out


def test_a_failed_member_is_replaced_and_the_sweep_goes_on(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    # A reward scale that overflows float32: the members that draw it diverge in their first interval.
    # It is not explored (only ent_coef is), so a clone keeps its donor's working one.
    proc = run_app([*PBT, "env.reward_scale=choice(1, 1e300)", "hydra.sweeper.pbt.mutable=[model.ent_coef]",
                    "sampler=random", "hydra.sweeper.sampler.seed=1",
                    "hydra.sweeper.max_failure_rate=1.0"], sweep)
    assert proc.returncode == 0, explain(proc)
    trials = _intervals(sweep)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert failed, "no member drew the failing reward scale (change the sampler's seed)"
    for t in failed:
        assert "non-finite weights" in t.user_attrs["error"]  # the engine's divergence check
        member = t.user_attrs[ATTR_MEMBER]
        later = [u for u in trials if u.number > t.number and u.user_attrs[ATTR_MEMBER] == member]
        assert later and later[0].user_attrs[ATTR_REASON] in ("replace", "restart")
        if later[0].user_attrs[ATTR_REASON] == "replace":
            assert later[0].params["env.reward_scale"] == 1
    res = results(sweep)
    assert res["pbt"]["finished_members"] == MEMBERS
    assert "failed; replaced by a clone of member" in proc.stdout + proc.stderr or \
        "failed; restarts from scratch" in proc.stdout + proc.stderr


def test_an_interrupted_population_resumes_from_its_latest_checkpoints(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    command = [sys.executable, "-m", "hpo_app", "-m", f"hydra.sweep.dir={sweep}", *PBT]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # Ctrl-C once the first intervals of every member are in
        if n_complete(sweep, "ppo") >= MEMBERS + 1:
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-3000:]
    before = {t.number: t for t in _intervals(sweep) if t.state == TrialState.COMPLETE}
    assert MEMBERS + 1 <= len(before) < MEMBERS * 3
    again = run_app([*PBT, "hydra.sweeper.resume=true"], sweep)
    assert again.returncode == 0, explain(again)
    assert f"resumed from {len(before)} finished interval(s)" in again.stdout + again.stderr
    trials = {t.number: t for t in _intervals(sweep)}
    new = [t for n, t in trials.items() if n > max(before) and t.state == TrialState.COMPLETE]
    assert new
    latest = {}
    for t in before.values():
        m = t.user_attrs[ATTR_MEMBER]
        if t.user_attrs[ATTR_END] >= latest.get(m, (0, None))[0]:
            latest[m] = (t.user_attrs[ATTR_END], t.number)
    for m, (end, number) in latest.items():  # each member's first resumed interval starts from its checkpoint
        if end == TOTAL:
            continue
        first = min((t for t in new if t.user_attrs[ATTR_MEMBER] == m), key=lambda t: t.number)
        assert first.user_attrs[ATTR_START] >= end
        if first.user_attrs[ATTR_REASON] == "continue":
            assert first.user_attrs[ATTR_PARENT] == number
    assert results(sweep)["pbt"]["finished_members"] == MEMBERS


def test_the_report_shows_the_population_and_its_replay_trains_the_result_again(pbt_sweep, tmp_path: Path) -> None:
    from analysis import pbt
    from analysis.report import build_report

    sweep, _ = pbt_sweep
    report = build_report([sweep], tmp_path / "report")
    (summary,) = report.analysis.sweeps
    res = results(sweep)
    assert int(summary.best["trial"]) == res["best_trial"]["number"]  # the best member at the end, not an interval
    kinds = {p.kind for p in report.plots}
    assert {"pbt_scores", "pbt_schedules"} <= kinds
    text = (tmp_path / "report" / "summary.md").read_text()
    assert "Population-based training: the best member at the end of its budget, trained in 3 interval(s)" in text
    decided = res["pbt"]["recommendation"]  # first in the sweep's part, and at the top
    head = "**Recommended: the control member, the untuned default.**" if decided["recommended"] == "control" \
        else f"**Recommended: {decided['recommended']}.**"
    assert head in text and text.index(head) < text.index("Population-based training: the best member")
    assert f"SPA p = {decided['p_value']:.3f}, on held-out validation bars" in text
    assert summary.pbt_schedule is not None
    assert list(summary.pbt_schedule["trial"]) == [s["trial"] for s in res["pbt"]["best_schedule"]]
    assert summary.pbt_replay is not None and len(summary.pbt_replay) == 3
    for command in summary.pbt_replay:  # as printed, from a fresh directory
        args = shlex.split(command)
        assert args[:3] == ["python", "-m", "hpo_app"]
        proc = subprocess.run([sys.executable, *args[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                              check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
    last = tmp_path / f"replay/trial{res['best_trial']['number']}/steps{TOTAL}"
    assert job_record.read(last).objective.values[0] == res["best_value"]  # step for step the same agent
    assert not pbt.is_pbt(pd.DataFrame({"trial": [0]}))


@pytest.mark.parametrize("extra, words", [
    (["objective=sharpe_drawdown"], "hydra.sweeper.pbt with 2 objectives"),
    (["validation=walkforward"], "scheduler=pbt with validation=walkforward"),
    (["train.n_seeds=2"], "train.n_seeds=2"),
    (["hydra.sweeper.pbt.population_size=1"], "hydra.sweeper.pbt.population_size=1"),
    (["hydra/sweeper/pruner=median"], "pruner MedianPruner"),
    (["hydra.sweeper.pbt.mutable=[model.lerning_rate]"], "none of them is searched"),  # a typo
])
def test_a_population_that_cannot_work_is_refused_in_one_line(tmp_path: Path, extra: list[str], words: str) -> None:
    proc = run_app([*PBT, *extra], tmp_path / "sweep", timeout=120)
    assert proc.returncode == 2, explain(proc)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and words in errors[0], explain(proc)
    assert not any(p.name.isdigit() for p in (tmp_path / "sweep").glob("*"))  # no trial ran


def test_member_0_is_the_control_trained_on_the_defaults_throughout(pbt_sweep) -> None:
    """The untuned default as PBT's control: member 0's every interval carries the config's own
    values (as `python -m hpo_app` would train them) and role control; the last lines set its final
    score beside the best's."""
    sweep, proc = pbt_sweep
    config = OmegaConf.load(sweep / "multirun.yaml")
    control = sorted((t for t in _intervals(sweep) if t.user_attrs[ATTR_MEMBER] == 0), key=lambda t: t.number)
    assert [t.user_attrs.get("role") for t in control] == ["control"] * len(control)
    assert [t.user_attrs[ATTR_END] for t in control if t.state.name == "COMPLETE"] == [128, 256, 384]
    for t in control:
        assert t.params == {k: OmegaConf.select(config, k) for k in t.params}
    res = results(sweep)
    assert res["pbt"]["control"]["trial"] == control[-1].number
    out = proc.stdout + proc.stderr
    assert ("Control: member 0 (the untuned default, same budget)" in out) != (res["pbt"]["best"]["member"] == 0)


def test_the_recommendation_is_decided_against_the_control_on_bars_no_exploit_ranked_on(pbt_sweep) -> None:
    """Exploits rank on the first half of each interval's validation returns (rank_fraction 0.5); the
    last lines and the results file give the decision on the other half, against member 0."""
    from hydra_plugins.hpo_sweeper._pbt_verdict import cut

    sweep, proc = pbt_sweep
    sweeper = OmegaConf.load(sweep / "multirun.yaml").hydra.sweeper
    fraction, level = sweeper.pbt.rank_fraction, sweeper.confirm.level
    verdict = results(sweep)["pbt"]["recommendation"]
    final = {t.user_attrs[ATTR_MEMBER]: t for t in _intervals(sweep) if t.user_attrs[ATTR_END] == TOTAL
             and t.state == TrialState.COMPLETE}
    returns = job_record.read(Path(final[0].user_attrs["job_dir"])).val_returns
    rows = {r["member"]: r for r in verdict["members"]}
    assert sorted(rows) == sorted(final) and rows[0]["label"] == "control"
    held_out = returns[cut(len(returns), fraction):]
    assert 0 < rows[0]["observations"] == len(held_out) < len(returns)
    assert rows[0]["held_out"] == pytest.approx(sum(held_out) / len(held_out))
    assert verdict["recommended"] in {r["label"] for r in verdict["members"]}
    assert verdict["p_value"] is not None and 0 <= verdict["p_value"] <= 1
    assert verdict["level"] == level and verdict["rank_fraction"] == fraction
    head = "Recommended: the control member" if verdict["recommended"] == "control" else \
        f"Recommended: {verdict['recommended']}, on the last {1 - fraction:.0%} of validation"
    assert head in proc.stdout + proc.stderr, explain(proc)
