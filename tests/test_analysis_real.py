"""The report on a real day of sweeps made in the test: two real multiruns, then the real CLI."""

from __future__ import annotations

import base64
import math
import re
import shlex
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from matplotlib import image

from hpo_app import artifacts
from tests.sweep_helpers import REPO, TINY, explain, job_dirs, job_metrics, run_app

pytestmark = pytest.mark.slow

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """Two real sweeps of one day (a2c with a pruner, dqn), as `multirun/<date>/<time>/`."""
    root = tmp_path_factory.mktemp("multirun") / "2026-11-28"
    for time, model, extra in (("10-00-00", "a2c", ["scheduler=median"]), ("11-00-00", "dqn", [])):
        args = [a for a in TINY if not a.startswith("model=")] + [f"model={model}", "hpo=quick_test",
                "hydra/launcher=basic", "hydra.sweeper.n_trials=4", *extra]
        proc = run_app(args, root / time)
        assert proc.returncode == 0, explain(proc)
    proc = subprocess.run([sys.executable, "-m", "analysis.report", str(root)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, explain(proc)
    return root, proc.stdout


def test_stdout_names_the_best_trial_per_sweep_and_the_report(day):
    root, stdout = day
    assert f"Report written to {root / 'report'}" in stdout
    for time, model in (("10-00-00", "a2c"), ("11-00-00", "dqn")):
        line = next(l for l in stdout.splitlines() if time in l)
        assert model in line


def test_table_values_equal_the_metrics_files(day):
    root, _ = day
    table = pd.read_csv(root / "report" / "trials.csv")
    assert len(table) == 8
    for time in ("10-00-00", "11-00-00"):
        for job in job_dirs(root / time):
            metrics = job_metrics(job)
            row = table[(table["sweep"].str.endswith(time)) & (table["job_num"] == int(job.name))]
            assert len(row) == 1
            row = row.iloc[0]
            assert row["state"] == metrics["state"]
            assert row["model"] == metrics["model"]
            for key, value in metrics["metrics"].items():
                assert row[key] == pytest.approx(value, rel=1e-12), key
            for key, value in metrics["baselines"]["buy_and_hold"].items():
                assert row[f"buy_and_hold/{key}"] == pytest.approx(value, rel=1e-12)
            overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
            for line in overrides:
                key, value = line.split("=", 1)
                if f"params_{key}" in table.columns:
                    expected = yaml.safe_load(value)
                    got = row[f"params_{key}"]
                    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
                        assert float(got) == pytest.approx(float(expected), rel=1e-12)
                    else:
                        assert str(got) == str(expected)


def test_every_plot_is_a_valid_image_embedded_in_the_html(day):
    root, _ = day
    report = root / "report"
    plots = sorted(report.glob("*.png"))
    kinds = {"history", "importance", "parallel", "slices", "curves", "val_test", "equity"}
    for time in ("10-00-00", "11-00-00"):
        assert {k for k in kinds if any(p.name.endswith(f"{time}_{k}.png") for p in plots)} == kinds
    assert (report / "comparison.png") in plots
    html = (report / "report.html").read_text()
    assert "src='http" not in html and 'src="http' not in html  # self-contained
    for plot in plots:
        data = plot.read_bytes()
        assert data.startswith(PNG) and len(data) > 2000
        pixels = image.imread(plot)
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100
        assert base64.b64encode(data).decode() in html, plot.name


def test_rerun_command_in_summary_reproduces_the_best_trial(day, tmp_path):
    root, _ = day
    summary = (root / "report" / "summary.md").read_text()
    commands = re.findall(r"^python -m hpo_app .*$", summary, flags=re.M)
    assert len(commands) == 2
    sweep = root / "10-00-00"
    best = yaml.safe_load((sweep / artifacts.RESULTS_FILE).read_text())["best_trial"]
    best_job = sweep / str(best["job_num"])
    command = next(c for c in commands if "model=a2c" in c)
    argv = shlex.split(command)[1:] + [f"hydra.run.dir={tmp_path}"]
    proc = subprocess.run([sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, explain(proc)
    rerun_config = yaml.safe_load((tmp_path / ".hydra" / "config.yaml").read_text())
    best_config = yaml.safe_load((best_job / ".hydra" / "config.yaml").read_text())
    sweep_only = {"scheduler", "sampler"}  # configure the sweep; a single run never reads them
    assert {k: v for k, v in rerun_config.items() if k not in sweep_only} == {
        k: v for k, v in best_config.items() if k not in sweep_only
    }
    # Same config, same seed: the very same validation objective.
    rerun = job_metrics(tmp_path)
    assert rerun["objective"]["values"] == job_metrics(best_job)["objective"]["values"]
    assert math.isclose(rerun["objective"]["values"][0], best["values"][0], rel_tol=0, abs_tol=0)
