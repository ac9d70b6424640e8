"""``python -m analysis.report`` on a real day of sweeps (``real_day``): its tables are the study and
the job records, its plots are valid and embedded, its re-run command reproduces the best trial,
and damage is listed, never fatal."""

from __future__ import annotations

import base64
import math
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from time import monotonic, sleep

import matplotlib.image
import numpy as np
import optuna
import pandas as pd
import pytest
import yaml

from analysis.report import REPORT_HTML, SUMMARY_MD, TRIALS_CSV, main
from analysis.tables import MIN_PBO_TRIALS
from analysis.verdict import next_steps, verdict
from hpo_record import files, job as job_record
from hpo_app import fmt as hfmt
from hpo_app.metrics import memorized
from tests.browser_helpers import chromium, layout, screenshot
from tests.sweep_helpers import REPO, explain, job_metrics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SWEEPS = {"10-00-00": "a2c", "11-00-00": "dqn", "12-00-00": "a2c"}
STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running"}


@dataclass
class Report:
    out: Path
    stdout: str

    def pngs(self) -> list[Path]:
        return sorted(self.out.glob("*.png"))

    @property
    def summary(self) -> str:
        return (self.out / SUMMARY_MD).read_text()


def _study(sweep: Path) -> optuna.study.Study:
    (name,) = optuna.study.get_all_study_names(f"sqlite:///{sweep / files.STUDY_DB_FILE}")
    return optuna.load_study(study_name=name, storage=f"sqlite:///{sweep / files.STUDY_DB_FILE}")


