"""``python -m analysis.report``: outputs, plots, HTML, robustness and the command line."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.load import PARAM_PREFIX, load_multirun
from analysis.plots import plot_comparison
from analysis.report import REPORT_HTML, SUMMARY_MD, TRIALS_CSV, main
from analysis.synthetic import break_job, day_of_sweeps, write_multirun
from analysis.tables import analyse
from hpo_app import artifacts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    root: Path
    out: Path
    code: int
    stdout: str
    stderr: str

    def pngs(self) -> list[Path]:
        return sorted(self.out.glob("*.png"))


MO = {"objective_metrics": ("val/sharpe", "val/max_drawdown"), "directions": ("maximize", "minimize")}


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A day of three sweeps: a clean PPO one, a DQN one with damaged jobs, a multi-objective A2C one."""
    date_dir = tmp_path_factory.mktemp("multirun") / "2026-11-28"
    ppo, dqn, a2c = day_of_sweeps((14, 10, 12), n_bars=300)
    ppo = replace(ppo, n_failed=0)
    dqn = replace(dqn, n_failed=1, pruned_frac=0.0)
    a2c = replace(a2c, **MO)
    write_multirun(date_dir, [ppo, dqn, a2c])
    return date_dir


@pytest.fixture(scope="module")
def damaged(day: Path) -> dict[str, Path]:
    """The DQN sweep's damaged jobs by kind (and its optimization_results.yaml made garbage)."""
    sweep = day / "11-00-00"
    jobs = sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    metrics = {j: json.loads((j / artifacts.METRICS_FILE).read_text()) for j in jobs}
    state = {j: m["state"] for j, m in metrics.items()}
    # Damage the worst complete trials: the best one stays intact (it is checked elsewhere).
    complete = sorted(
        (j for j in jobs if state[j] == "complete"), key=lambda j: metrics[j]["objective"]["values"][0]
    )
    out = {"truncated": complete[0], "missing_metrics": complete[1], "missing_hydra": complete[2]}
    out["failed"] = next(j for j in jobs if state[j] == "failed")
    break_job(out["truncated"], "truncated_metrics")
    break_job(out["missing_metrics"], "missing_metrics")
    break_job(out["missing_hydra"], "missing_hydra")
    (sweep / artifacts.RESULTS_FILE).write_text("\x00\x01 not: [yaml\n")
    return out


@pytest.fixture(scope="module")
def day_report(day: Path, damaged: dict[str, Path]) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(day)])
    return Run(day, day / "report", code, out.getvalue(), err.getvalue())


def _sweeps(day: Path) -> list[Path]:
    return sorted(p for p in day.iterdir() if p.name[0].isdigit())


def _assert_valid_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert len(data) > 5_000, path
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300, path
    assert float(np.std(image[..., :3])) > 0.01, f"{path} is blank"


def test_report_writes_every_output(day_report: Run) -> None:
    assert day_report.code == 0, day_report.stderr
    for name in (TRIALS_CSV, SUMMARY_MD, REPORT_HTML):
        assert (day_report.out / name).is_file()
    names = {p.name for p in day_report.pngs()}
    single = ("history", "importance", "parallel", "slices", "curves", "val_test", "equity")
    for sweep in ("10-00-00", "11-00-00"):
        assert {f"2026-11-28_{sweep}_{k}.png" for k in single} <= names
    assert {f"2026-11-28_12-00-00_{k}.png" for k in (*single, "pareto")} <= names  # multi-objective
    assert "comparison.png" in names  # three sweeps of one day compared
    assert len(names) == 7 + 7 + 8 + 1


def test_every_plot_is_a_valid_png(day_report: Run) -> None:
    for path in day_report.pngs():
        _assert_valid_png(path)


def test_html_is_self_contained_and_embeds_every_plot(day_report: Run) -> None:
    page = (day_report.out / REPORT_HTML).read_text()
    for path in day_report.pngs():
        assert base64.b64encode(path.read_bytes()).decode() in page, path.name
        assert path.name in page
    sources = re.findall(r"src=['\"]([^'\"]+)", page)
    assert len(sources) == len(day_report.pngs())
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<table>" in page and "http://" not in page and "https://" not in page


def test_trials_csv_equals_the_metrics_files(day_report: Run, day: Path) -> None:
    table = pd.read_csv(day_report.out / TRIALS_CSV)
    jobs = sorted(p for p in day.glob("*/*") if p.name.isdigit())
    assert len(table) == len(jobs)
    rows = table.set_index("job_dir")
    checked = 0
    for job in jobs:
        row = rows.loc[str(job)]
        try:
            m = json.loads((job / artifacts.METRICS_FILE).read_text())
        except (FileNotFoundError, ValueError):
            assert row["state"] in ("corrupt", "incomplete")
            continue
        assert row["state"] == m["state"] and row["trial"] == m["trial"]["number"]
        values = m["objective"]["values"] or []
        for i, v in enumerate(values):
            assert row["objective" if i == 0 else f"objective_{i}"] == pytest.approx(v, rel=1e-12)
        for key, value in m["metrics"].items():
            assert row[key] == pytest.approx(value, rel=1e-12), key
        for baseline, metrics in m["baselines"].items():
            for key, value in metrics.items():
                assert row[f"{baseline}/{key}"] == pytest.approx(value, rel=1e-12)
        if (job / artifacts.HYDRA_DIR).is_dir():
            overrides = yaml.safe_load((job / artifacts.HYDRA_DIR / "overrides.yaml").read_text())
            lr = next(float(o.split("=")[1]) for o in overrides if o.startswith("model.learning_rate="))
            assert row[PARAM_PREFIX + "model.learning_rate"] == pytest.approx(lr, rel=1e-12)
        checked += 1
    assert checked == len(jobs) - 2


