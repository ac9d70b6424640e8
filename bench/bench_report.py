"""Benchmark of ``python -m analysis.report`` on a synthetic 1,000-trial day, side by side with a
baseline (another checkout of the report, in its own environment).

Writes one date directory of three sweeps (PPO 400, DQN 300, A2C 300 trials by default) with
``bench/make_day.py``, then runs the report end to end (a fresh interpreter: what a user waits
for) ``--repeat`` times, this checkout and the baseline taking turns, and this checkout's steps
(load, tidy, plots, write) in-process. Besides the first report into a new directory, it times
the report without its cache and the report made again into the same directory (``<out>/.cache``),
with nothing changed and with one sweep changed. Prints a table and writes it to ``docs/benchmarks.md``
between ``<!-- bench:report:start -->`` and ``<!-- bench:report:end -->``.

The baseline of issue #9 is the report before it (commit a712635) with the stack it ran on::

    git worktree add /tmp/report_base a712635
    python3 -m venv /tmp/venv_base && /tmp/venv_base/bin/pip install -e /tmp/report_base
    python bench/bench_report.py --baseline /tmp/report_base --baseline-python /tmp/venv_base/bin/python
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analysis.cache import SETTLED_S  # noqa: E402
from bench.docs_section import write_section  # noqa: E402
from bench.make_day import day_of_sweeps, write_day  # noqa: E402

HEADING = "## Analysis report"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def end_to_end(python: str, repo: Path, date_dir: Path, out: Path, *options: str) -> tuple[float, float]:
    """Wall and CPU seconds of ``python -m analysis.report`` run from ``repo`` (its plot workers included)."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    t0, c0 = time.perf_counter(), _children_cpu()
    subprocess.run([python, "-m", "analysis.report", str(date_dir), "--out", str(out), *options], cwd=repo, env=env,
                   check=True, capture_output=True)
    return time.perf_counter() - t0, _children_cpu() - c0


def steps(date_dir: Path, out: Path) -> dict[str, float]:
    """This checkout's steps, in-process and without the cache (after a first run that paid the imports)."""
    from analysis.report import build_report

    build_report([date_dir], out, cache=False)
    return build_report([date_dir], out, cache=False).seconds


def add_failed_trial(sweep_dir: Path) -> None:
    """One more (failed) trial in a sweep's study: the sweep changed since the last report."""
    import optuna

    storage = f"sqlite:///{sweep_dir / 'optuna.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=None, storage=storage)
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))


SETUPS = {
    "this": "this checkout, first report into a new directory (the default: it fills `<out>/.cache`)",
    "no_cache": "this checkout, `--no-cache`",
    "again": "this checkout, again into the same directory, nothing changed",
    "one_changed": "this checkout, again into the same directory, one sweep changed (a trial added to the last one)",
}


def run(trials: list[int], repeat: int, baseline: Path | None, baseline_python: str) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="bench_report_"))
    try:
        date_dir = tmp / "multirun" / "2026-11-28"
        t0 = time.perf_counter()
        sweep_dirs = write_day(date_dir, day_of_sweeps(trials))
        generated = time.perf_counter() - t0
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in [*SETUPS, "baseline"]}
        for i in range(repeat):
            runs["this"].append(end_to_end(sys.executable, REPO, date_dir, tmp / f"this{i}"))
            runs["no_cache"].append(end_to_end(sys.executable, REPO, date_dir, tmp / f"nocache{i}", "--no-cache"))
            time.sleep(SETTLED_S)  # the last sweep changed just before: wait until it may be cached, and
            end_to_end(sys.executable, REPO, date_dir, tmp / "again")  # fill the cache (not timed)
            runs["again"].append(end_to_end(sys.executable, REPO, date_dir, tmp / "again"))
            add_failed_trial(sweep_dirs[-1])
            runs["one_changed"].append(end_to_end(sys.executable, REPO, date_dir, tmp / "again"))
            if baseline is not None:
                runs["baseline"].append(end_to_end(baseline_python, baseline, date_dir, tmp / f"base{i}"))
        return {
            "trials": trials, "generated": generated, "runs": runs, "steps": steps(date_dir, tmp / "steps"),
            "files": sum(len(f) for _, _, f in os.walk(date_dir)),
            "html_mb": (tmp / "this0" / "report.html").stat().st_size / 1e6,
            "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _median(pairs: list[tuple[float, float]], i: int) -> float:
    return statistics.median(p[i] for p in pairs)


def markdown(r: dict[str, object], baseline: Path | None, baseline_python: str, command: str) -> str:
    runs: dict[str, list[tuple[float, float]]] = r["runs"]  # type: ignore[assignment]
    trials: list[int] = r["trials"]  # type: ignore[assignment]
    s: dict[str, float] = r["steps"]  # type: ignore[assignment]
    lines = [
        HEADING, "",
        f"A synthetic day of {sum(trials)} trials in 3 sweeps (PPO / DQN / A2C: {' / '.join(map(str, trials))}, "
        f"{r['files']} files, with their Optuna study; `bench/make_day.py`) reported with every plot; "
        f"{len(runs['this'])} end-to-end runs each, taking turns; {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}; load average {r['load']:.1f} at the end "
        "(the machine is shared: compare by the ratio).", "",
        "| report | wall s (median) | CPU s (median, plot workers included) | wall / baseline |",
        "| --- | ---: | ---: | ---: |",
    ]
    base = _median(runs["baseline"], 0) if runs["baseline"] else math.nan
    for name, label in [*SETUPS.items(), ("baseline", f"baseline: `{baseline}` run by `{baseline_python}`")]:
        if runs[name]:
            wall = _median(runs[name], 0)
            lines.append(f"| {label} | {wall:.2f} | {_median(runs[name], 1):.2f} | {wall / base:.2f} |")
    lines += [
        "", "This checkout's steps in one process (second run; imports paid by the first):", "",
        "| step | wall s |", "| --- | ---: |",
        *[f"| {name} | {s[name]:.2f} |" for name in ("load", "tidy", "plots", "write", "total")],
        "", f"report.html: {r['html_mb']:.1f} MB (every plot embedded). Generating the day took "
        f"{r['generated']:.1f} s (not counted).", "", "Reproduce:", "", "```sh", command, "```",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[400, 300, 300])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=Path, default=None, help="a checkout of the report to compare with")
    parser.add_argument("--baseline-python", default=sys.executable, help="the Python of the baseline's environment")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    r = run(args.trials, args.repeat, args.baseline, args.baseline_python)
    command = " ".join(["python bench/bench_report.py", *(argv if argv is not None else sys.argv[1:])])
    text = markdown(r, args.baseline, args.baseline_python, command)
    print(text)
    if not args.no_write:
        write_section(REPO / "docs" / "benchmarks.md", "report", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
