"""Reading sweep directories into the tidy trial table."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser

from analysis.load import (
    PARAM_PREFIX,
    NoSweepError,
    find_sweep_dirs,
    is_sweep_only_override,
    load_multirun,
    load_sweeps,
    parse_override_value,
    rerun_overrides,
)
from analysis.synthetic import SweepSpec, break_job, day_of_sweeps, write_multirun, write_sweep
from hpo_app import artifacts

PARSER = OverridesParser.create()


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    date_dir = tmp_path_factory.mktemp("multirun") / "2026-11-28"
    specs = day_of_sweeps((12, 8, 8), n_bars=300, n_running=1)
    specs[1] = SweepSpec(**{**specs[1].__dict__, "trial_offset": 100})  # a resumed sweep: trial != job num
    write_multirun(date_dir, specs)
    return date_dir


@pytest.mark.parametrize(
    "text",
    ["3", "-7", "0.001", "1e-05", "2.5E-3", "1_000", "true", "false", "True", "null", "tanh", "relu",
     "'a b'", "\"x=y\"", "[1,2,3]", "[a, b]", "{a: 1}", "inf", "-inf", "abc123", "1.0", "0"],
)  # fmt: skip
def test_override_values_parse_as_hydra_parses_them(text: str) -> None:
    expected = PARSER.parse_override(f"key={text}").value()
    got = parse_override_value(text)
    assert type(got) is type(expected)
    assert got == expected or (isinstance(got, float) and math.isnan(got) and math.isnan(expected))


@pytest.mark.parametrize(
    ("override", "sweep_only"),
    [("model=ppo", False), ("model.learning_rate=0.001", False), ("hpo=quick_test", True), ("scheduler=asha", True),
     ("hydra.sweeper.n_trials=10", True), ("hydra/launcher=basic", True), ("+hydra.job.env_set.X=1", True),
     ("data=csv", False), ("seed=3", False), ("+model.extra=1", False), ("hpo_name=x", False)],
)  # fmt: skip
def test_sweep_only_overrides(override: str, sweep_only: bool) -> None:
    assert is_sweep_only_override(override) is sweep_only


def test_table_values_equal_the_metrics_files(day: Path) -> None:
    table = load_sweeps([day])
    jobs = sorted(p for p in day.glob("*/*") if p.name.isdigit())
    assert len(table) == len(jobs)
    assert table["sweep"].nunique() == 3
    by_dir = table.set_index("job_dir")
    checked = 0
    for job in jobs:
        row = by_dir.loc[str(job.resolve())]
        overrides = yaml.safe_load((job / artifacts.HYDRA_DIR / "overrides.yaml").read_text())
        parsed = {o.key_or_group: o.value() for o in PARSER.parse_overrides(overrides)}
        results = yaml.safe_load((job.parent / artifacts.RESULTS_FILE).read_text())
        for name in results["search_space"]:
            assert row[PARAM_PREFIX + name] == parsed[name], name
        path = job / artifacts.METRICS_FILE
        if not path.exists():
            assert row["state"] == "running"
            assert row["trial"] == int(job.name)
            continue
        m = json.loads(path.read_text())
        assert row["state"] == m["state"]
        assert row["model"] == m["model"]
        assert row["trial"] == m["trial"]["number"]
        assert row["job_num"] == int(job.name)
        assert row["timesteps"] == m["timesteps"]
        assert row["seconds"] == m["seconds"] if m["seconds"] is not None else math.isnan(row["seconds"])
        if m["objective"]["values"] is None:
            assert math.isnan(row["objective"])
        else:
            assert row["objective"] == m["objective"]["values"][0]
        for key, value in m["metrics"].items():
            assert row[key] == value, key
        for baseline, values in m["baselines"].items():
            for key, value in values.items():
                assert row[f"{baseline}/{key}"] == value
        if m["state"] == artifacts.STATE_FAILED:
            assert row["error"] == m["error"]
        checked += 1
    assert checked >= 20


def test_curves_are_read_per_trial(day: Path) -> None:
    mr = load_multirun([day])
    for info in mr.sweeps:
        trials = mr.trials[mr.trials["sweep"] == info.name]
        for _, row in trials.iterrows():
            curve = mr.curves[(mr.curves["sweep"] == info.name) & (mr.curves["trial"] == row["trial"])]
            assert len(curve) == row["n_evals"]
            if row["state"] == "complete":
                expected = pd.read_csv(Path(row["job_dir"]) / artifacts.EVAL_CURVE_FILE)
                assert curve["objective"].tolist() == expected["objective"].tolist()
                assert curve["timesteps"].tolist() == expected["timesteps"].tolist()


def test_paths_resolve_to_sweeps(day: Path, tmp_path: Path) -> None:
    sweeps = sorted(p for p in day.iterdir())
    assert find_sweep_dirs([day]) == sweeps
    assert find_sweep_dirs([sweeps[0]]) == [sweeps[0]]
    assert find_sweep_dirs([day.parent]) == sweeps  # the multirun root: every day
    assert find_sweep_dirs([sweeps[1], sweeps[0]]) == [sweeps[1], sweeps[0]]
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(NoSweepError, match="no sweep found"):
        find_sweep_dirs([tmp_path / "empty"])
    with pytest.raises(NoSweepError, match="no such directory"):
        find_sweep_dirs([tmp_path / "missing"])


def test_rerun_overrides_are_the_task_overrides_minus_sweep_only(day: Path) -> None:
    job = next(p for p in sorted(day.glob("*/*")) if p.name.isdigit())
    overrides = yaml.safe_load((job / artifacts.HYDRA_DIR / "overrides.yaml").read_text())
    kept = rerun_overrides(overrides)
    dropped = [
        o
        for o in overrides
        if o.split("=", 1)[0].lstrip("+~") in ("hpo", "scheduler") or o.lstrip("+~").startswith("hydra")
    ]
    assert dropped and kept == [o for o in overrides if o not in dropped]


def test_broken_job_directories_get_a_state_and_an_issue(tmp_path: Path) -> None:
    sweep = write_sweep(
        tmp_path / "d" / "10-00-00", SweepSpec(n_trials=8, n_failed=1, n_bars=300, pruned_frac=0.0)
    )
    complete = [
        p for p in sorted(sweep.iterdir(), key=lambda p: p.name)
        if p.name.isdigit() and json.loads((p / artifacts.METRICS_FILE).read_text())["state"] == "complete"
    ]  # fmt: skip
    break_job(complete[0], "truncated_metrics")
    break_job(complete[1], "missing_metrics")
    break_job(complete[2], "missing_hydra")
    (complete[3] / artifacts.METRICS_FILE).unlink()  # fresh files, no metrics: still running
    (sweep / artifacts.RESULTS_FILE).write_text("best_params: [unclosed\n  : :\n")
    mr = load_multirun([sweep])
    t = mr.trials.set_index("job_num")
    assert t.loc[int(complete[0].name), "state"] == "corrupt"
    assert "metrics.json unreadable" in t.loc[int(complete[0].name), "issue"]
    assert t.loc[int(complete[1].name), "state"] == "incomplete"
    assert t.loc[int(complete[3].name), "state"] == "running"
    hydra_less = t.loc[int(complete[2].name)]
    assert hydra_less["state"] == "complete" and "no .hydra/" in hydra_less["issue"]
    assert pd.isna(hydra_less[PARAM_PREFIX + "model.learning_rate"])
    failed = t[t["state"] == "failed"]
    assert len(failed) == 1 and "NaN" in failed["error"].iloc[0]
    info = mr.sweeps[0]
    assert any(artifacts.RESULTS_FILE in p for p in info.problems)
    # The search space then comes from multirun.yaml (hydra.sweeper.params), log scale included.
    assert info.search_space_source.startswith(artifacts.MULTIRUN_FILE)
    assert info.search_space["model.learning_rate"].log is True
    assert info.search_space["model.n_steps"].choices == (128, 256, 512, 1024)
    assert info.objective_metrics == ("val/sharpe",)


def test_a2c_command_line_sweep_is_read_from_multirun_yaml(tmp_path: Path) -> None:
    sweep = write_sweep(
        tmp_path / "d" / "t", SweepSpec(model="a2c", n_trials=4, n_bars=300, write_results=False)
    )
    info = load_multirun([sweep]).sweeps[0]
    gamma = info.search_space["model.gamma"]  # given as 'model.gamma=tag(log, interval(0.9, 0.9999))'
    assert (gamma.type, gamma.low, gamma.high, gamma.log) == ("float", 0.9, 0.9999, True)
    assert any("no optimization_results.yaml" in p for p in info.problems)


def test_a_stale_job_without_metrics_is_incomplete_a_fresh_one_running(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "d" / "t", SweepSpec(n_trials=3, n_failed=0, n_running=2, n_bars=300))
    missing = [p for p in sweep.iterdir() if p.name.isdigit() and not (p / artifacts.METRICS_FILE).exists()]
    old = time.time() - 3600
    for root, _, files in os.walk(missing[0]):
        for f in files:
            os.utime(os.path.join(root, f), (old, old))
    t = load_sweeps([sweep]).set_index("job_num")
    assert t.loc[int(missing[0].name), "state"] == "incomplete"
    assert t.loc[int(missing[1].name), "state"] == "running"


def test_a_malformed_metrics_file_is_corrupt_not_fatal(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "d" / "t", SweepSpec(n_trials=3, n_failed=0, pruned_frac=0.0, n_bars=300))
    (sweep / "0" / artifacts.METRICS_FILE).write_text(json.dumps({"state": "complete", "metrics": [1, 2]}))
    (sweep / "1" / artifacts.METRICS_FILE).write_text(json.dumps([1, 2, 3]))
    (sweep / "2" / artifacts.METRICS_FILE).write_text(json.dumps({"state": "weird"}))
    t = load_sweeps([sweep]).set_index("job_num")
    assert (t["state"] == "corrupt").all()
    assert (
        "malformed" in t.loc[0, "issue"]
        and "unreadable" in t.loc[1, "issue"]
        and "unknown state" in t.loc[2, "issue"]
    )