def test_stdout_has_the_best_trial_per_sweep(day_report: Run, day: Path) -> None:
    lines = day_report.stdout.strip().splitlines()
    assert lines[-1] == f"Report written to {day / 'report'}"
    assert lines[0].split()[:4] == ["sweep", "model", "trial", "objective"]
    for sweep, model in zip(_sweeps(day), ("ppo", "dqn", "a2c")):
        best = _best_from_files(sweep)
        cells = next(ln for ln in lines if ln.startswith(f"2026-11-28/{sweep.name}")).split()
        assert cells[1] == model and int(cells[2]) == best["trial"]["number"]
        assert float(cells[3]) == pytest.approx(best["objective"]["values"][0], rel=1e-3)
        assert float(cells[5]) == pytest.approx(best["metrics"]["test/sharpe"], rel=1e-3, abs=1e-3)


def _best_from_files(sweep: Path) -> dict:
    best = None
    for job in sweep.iterdir():
        try:
            m = json.loads((job / artifacts.METRICS_FILE).read_text())
        except (FileNotFoundError, NotADirectoryError, ValueError):
            continue
        if m["state"] == "complete" and (
            best is None or m["objective"]["values"][0] > best["objective"]["values"][0]
        ):
            best = m
    assert best is not None
    return best


def test_summary_tells_best_trial_counts_baselines_and_rerun(day_report: Run, day: Path) -> None:
    text = (day_report.out / SUMMARY_MD).read_text()
    for sweep, model in zip(_sweeps(day), ("ppo", "dqn", "a2c")):
        best = _best_from_files(sweep)
        number = best["trial"]["number"]
        sweep_section = text.split(f"## {model} · 2026-11-28/{sweep.name}\n")[1].split("\n## ")[0]
        section = sweep_section.split(f"### Best trial: #{number} ")[1].split("### How sure")[0]
        job = next(j for j in sweep.iterdir() if j.name.isdigit() and int(j.name) == number)
        overrides = yaml.safe_load((job / artifacts.HYDRA_DIR / "overrides.yaml").read_text())
        kept = [o for o in overrides if not o.startswith(("hpo=", "scheduler="))]
        assert "python -m hpo_app " + " ".join(kept) in section
        bh = best["baselines"]["buy_and_hold"]["test/sharpe"]
        assert re.search(rf"\| sharpe \| [^\n]*\| {re.escape(_fmt(bh))} \|", section), (
            "test sharpe beside buy-and-hold"
        )
    assert "Spearman rho" in text and "Method: " in text
    assert "![Comparison of sweeps](comparison.png)" in text
    counts = yaml.safe_load((day / "10-00-00" / artifacts.RESULTS_FILE).read_text())["counts"]
    assert f"{counts['complete']} complete" in text


def _fmt(v: float) -> str:
    from analysis.report import fmt

    return fmt(v)


def test_broken_directories_are_listed_not_fatal(day_report: Run, damaged: dict[str, Path]) -> None:
    assert day_report.code == 0, day_report.stderr
    summary = (day_report.out / SUMMARY_MD).read_text()
    page = (day_report.out / REPORT_HTML).read_text()
    dqn = summary.split("## dqn · 2026-11-28/11-00-00")[1].split("\n## ")[0]
    broken_section = dqn.split("### Broken or unfinished jobs (4)")[1]
    for kind, job in damaged.items():
        assert f"| {job.name} |" in broken_section and str(job) in broken_section, kind
        assert str(job) in page
    for words in (
        "corrupt",
        "incomplete",
        "failed",
        "no .hydra/",
        "metrics.json unreadable",
        "NaN in the policy loss",
    ):
        assert words in broken_section
    assert f"{artifacts.RESULTS_FILE} unreadable" in dqn
    per_sweep = [int(n) for n in re.findall(r"### Broken or unfinished jobs \((\d+)\)", summary)]
    assert f"{sum(per_sweep)} broken or unfinished job(s)" in day_report.stdout
    assert "### Broken or unfinished jobs (0)" in summary  # the clean PPO sweep


def test_multi_objective_sweep_gets_a_pareto_front(day_report: Run, day: Path) -> None:
    results = yaml.safe_load((day / "12-00-00" / artifacts.RESULTS_FILE).read_text())
    summary = (day_report.out / SUMMARY_MD).read_text()
    front_section = summary.split("### Pareto front")[1].split("###")[0]
    front_trials = {int(r.split("|")[1]) for r in front_section.splitlines() if re.match(r"^\| \d+ \|", r)}
    assert front_trials == {s["number"] for s in results["solutions"]}
    table = pd.read_csv(day_report.out / TRIALS_CSV)
    done = table[(table["state"] == "complete") & (table["sweep"] == "2026-11-28/12-00-00")]
    assert (done["objective_1"] == done["val/max_drawdown"]).all()


def test_a_path_without_sweep_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "nothing" / "here").mkdir(parents=True)
    proc = subprocess.run(
        [sys.executable, "-m", "analysis.report", str(tmp_path / "nothing")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "no sweep found" in proc.stderr
    assert not (tmp_path / "nothing" / "report").exists()


def test_a_missing_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no such directory" in err


def test_one_sweep_gets_no_comparison_plot(day: Path, tmp_path: Path) -> None:
    one = analyse(load_multirun([day / "10-00-00"]), importance=False)
    assert plot_comparison(one, tmp_path / "comparison.png") is None
    assert not (tmp_path / "comparison.png").exists()
