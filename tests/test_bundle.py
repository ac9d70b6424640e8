"""The agent bundle (``python -m hpo_app.export``), applying it to new prices (``python -m hpo_app.apply``)
and the Python API: real (small) trainings, real files, the commands run as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hpo_app.api import load_agent, train
from hpo_app.bundle import BundleError, read
from hpo_app.export import export
from hpo_app.synthetic import edge_prices
from hpo_record import files
from tests.conftest import REPO_ROOT, TINY_MODEL

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BUDGET = ["data.n_bars=900", "train.total_timesteps=600", "train.eval_every=300"]


def _prices(path: Path, n_bars: int = 900, seed: int = 0) -> Path:
    frame = edge_prices(n_bars, seed, 0.15, 0.01)
    frame.index.name = "Date"
    frame.to_csv(path)
    return path


def _cli(module: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("validation", ["holdout", "walkforward"])
@pytest.mark.parametrize("model", ["ppo", "a2c"])
def test_applying_a_bundle_to_its_runs_test_segment_gives_the_runs_test_metrics(model: str, validation: str,
                                                                                tmp_path: Path) -> None:
    overrides = [*TINY_MODEL[model], *BUDGET, f"validation={validation}", "validation.folds=2"]
    result = train(overrides, tmp_path / "run")
    assert result.model is not None
    bundle_dir = tmp_path / "agent"
    proc = _cli("hpo_app.export", tmp_path / "run", "--out", bundle_dir)
    assert proc.returncode == 0, proc.stderr
    bundle = read(bundle_dir)
    assert bundle.spec["provenance"]["data"]["sha256_of_closes"]
    assert [a["meaning"] for a in bundle.spec["actions"]] == ["short", "flat", "long"]
    assert bundle.spec["observation"]["size"] == result.model.observation_space.shape[0]
    start = result.record.segments["test"]["start"]
    proc = _cli("hpo_app.apply", bundle_dir, _prices(tmp_path / "prices.csv"), "--start", start, "--out", tmp_path / "applied")
    assert proc.returncode == 0, proc.stderr
    applied = json.loads((tmp_path / "applied" / "metrics.json").read_text())["agent"]
    assert applied == {k.removeprefix("test/"): v for k, v in result.record.metrics.items() if k.startswith("test/")}
    frame = pd.read_csv(tmp_path / "applied" / "positions.csv")
    assert len(frame) - 1 == result.record.segments["test"]["bars"]
    assert (tmp_path / "applied" / "equity.png").stat().st_size > 0
    # The Python API gives the same.
    python = load_agent(bundle_dir).run(pd.read_csv(tmp_path / "prices.csv", index_col=0, parse_dates=True), start=start)
    assert python.metrics["agent"] == applied


def test_the_api_and_the_command_line_give_the_same_record(tmp_path: Path) -> None:
    overrides = [*TINY_MODEL["a2c"], *BUDGET]
    api = train(overrides, tmp_path / "api").record
    proc = _cli("hpo_app", *overrides, f"hydra.run.dir={tmp_path / 'cli'}")
    assert proc.returncode == 0, proc.stderr
    cli = json.loads((tmp_path / "cli" / files.METRICS_FILE).read_text())
    assert api.metrics == cli["metrics"] and api.baselines == cli["baselines"] and api.val_returns == cli["val_returns"]


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    train([*TINY_MODEL["a2c"], *BUDGET], tmp_path / "run")
    bundle_dir = tmp_path / "agent"
    export(tmp_path / "run", bundle_dir)
    weekly = edge_prices(400, 1, 0.15, 0.01)
    weekly.index = pd.date_range("2000-01-07", periods=400, freq="W-FRI")
    weekly.index.name = "Date"
    weekly.to_csv(tmp_path / "weekly.csv")
    short = tmp_path / "short.csv"
    edge_prices(40, 1, 0.15, 0.01).rename_axis("Date").to_csv(short)
    cut = tmp_path / "cut"  # a bundle whose model.zip was cut short
    shutil.copytree(bundle_dir, cut)
    (cut / files.MODEL_FILE).write_bytes((bundle_dir / files.MODEL_FILE).read_bytes()[:1000])
    cases = [
        (("hpo_app.apply", tmp_path, _prices(tmp_path / "p.csv")), "not an agent bundle"),
        (("hpo_app.apply", cut, tmp_path / "p.csv"), "model.zip: cannot be loaded as the bundle's A2C model"),
        (("hpo_app.apply", bundle_dir, tmp_path / "p.csv", "--start", "notadate"), "--start notadate: not a date"),
        (("hpo_app.apply", bundle_dir, tmp_path / "weekly.csv"), "its bars come 52 to a year, the agent's 252"),
        (("hpo_app.apply", bundle_dir, short), "decisions after the"),
        (("hpo_app.apply", bundle_dir, tmp_path / "missing.csv"), "missing.csv"),
        (("hpo_app.export", tmp_path / "nothing", "--out", tmp_path / "x"), "no such directory"),
        (("hpo_app.export", tmp_path, "--out", tmp_path / "x"), "neither a run directory"),
    ]
    for args, words in cases:
        proc = _cli(*args)
        lines = [x for x in proc.stderr.splitlines() if x.strip()]
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], (args, proc.stderr)


def test_a_sweep_with_nothing_to_export_says_why(tmp_path: Path) -> None:
    """A study of several objectives (no single best), one whose trials all failed, a damaged
    database: one line each, naming the sweep."""
    import optuna

    def sweep_dir(name: str, directions: list[str], state: optuna.trial.TrialState) -> Path:
        path = tmp_path / name
        path.mkdir()
        study = optuna.create_study(study_name="ppo", storage=f"sqlite:///{path / files.STUDY_DB_FILE}",
                                    directions=directions)
        trial = study.ask()
        study.tell(trial, [1.0] * len(directions) if state == optuna.trial.TrialState.COMPLETE else None, state=state)
        return path

    several = sweep_dir("pareto", ["maximize", "minimize"], optuna.trial.TrialState.COMPLETE)
    with pytest.raises(BundleError, match="pareto: a sweep of several objectives has no single best trial.*--trial N"):
        export(several, tmp_path / "x")
    failed = sweep_dir("failed", ["maximize"], optuna.trial.TrialState.FAIL)
    with pytest.raises(BundleError, match="failed: no trial of the sweep completed"):
        export(failed, tmp_path / "x")
    (failed / files.STUDY_DB_FILE).write_bytes(b"not a database" * 100)
    with pytest.raises(BundleError, match="failed: cannot read the sweep's study .*DatabaseError"):
        export(failed, tmp_path / "x")


def test_a_directory_that_is_not_a_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not an agent bundle"):
        read(tmp_path)


@pytest.mark.slow
def test_a_sweeps_recommendation_is_exported_by_default(tmp_path: Path) -> None:
    from tests.sweep_helpers import TINY, explain, results, run_app

    sweep = tmp_path / "sweep"
    proc = run_app([a for a in TINY if "confirm" not in a] + [
        "hydra/launcher=basic", "hydra.sweeper.n_trials=3", "hydra.sweeper.confirm.top_k=1",
        "hydra.sweeper.confirm.seeds=1"], sweep)
    assert proc.returncode == 0, explain(proc)
    assert f"export:  python -m hpo_app.export {sweep} --out agent" in proc.stdout + proc.stderr
    job, how = export(sweep, tmp_path / "agent")
    recommended = results(sweep)["recommendation"]["recommended"]
    assert how["decision"]["recommended"] == recommended
    expected = 0 if recommended == "control" else int(recommended.split()[-1])  # the control is trial 0
    assert job == sweep / str(expected) and read(tmp_path / "agent").spec["provenance"]["trial"]["number"] == expected
    copy = tmp_path / "copy"  # a copy's model is the copy's, not the original's where the driver recorded it
    shutil.copytree(sweep, copy)
    job, _ = export(copy, tmp_path / "agent-copy")
    assert job == copy / str(expected)
    moved = tmp_path / "moved"
    sweep.rename(moved)  # a sweep moved since: its job directories are read from where they are now
    job, _ = export(moved, tmp_path / "agent-moved")
    assert job == moved / str(expected) and (tmp_path / "agent-moved").is_dir()
