"""The control and the raced confirmation, end to end: real sweeps of the app (basic launcher, tiny
budgets), what they leave in the study, the job records and the results file, a confirmation
resumed after its driver was killed with kill -9, and the refusals of bad settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from hpo_record.study import (
    ATTR_CANDIDATE,
    ATTR_CONFIRM_SEED,
    ATTR_DECISION,
    ATTR_JOB_DIR,
    ATTR_ROLE,
    ATTR_SCORES,
    CONFIRM_SUFFIX,
    ROLE_CONFIRMATION,
    ROLE_CONTROL,
)
from tests.sweep_helpers import REPO, TINY, explain, job_config, job_metrics, load_study, results, run_app

pytestmark = pytest.mark.slow

BASE = [a for a in TINY if not a.startswith("hydra.sweeper.confirm")] + [
    "hydra/launcher=basic", "search_space=none", "model.learning_rate=choice(0.0002, 0.002, 0.02)",
    "model.n_steps=choice(4, 8)", "hydra.sweeper.n_trials=4"]
RACE = ["hydra.sweeper.confirm.top_k=2", "hydra.sweeper.confirm.seeds=2", "hydra.sweeper.confirm.min_rounds=1"]


def _confirmation(sweep: Path) -> optuna.study.Study:
    return load_study(sweep, f"a2c{CONFIRM_SUFFIX}")


def test_the_control_is_the_first_trial_marked_in_the_study_and_the_job_record(tmp_path: Path) -> None:
    proc = run_app([*BASE, "hydra.sweeper.confirm.top_k=0"], tmp_path / "sweep")
    assert proc.returncode == 0, explain(proc)
    first = load_study(tmp_path / "sweep").trials[0]
    assert first.user_attrs[ATTR_ROLE] == ROLE_CONTROL
    assert first.params == {"model.learning_rate": 0.0002, "model.n_steps": 4}  # A2C's defaults (the schema's)
    assert job_metrics(Path(first.user_attrs[ATTR_JOB_DIR]))["trial"]["role"] == ROLE_CONTROL
    assert all(ATTR_ROLE not in t.user_attrs for t in load_study(tmp_path / "sweep").trials[1:])


def test_a_default_outside_the_space_is_said_in_one_line_and_control_false_turns_it_off(tmp_path: Path) -> None:
    outside = [*BASE, "hydra.sweeper.confirm.top_k=0", "model.learning_rate=choice(0.002, 0.02)"]
    proc = run_app(outside, tmp_path / "outside")
    assert proc.returncode == 0, explain(proc)
    line = next(x for x in (proc.stdout + proc.stderr).splitlines() if "not a point of the search space" in x)
    assert "model.learning_rate=0.0002 is outside its range" in line
    assert all(ATTR_ROLE not in t.user_attrs for t in load_study(tmp_path / "outside").trials)
    proc = run_app([*BASE, "hydra.sweeper.confirm.top_k=0", "hydra.sweeper.control=false"], tmp_path / "off")
    assert proc.returncode == 0, explain(proc)
    assert all(ATTR_ROLE not in t.user_attrs for t in load_study(tmp_path / "off").trials)


def test_the_top_candidates_are_raced_against_the_control_on_fresh_seeds(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_app([*BASE, *RACE], sweep)
    assert proc.returncode == 0, explain(proc)
    runs = _confirmation(sweep).get_trials(states=(TrialState.COMPLETE,))
    decision = _confirmation(sweep).user_attrs[ATTR_DECISION]
    labels = [row["label"] for row in decision["candidates"]]
    assert labels[0] == "control" and len(labels) == 3
    for run in runs:
        job = Path(run.user_attrs[ATTR_JOB_DIR])
        record, config = job_metrics(job), job_config(job)
        assert run.user_attrs[ATTR_ROLE] == ROLE_CONFIRMATION == record["trial"]["role"]
        assert config["seed"] == run.user_attrs[ATTR_CONFIRM_SEED] in (1000, 1001)  # never the search's seed 0
        assert run.user_attrs[ATTR_SCORES] == pytest.approx(record["val_returns"])  # the app's paired scores
        assert run.value == pytest.approx(record["objective"]["values"][0])
        row = next(r for r in decision["candidates"] if r["label"] == run.user_attrs[ATTR_CANDIDATE])
        for key, value in row["params"].items():
            assert config["model"][key.removeprefix("model.")] == value  # the candidate's configuration
    pairs = {(r.user_attrs[ATTR_CANDIDATE], r.user_attrs[ATTR_CONFIRM_SEED]) for r in runs}
    assert len(pairs) == len(runs) and ("control", 1000) in pairs and ("control", 1001) in pairs
    assert results(sweep)["recommendation"]["recommended"] == decision["recommended"]
    assert decision["recommended"] == "control" or decision["p_value"] < 0.05
    text = proc.stdout + proc.stderr
    assert "Recommended:" in text and "  train:   python -m hpo_app" in text and "confirmation run" in text
    # The resolution: the best-confirmed candidate against the control, on the runs' recorded scores.
    res = decision["resolution"]
    confirmed = [r for r in decision["candidates"] if r["label"] != "control" and r["confirmed_value"] is not None]
    assert res["candidate"] == max(confirmed, key=lambda r: r["confirmed_value"])["label"]

    def mean_scores(label: str) -> np.ndarray:
        return np.mean([r.user_attrs[ATTR_SCORES] for r in runs if r.user_attrs[ATTR_CANDIDATE] == label], axis=0)

    d = mean_scores(res["candidate"]) - mean_scores("control")
    assert res["observations"] == len(d) and res["advantage"] == pytest.approx(d.mean())
    assert res["advantage_se"] == pytest.approx(d.std(ddof=1) / np.sqrt(len(d)))
    assert f"  resolution: {res['candidate']} " in text


def test_an_interrupted_confirmation_resumes_and_leaves_nothing_running(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = [*BASE, *RACE, "hydra.sweeper.heartbeat_interval=2", "hydra.sweeper.grace_period=6",
            f"hydra.sweep.dir={sweep}"]
    driver = subprocess.Popen([sys.executable, "-m", "hpo_app", "-m", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and driver.poll() is None:
            try:  # multirun.yaml first: the driver has created the database by then
                if (sweep / "multirun.yaml").exists() and _confirmation(sweep).get_trials(states=(TrialState.COMPLETE,)):
                    break
            except Exception:  # noqa: BLE001 - the confirmation study does not exist yet
                pass
            time.sleep(0.5)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    done_before = len(_confirmation(sweep).get_trials(states=(TrialState.COMPLETE,)))
    assert done_before >= 1
    proc = run_app([*args, "hydra.sweeper.resume=true"], sweep)
    assert proc.returncode == 0, explain(proc)
    assert "Confirmation resumed" in proc.stdout + proc.stderr
    confirmation = _confirmation(sweep)
    runs = confirmation.get_trials(states=(TrialState.COMPLETE,))
    pairs = [(r.user_attrs[ATTR_CANDIDATE], r.user_attrs[ATTR_CONFIRM_SEED]) for r in runs]
    assert len(pairs) == len(set(pairs)) and len(runs) > done_before  # finished runs kept, none run twice
    assert ATTR_DECISION in confirmation.user_attrs
    for study in (load_study(sweep), confirmation):
        assert not study.get_trials(states=(TrialState.RUNNING,))  # the dead driver's trials failed, not left


def test_a_resume_that_adds_search_trials_races_the_new_top_candidates(tmp_path: Path) -> None:
    """A finished sweep resumed with more trials (and here a larger top_k, so that its top surely
    changes): the race is about the top candidates now, not the old ones (the old decision was kept
    before, stale); the control's runs, still in the race, are not run again."""
    sweep = tmp_path / "sweep"
    args = [*BASE, "hydra.sweeper.confirm.min_rounds=1", f"hydra.sweep.dir={sweep}"]
    first = run_app([*args, "hydra.sweeper.n_trials=2", "hydra.sweeper.confirm.top_k=1", "hydra.sweeper.confirm.seeds=2"],
                    sweep)
    assert first.returncode == 0, explain(first)
    control_runs = {t.number for t in _confirmation(sweep).trials if t.user_attrs[ATTR_CANDIDATE] == "control"}
    proc = run_app([*args, "hydra.sweeper.n_trials=4", "hydra.sweeper.confirm.top_k=2", "hydra.sweeper.confirm.seeds=3",
                    "hydra.sweeper.resume=true"], sweep)  # more seeds too: each race's parameters are its own
    assert proc.returncode == 0, explain(proc)
    assert "the search has changed since its race" in proc.stdout + proc.stderr
    study, confirmation = load_study(sweep), _confirmation(sweep)
    top, seen = [], [study.trials[0].params] if study.trials[0].user_attrs.get(ATTR_ROLE) == ROLE_CONTROL else []
    for t in sorted((t for t in study.trials if t.state == TrialState.COMPLETE), key=lambda t: (-t.value, t.number)):
        if t.user_attrs.get(ATTR_ROLE) != ROLE_CONTROL and t.params not in seen and len(top) < 2:
            top.append(f"trial {t.number}")
            seen.append(t.params)
    decision = confirmation.user_attrs[ATTR_DECISION]
    assert [r["label"] for r in decision["candidates"]] == ["control", *top]
    raced = {(t.user_attrs[ATTR_CANDIDATE], t.user_attrs[ATTR_CONFIRM_SEED]) for t in confirmation.trials}
    assert {(label, decision["seeds"][0]) for label in top} <= raced  # raced (a loser stops after its round)
    assert len(decision["seeds"]) == 3
    done = [(t.user_attrs[ATTR_CANDIDATE], t.user_attrs[ATTR_CONFIRM_SEED]) for t in confirmation.trials
            if t.state == TrialState.COMPLETE]
    assert len(done) == len(set(done))  # no run twice: the control's first runs were kept, not run again
    assert control_runs <= {t.number for t in confirmation.trials if t.user_attrs[ATTR_CANDIDATE] == "control"}


@pytest.mark.parametrize(("override", "message"), [
    ("hydra.sweeper.confirm.top_k=-1", "hydra.sweeper.confirm.top_k=-1: must be 0 (no confirmation) or more"),
    ("hydra.sweeper.confirm.level=1.5", "hydra.sweeper.confirm.level=1.5: must be a probability between 0 and 1"),
    ("hydra.sweeper.confirm.level=nan", "hydra.sweeper.confirm.level=nan: not a number"),
    ("hydra.sweeper.confirm.seeds=0", "hydra.sweeper.confirm.seeds=0: must be at least 1"),
    ("hydra.sweeper.confirm.seed_key=train", "hydra.sweeper.confirm.seed_key=train: must name the task's integer seed"),
])
def test_bad_confirmation_settings_are_one_line_before_any_trial(override: str, message: str, tmp_path: Path) -> None:
    proc = run_app([*BASE, override], tmp_path / "sweep", timeout=120)
    assert proc.returncode == 2, explain(proc)
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {message}")
    assert not [p for p in (tmp_path / "sweep").glob("*") if p.name.isdigit()]
