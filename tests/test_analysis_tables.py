"""Best trial, Pareto front, running best, importance and re-run command, checked against plain loops."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis import importance as imp
from analysis.load import PARAM_PREFIX, ParamSpec, load_multirun
from analysis.synthetic import SweepSpec, write_sweep
from analysis.tables import analyse, best_so_far, pareto_mask, rerun_command, state_counts
from hpo_app import artifacts


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sweep(
        tmp_path_factory.mktemp("t") / "2026-11-28" / "09-30-00", SweepSpec(n_trials=16, n_bars=300, seed=5)
    )


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_best_so_far_matches_a_loop(direction: str) -> None:
    values = np.array([0.3, np.nan, 0.1, 0.7, 0.2, np.nan, 0.9, -1.0])
    expected, best = [], None
    for v in values:
        if not np.isnan(v) and (best is None or (v > best if direction == "maximize" else v < best)):
            best = v
        expected.append(np.nan if best is None else best)
    np.testing.assert_array_equal(best_so_far(values, direction), np.array(expected))


@pytest.mark.parametrize(
    "directions", [("maximize", "minimize"), ("minimize", "minimize"), ("maximize", "maximize", "minimize")]
)
def test_pareto_mask_matches_a_loop(directions: tuple[str, ...]) -> None:
    rng = np.random.default_rng(len(directions))
    values = rng.normal(size=(60, len(directions))).round(1)  # rounding makes ties
    sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    expected = []
    for a in values:
        dominated = False
        for b in values:
            if all(sb <= sa for sa, sb in zip(a * sign, b * sign)) and any(
                sb < sa for sa, sb in zip(a * sign, b * sign)
            ):
                dominated = True
        expected.append(not dominated)
    assert pareto_mask(values, directions).tolist() == expected


def test_best_trial_is_the_best_metrics_file(sweep: Path) -> None:
    analysis = analyse(load_multirun([sweep]), importance=False)
    s = analysis.sweeps[0]
    files = {}
    for job in sweep.iterdir():
        if job.name.isdigit() and (job / artifacts.METRICS_FILE).exists():
            m = json.loads((job / artifacts.METRICS_FILE).read_text())
            if m["state"] == "complete":
                files[job] = m
    best_job = max(files, key=lambda j: files[j]["objective"]["values"][0])
    assert s.best is not None
    assert s.best["job_dir"] == str(best_job)
    assert s.best["objective"] == files[best_job]["objective"]["values"][0]
    results = yaml.safe_load((sweep / artifacts.RESULTS_FILE).read_text())
    assert int(s.best["trial"]) == results["best_trial"]["number"]
    assert not s.notes
    counts = state_counts(analysis.trials).loc[s.name]
    assert counts["complete"] == len(files) and counts["total"] == len(analysis.trials)
    assert s.equity is not None and set(s.equity["segment"]) == set(artifacts.SEGMENTS)


def test_rerun_command_round_trips(sweep: Path) -> None:
    s = analyse(load_multirun([sweep]), importance=False).sweeps[0]
    assert s.best is not None and s.rerun is not None
    job_overrides = yaml.safe_load(
        (Path(s.best["job_dir"]) / artifacts.HYDRA_DIR / "overrides.yaml").read_text()
    )
    sweep_only = [o for o in job_overrides if o.split("=")[0] in ("hpo", "scheduler")]
    argv = shlex.split(s.rerun)
    assert argv[:3] == ["python", "-m", "hpo_app"] and "-m" not in argv[3:] and "--multirun" not in argv
    assert argv[3:] == [o for o in job_overrides if o not in sweep_only]
    assert len(sweep_only) == 2
    assert shlex.split(rerun_command(["model=ppo", "data.path=my prices.csv", "hpo=standard"])) == [
        "python", "-m", "hpo_app", "model=ppo", "data.path=my prices.csv",
    ]  # fmt: skip


def _planted(n: int = 60) -> tuple[pd.DataFrame, dict[str, ParamSpec]]:
    """A sweep whose objective depends on lr (strongly) and act (a little), not on noise."""
    rng = np.random.default_rng(1)
    lr = 10 ** rng.uniform(-5, -2, n)
    act = rng.choice(["tanh", "relu"], n)
    df = pd.DataFrame(
        {
            "state": "complete",
            f"{PARAM_PREFIX}lr": lr,
            f"{PARAM_PREFIX}act": act,
            f"{PARAM_PREFIX}noise": rng.integers(1, 9, n),
            "objective": -((np.log10(lr) + 3.5) ** 2) + 0.2 * (act == "relu"),
        }
    )
    specs = {
        "lr": ParamSpec("lr", "float", 1e-5, 1e-2, log=True),
        "act": ParamSpec("act", "categorical", choices=("tanh", "relu")),
        "noise": ParamSpec("noise", "int", 1, 8, step=1),
    }
    return df, specs


def test_importance_names_its_method_and_finds_the_planted_parameter() -> None:
    df, specs = _planted()
    result = imp.param_importance(df, specs)
    try:
        import sklearn  # noqa: F401

        expected: tuple[str, ...] = (imp.FANOVA, imp.MDI)  # Optuna's evaluators
    except ImportError:
        expected = (imp.RANK,)
    assert result.method in expected
    assert list(result.importances)[0] == "lr"
    assert sum(result.importances.values()) == pytest.approx(1.0)
    if result.method == imp.MDI:
        assert "fANOVA" in result.note  # why the preferred method was not used


def test_importance_without_scikit_learn_falls_back_to_rank_correlation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn -> ImportError
    df, specs = _planted()
    result = imp.param_importance(df, specs)
    assert result.method == imp.RANK
    assert "scikit-learn" in result.note
    assert list(result.importances)[0] == "lr"


def test_importance_is_skipped_with_a_note_when_it_cannot_be_estimated() -> None:
    df, specs = _planted(5)
    one = imp.param_importance(df.head(1), specs)
    assert not one.ok and "need at least 2" in one.note
    constant = df.assign(
        **{f"{PARAM_PREFIX}lr": 1e-3, f"{PARAM_PREFIX}act": "relu", f"{PARAM_PREFIX}noise": 3}
    )
    flat = imp.param_importance(constant, specs)
    assert not flat.ok and "no parameter varies" in flat.note


def test_rebuilt_study_holds_the_complete_trials(sweep: Path) -> None:
    mr = load_multirun([sweep])
    info = mr.sweeps[0]
    study = imp.build_study(mr.trials, info.search_space)
    done = mr.trials[mr.trials["state"] == "complete"]
    assert len(study.trials) == len(done)
    assert sorted(t.value for t in study.trials) == sorted(done["objective"])
    lr = study.trials[0].distributions["model.learning_rate"]
    assert getattr(lr, "log", type(lr).__name__ == "LogUniformDistribution")


def test_persisted_study_is_cross_checked_against_the_job_directories(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "d" / "t", SweepSpec(n_trials=6, n_bars=300, n_failed=1, write_db=True))
    s = analyse(load_multirun([sweep]), importance=False).sweeps[0]
    assert "agrees" in s.db_verdict and not s.db_problems
    assert s.info.study_db is not None and len(s.info.study_db) == 6

    jobs = {int(p.name): p for p in sweep.iterdir() if p.name.isdigit()}
    complete = [
        j
        for j, p in jobs.items()
        if json.loads((p / artifacts.METRICS_FILE).read_text())["state"] == "complete"
    ]
    changed = jobs[complete[0]] / artifacts.METRICS_FILE
    m = json.loads(changed.read_text())
    m["objective"]["values"][0] += 1.0
    changed.write_text(json.dumps(m))
    for f in sorted(jobs[complete[1]].rglob("*"), reverse=True):
        f.unlink() if f.is_file() else f.rmdir()
    jobs[complete[1]].rmdir()
    s = analyse(load_multirun([sweep]), importance=False).sweeps[0]
    assert "disagrees" in s.db_verdict and len(s.db_problems) == 2
    assert any(f"job {complete[0]})" in p and "value" in p for p in s.db_problems)
    assert any(f"job {complete[1]})" in p and "no such job directory" in p for p in s.db_problems)


def test_a_file_that_is_not_a_study_is_a_problem_not_a_crash(sweep: Path, tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(sweep, tmp_path / "d" / "t"))
    (copy / artifacts.STUDY_DB_FILE).write_bytes(b"garbage, not sqlite")
    info = load_multirun([copy]).sweeps[0]
    assert info.study_db is None
    assert any("optuna.db unreadable: not an SQLite database" in p for p in info.problems)
    assert (copy / artifacts.STUDY_DB_FILE).read_bytes() == b"garbage, not sqlite"
