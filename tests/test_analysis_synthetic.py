"""The synthetic sweeps follow hpo_app.artifacts exactly (the report's tests rely on them)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from analysis.synthetic import SweepSpec, write_sweep
from hpo_app import artifacts
from hpo_app.metrics import METRIC_NAMES

METRICS_KEYS = {
    "schema",
    "state",
    "model",
    "objective",
    "metrics",
    "baselines",
    "timesteps",
    "seconds",
    "seed",
    "periods_per_year",
    "segments",
    "error",
    "trial",
}  # fmt: skip  (the contract's keys; the TrainingEngine also writes "data_source")
RESULTS_KEYS = {
    "name", "study_name", "storage", "directions", "objective_metrics", "search_space",
    "fixed_params", "n_trials", "counts",
}  # fmt: skip


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("syn") / "2026-11-28" / "10-00-00"
    return write_sweep(root, SweepSpec(model="ppo", n_trials=12, n_failed=1, n_running=1, n_bars=300, seed=3))


def _jobs(sweep: Path) -> list[Path]:
    return sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def test_job_directories_hold_the_contract_files(sweep: Path) -> None:
    states = []
    for job in _jobs(sweep):
        for name in ("config.yaml", "overrides.yaml", "hydra.yaml"):
            assert (job / artifacts.HYDRA_DIR / name).is_file()
        if not (job / artifacts.METRICS_FILE).exists():
            states.append("running")
            continue
        m = json.loads((job / artifacts.METRICS_FILE).read_text())
        assert METRICS_KEYS <= set(m) <= METRICS_KEYS | {"data_source"}
        assert m["schema"] == artifacts.SCHEMA_VERSION
        assert m["state"] in (artifacts.STATE_COMPLETE, artifacts.STATE_PRUNED, artifacts.STATE_FAILED)
        assert set(m["segments"]) == set(artifacts.SEGMENTS)
        states.append(m["state"])
        if m["state"] == artifacts.STATE_FAILED:
            assert m["error"] and (job / artifacts.ERROR_FILE).is_file()
            assert m["objective"]["values"] is None and m["metrics"] == {} and m["baselines"] == {}
            continue
        assert set(m["baselines"]) == set(artifacts.BASELINES)
        expected = {f"{s}/{n}" for s in artifacts.SEGMENTS for n in METRIC_NAMES}
        assert set(m["metrics"]) == expected
        assert m["objective"]["values"] == [m["metrics"][k] for k in m["objective"]["metrics"]]
        assert (job / artifacts.MODEL_FILE).is_file()
    assert states.count("running") == 1 and states.count(artifacts.STATE_FAILED) == 1
    assert artifacts.STATE_COMPLETE in states


def test_curves_and_equity_agree_with_metrics(sweep: Path) -> None:
    for job in _jobs(sweep):
        if not (job / artifacts.METRICS_FILE).exists():
            continue
        m = json.loads((job / artifacts.METRICS_FILE).read_text())
        if m["state"] == artifacts.STATE_FAILED:
            continue
        with open(job / artifacts.EVAL_CURVE_FILE, newline="") as f:
            rows = list(csv.DictReader(f))
        assert list(rows[0]) == ["timesteps", "objective"] + [f"val/{n}" for n in METRIC_NAMES]
        # The last evaluation is the trial's final validation result, and its intermediate value.
        assert float(rows[-1]["objective"]) == m["objective"]["values"][0]
        assert float(rows[-1]["val/sharpe"]) == m["metrics"]["val/sharpe"]
        with open(job / artifacts.EQUITY_FILE, newline="") as f:
            eq = list(csv.DictReader(f))
        assert list(eq[0]) == ["segment", "timestamp", "position", "agent", "buy_and_hold", "flat"]
        for seg in artifacts.SEGMENTS:
            seg_rows = [r for r in eq if r["segment"] == seg]
            assert float(seg_rows[0]["agent"]) == 1.0
            assert len(seg_rows) == m["segments"][seg]["bars"] + 1
            assert seg_rows[-1]["position"] == "" and seg_rows[0]["timestamp"] == m["segments"][seg]["start"]
            assert float(seg_rows[-1]["agent"]) == pytest.approx(
                1 + m["metrics"][f"{seg}/total_return"], abs=2e-6
            )
            bh_total = m["baselines"]["buy_and_hold"][f"{seg}/total_return"]
            assert float(seg_rows[-1]["buy_and_hold"]) == pytest.approx(1 + bh_total, abs=2e-6)


def test_sweep_files_follow_the_contract(sweep: Path) -> None:
    results = yaml.safe_load((sweep / artifacts.RESULTS_FILE).read_text())
    assert RESULTS_KEYS <= set(results)
    assert {"best_params", "best_value", "best_trial"} <= set(results)
    best = results["best_trial"]
    m = json.loads((sweep / str(best["job_num"]) / artifacts.METRICS_FILE).read_text())
    assert m["objective"]["values"] == best["values"] == [results["best_value"]]
    values = []
    for job in _jobs(sweep):
        path = job / artifacts.METRICS_FILE
        if path.exists():
            mm = json.loads(path.read_text())
            if mm["state"] == artifacts.STATE_COMPLETE:
                values.append(mm["objective"]["values"][0])
    assert results["best_value"] == max(values)
    multirun = yaml.safe_load((sweep / artifacts.MULTIRUN_FILE).read_text())
    assert set(multirun["hydra"]["sweeper"]["params"]) == set(results["search_space"])
    assert multirun["hydra"]["overrides"]["task"][0] == "model=ppo"


def test_multi_objective_results_have_a_pareto_front(tmp_path: Path) -> None:
    spec = SweepSpec(
        n_trials=10,
        objective_metrics=("val/sharpe", "val/max_drawdown"),
        directions=("maximize", "minimize"),
        n_bars=300,
    )
    sweep = write_sweep(tmp_path / "d" / "t", spec)
    results = yaml.safe_load((sweep / artifacts.RESULTS_FILE).read_text())
    assert "best_value" not in results and results["solutions"]
    front = np.array([s["values"] for s in results["solutions"]])
    for a in front:  # no front member dominates another
        assert not any((b[0] >= a[0]) and (b[1] <= a[1]) and (b != a).any() for b in front)