def _report(paths: list[Path], out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "analysis.report", *map(str, paths), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def report(real_day: Path) -> Report:
    proc = _report([real_day], real_day / "report")
    assert proc.returncode == 0, explain(proc)
    return Report(real_day / "report", proc.stdout)


def _section(summary: str, time: str) -> str:
    return summary.split(f"\n## {SWEEPS[time]} · 2026-11-28/{time}\n")[1].split("\n## ")[0]


@pytest.mark.slow
def test_outputs_and_the_best_trial_per_sweep_on_stdout(report: Report, real_day: Path) -> None:
    for name in (TRIALS_CSV, SUMMARY_MD, REPORT_HTML):
        assert (report.out / name).is_file()
    names = {p.name for p in report.pngs()}
    # No sweep of the day has enough trials for parameter importance: it is not drawn.
    single = ("history", "parallel", "slices", "curves", "val_test", "equity", "tearsheet")
    for time in SWEEPS:
        kinds = (*single, "pareto") if time == "12-00-00" else single
        assert {f"2026-11-28_{time}_{k}.png" for k in kinds} <= names, time
    assert "comparison.png" in names and len(names) == 3 * len(single) + 1 + 1
    lines = report.stdout.strip().splitlines()
    assert lines[-1] == f"Report written to {hfmt.path(report.out)}"
    for time, model in SWEEPS.items():
        study = _study(real_day / time)
        done = [t for t in study.trials if t.state.name == "COMPLETE"]
        best = max(done, key=lambda t: t.values[0])  # every objective here maximizes val/sharpe first
        cells = next(ln for ln in lines if ln.startswith(f"2026-11-28/{time}")).split()
        assert cells[1] == model and int(cells[2]) == best.number
        assert cells[3] == hfmt.metric("val/sharpe", best.values[0])  # Sharpe ratios with 2 decimals
        verdict_line = next(ln for ln in lines if ln.startswith(f"2026-11-28/{time}: "))
        assert len(verdict_line) > len(f"2026-11-28/{time}: ") + 10


@pytest.mark.slow
def test_the_trial_table_is_the_study_and_the_job_records(report: Report, real_day: Path) -> None:
    table = pd.read_csv(report.out / TRIALS_CSV)
    for time in SWEEPS:
        study = _study(real_day / time)
        rows = table[table["sweep"] == f"2026-11-28/{time}"].set_index("trial")
        assert sorted(rows.index) == [t.number for t in study.trials]
        for t in study.trials:
            row = rows.loc[t.number]
            assert row["state"] == STATES[t.state.name] and row["job_num"] == t.user_attrs["job_num"]
            for i, v in enumerate(t.values or []):
                assert row["objective" if i == 0 else f"objective_{i}"] == pytest.approx(v, rel=1e-12)
            for name, value in t.params.items():
                got = row[f"params_{name}"]
                assert (float(got) == pytest.approx(float(value), rel=1e-12) if isinstance(value, (int, float))
                        and not isinstance(value, bool) else str(got) == str(value)), name
            rec = job_record.read(Path(t.user_attrs["job_dir"]))
            for key, value in rec.metrics.items():
                assert row[key] == pytest.approx(value, rel=1e-12), key
            for key, value in rec.baselines.get("buy_and_hold", {}).items():
                assert row[f"buy_and_hold/{key}"] == pytest.approx(value, rel=1e-12)
            if t.state.name == "FAIL":
                assert "missing.csv" in row["error"]


@pytest.mark.slow
def test_every_plot_is_a_valid_png_embedded_in_the_self_contained_page(report: Report) -> None:
    page = (report.out / REPORT_HTML).read_text()
    for path in report.pngs():
        data = path.read_bytes()
        assert data[:8] == PNG_SIGNATURE and len(data) > 5_000, path
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[0] > 200 and pixels.shape[1] > 300, path
        assert float(np.std(pixels[..., :3])) > 0.01, f"{path} is blank"
        assert base64.b64encode(data).decode() in page, path.name
    sources = re.findall(r"src=['\"]([^'\"]+)", page)
    assert len(sources) == len(report.pngs()) and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in page and "https://" not in page


@pytest.mark.slow
def test_the_summary_tells_best_trial_baselines_importance_pareto_and_failures(report: Report,
                                                                                real_day: Path) -> None:
    text = report.summary
    for time in SWEEPS:
        study = _study(real_day / time)
        best = max((t for t in study.trials if t.state.name == "COMPLETE"), key=lambda t: t.values[0])
        section = _section(text, time).split(f"### Best trial: #{best.number} ")[1].split("### How sure")[0]
        rec = job_record.read(Path(best.user_attrs["job_dir"]))
        bh = rec.baselines["buy_and_hold"]["test/sharpe"]
        assert re.search(rf"\| sharpe \| [^\n]*\| {re.escape(hfmt.metric('sharpe', bh))} \|", section), "test sharpe beside buy-and-hold"
        dd = rec.baselines["buy_and_hold"]["test/max_drawdown"]
        assert re.search(rf"\| max_drawdown \| [^\n]*\| {re.escape(f'{100 * dd:.1f}%')} \|", section), "drawdowns in %"
        assert "python -m hpo_app " in section and "Check of this command: verified" in section
        counts = {s: sum(STATES[t.state.name] == s for t in study.trials) for s in ("complete", "pruned", "failed")}
        assert all(f"{n} {s}" in _section(text, time) for s, n in counts.items() if n)
    for time in SWEEPS:  # statistics that rest on too few trials are not shown, and say why
        study = _study(real_day / time)
        n_params = len({p for t in study.trials for p in t.distributions})
        n_done = sum(t.state.name == "COMPLETE" for t in study.trials)
        section = _section(text, time)
        assert f"Not shown: {n_done} complete trial(s) for {n_params} searched parameters" in section
        pairs = int(section.split("Rank correlation between validation and test")[1].split("over ")[1].split()[0]) \
            if "Spearman rho" in section else None
        if pairs is not None:
            assert pairs >= 5 and f"It rests on {pairs} trials: a rough indication" in section
        elif time != "12-00-00":
            assert "Rank correlation between validation and test not shown" in section
    front = {t.number for t in _study(real_day / "12-00-00").best_trials}
    pareto = _section(text, "12-00-00").split("### Pareto front")[1].split("###")[0]
    assert {int(r.split("|")[1]) for r in pareto.splitlines() if re.match(r"^\| \d+ \|", r)} == front
    failed = [t for t in _study(real_day / "11-00-00").trials if t.state.name == "FAIL"]
    broken = _section(text, "11-00-00").split(f"### Broken or unfinished jobs ({len(failed)})")[1]
    assert failed and all(f"| {t.user_attrs['job_num']} | {t.number} | failed |" in broken for t in failed)
    assert "missing.csv" in broken


@pytest.mark.slow
def test_the_best_trial_shows_its_memorization_and_its_checkpoint_choice(report: Report, real_day: Path) -> None:
    for time in SWEEPS:
        study = _study(real_day / time)
        best = max((t for t in study.trials if t.state.name == "COMPLETE"), key=lambda t: t.values[0])
        section = _section(report.summary, time).split(f"### Best trial: #{best.number} ")[1].split("### How sure")[0]
        rec = job_record.read(Path(best.user_attrs["job_dir"]))
        train, val = rec.metrics["train/sharpe"], rec.metrics["val/sharpe"]
        assert f"a gap of {hfmt.metric('sharpe', train - val)}" in section
        ref = rec.baselines.get("reference")  # the planted-edge market's; 11-00-00 reads a CSV file
        assert ("(the reference policy's, the market's own:" in section) == (ref is not None)
        assert ("it memorized its training path" in section) == (ref is not None and memorized(rec.metrics, ref))
        assert ("`train.keep=best`" in section) == (time == "12-00-00")
        if rec.kept:
            assert f"step {rec.kept['timesteps'][0]:,} of {rec.timesteps:,}" in section


@pytest.mark.slow
def test_the_rerun_command_reproduces_the_best_trial(report: Report, real_day: Path, tmp_path: Path) -> None:
    study = _study(real_day / "10-00-00")
    best = study.best_trial
    command = re.findall(r"^python -m hpo_app .*$", _section(report.summary, "10-00-00"), flags=re.M)[0]
    proc = subprocess.run([sys.executable, *shlex.split(command)[1:], f"hydra.run.dir={tmp_path}"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, explain(proc)
    best_dir = Path(best.user_attrs["job_dir"])
    assert (yaml.safe_load((tmp_path / ".hydra" / "config.yaml").read_text())
            == yaml.safe_load((best_dir / ".hydra" / "config.yaml").read_text()))
    # Same config, same seed: the very same validation objective.
    rerun = job_metrics(tmp_path)["objective"]["values"][0]
    assert math.isclose(rerun, best.value, rel_tol=0, abs_tol=0)


@pytest.mark.slow
def test_damage_is_listed_not_fatal(real_day: Path, tmp_path: Path) -> None:
    day = tmp_path / "2026-11-28"
    shutil.copytree(real_day, day, ignore=shutil.ignore_patterns("report"))  # moved: the report follows
    sweep = day / "10-00-00"
    study = _study(sweep)
    victim = next(t for t in study.trials if t.state.name == "COMPLETE" and t.number != study.best_trial.number)
    job = sweep / str(victim.user_attrs["job_num"])
    text = (job / files.METRICS_FILE).read_text()
    (job / files.METRICS_FILE).write_text(text[: len(text) // 2])
    (sweep / "99").mkdir()  # a job directory the study does not know
    (day / "13-00-00").mkdir()
    (day / "13-00-00" / files.STUDY_DB_FILE).write_text("not a database")
    proc = _report([day], tmp_path / "report")
    assert proc.returncode == 0, explain(proc)
    summary = (tmp_path / "report" / SUMMARY_MD).read_text()
    assert f"{files.METRICS_FILE}: unreadable (JSONDecodeError" in summary
    assert "job directories with no trial in the study: 99" in summary
    assert "13-00-00" in summary and "not an SQLite database" in summary
    assert f"| {job.name} | {victim.number} | complete |" in summary.split("\n## a2c · 2026-11-28/10-00-00")[1]


def test_a_path_without_sweep_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "nothing" / "here").mkdir(parents=True)
    proc = _report([tmp_path / "nothing"], tmp_path / "out")
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "no sweep found" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_missing_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no such directory" in err


@pytest.mark.slow
def test_one_sweep_gets_no_comparison_plot(real_day: Path, tmp_path: Path) -> None:
    proc = _report([real_day / "10-00-00"], tmp_path / "out")
    assert proc.returncode == 0, explain(proc)
    assert not (tmp_path / "out" / "comparison.png").exists()
    assert len(list((tmp_path / "out").glob("*.png"))) == 7  # the six of test_outputs_... and the tearsheet


@pytest.mark.slow
def test_the_verdict_at_the_top_comes_from_the_trials_validation_returns(report: Report, real_day: Path) -> None:
    from analysis.significance import (
        backtest_overfitting,
        deflated_sharpe,
        per_bar_sharpe,
        splits_for,
    )

    text, page = report.summary, (report.out / REPORT_HTML).read_text()
    for doc in (text, page):  # at the top of both
        assert doc.index("Can the best trial be trusted?") < doc.index("Best trial per sweep")
    top = text.split("## Can the best trial be trusted?")[1].split("\n## ")[0]
    for time, model in SWEEPS.items():
        study = _study(real_day / time)
        returns = {t.number: np.asarray(job_record.read(Path(t.user_attrs["job_dir"])).val_returns)
                   for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")}
        complete = [t for t in study.trials if t.state.name == "COMPLETE"]
        best = max(complete, key=lambda t: t.values[0])
        d = deflated_sharpe(returns[best.number], np.array([per_bar_sharpe(r) for r in returns.values()]))
        section = top.split(f"### {model} · 2026-11-28/{time}\n")[1].split("###")[0]
        assert f"Deflated Sharpe ratio {d.dsr:.2f}" in section and f"best of {len(returns)} trials" in section
        if len(complete) < MIN_PBO_TRIALS:  # too few to split: not shown, and said so
            assert f"No probability of backtest overfitting: it needs {MIN_PBO_TRIALS} complete trials" in section
            continue
        matrix = np.column_stack([returns[t.number] for t in complete])
        o = backtest_overfitting(matrix, n_splits=splits_for(len(matrix)))
        assert f"Probability of backtest overfitting {o.pbo:.2f}" in section
        assert f"{len(complete)} complete trials, {o.n_obs} validation bars" in section


@pytest.mark.slow
def test_the_top_says_at_a_glance_what_each_sweep_shows_and_what_to_try_next(report: Report) -> None:
    from analysis.load import load_multirun
    from analysis.tables import analyse

    text = report.summary
    glance = text.split("## At a glance\n")[1].split("\n## ")[0]
    assert text.index("## At a glance") < text.index("## Can the best trial be trusted?")
    analysis = analyse(load_multirun([report.out.parent]), importance=None, rerun=False)
    lines = [ln for ln in glance.splitlines() if ln.startswith("- **")]
    assert len(lines) == len(SWEEPS)
    for s in analysis.sweeps:
        line = next(ln for ln in lines if f" · {s.name}**" in ln)
        assert verdict(s).headline in line
    steps = next_steps(analysis.sweeps)
    assert steps and all(step in glance for step in steps)  # tiny sweeps: no edge holds, so advice
    assert "More trials" in glance and "validation=walkforward" in glance
    assert "Best on validation: **" in glance


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("width", [1280, 390])
def test_the_page_in_a_real_browser_at_desktop_and_phone_width(report: Report, width: int, tmp_path: Path) -> None:
    """Chromium lays the page out: nothing wider than the window (wide tables scroll in their own
    box), commands wrap only between words, every plot decodes and fits."""
    page = report.out / REPORT_HTML
    found = layout(page, width)
    assert found["width"] == width
    assert found["scrollWidth"] <= width, found
    assert found["wideBoxes"] == [], found["wideBoxes"]
    assert found["pre"] >= len(SWEEPS) and found["preBreaks"] == [], found["preBreaks"]
    assert found["tables"] > 0 and found["tablesOutsideScroll"] == 0
    assert found["images"] == len(report.pngs()) == found["imagesLoaded"]
    assert found["headings"][:2] == ["At a glance", "Can the best trial be trusted?"]
    shot = screenshot(page, tmp_path / f"report_{width}.png", width)
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[1] >= width and float(np.std(pixels[..., :3])) > 0.01  # something was drawn


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if entry.name.isdigit() and int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers die with the report through Linux's prctl")
def test_a_report_killed_at_once_leaves_no_worker_behind(real_day: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "analysis.report", str(real_day), "--out", str(tmp_path / "out"),
                             "--no-cache", "--jobs", "2"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = monotonic() + 120
    workers: list[int] = []
    while not workers and proc.poll() is None and monotonic() < deadline:
        workers = _children(proc.pid)
        sleep(0.02)
    assert workers, "the report never started a worker"
    proc.kill()
    proc.wait()
    deadline = monotonic() + 10
    while any(_alive(w) for w in workers) and monotonic() < deadline:
        sleep(0.1)
    assert not [w for w in workers if _alive(w)]


@pytest.mark.slow
def test_a_full_disk_under_the_output_is_one_line_naming_it(real_day: Path, tiny_fs: Path) -> None:
    proc = _report([real_day], tiny_fs / "out")
    assert proc.returncode == 2, explain(proc)
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert f"cannot write the report in {tiny_fs / 'out'}" in proc.stderr and "No space left on device" in proc.stderr


@pytest.mark.slow
def test_an_output_that_is_a_file_is_one_line(real_day: Path, tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file, not a directory\n")
    proc = _report([real_day], tmp_path / "out")
    assert proc.returncode == 2, explain(proc)
    assert proc.stderr.strip().splitlines() == [f"error: cannot write the report in {tmp_path / 'out'}: File exists "
                                                f"({tmp_path / 'out'})"]
