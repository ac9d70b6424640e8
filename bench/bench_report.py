"""Benchmark of ``python -m analysis.report`` on a synthetic 1,000-trial multirun.

Builds one date directory with three sweeps (PPO 400, DQN 300, A2C 300 trials by default) that
follow ``hpo_app.artifacts`` exactly, then times the report's steps separately (load, tidy, plots,
write) in this process, and the whole command end to end in a fresh interpreter (imports
included: what a user waits for). Prints a table and writes it to ``docs/benchmarks.md`` under
"Analysis report", between the markers ``<!-- bench:report:start -->`` and
``<!-- bench:report:end -->`` (the rest of the file is left alone).

    python bench/bench_report.py                 # 1,000 trials, writes docs/benchmarks.md
    python bench/bench_report.py --trials 40 30 30 --no-write
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analysis.synthetic import day_of_sweeps, write_multirun  # noqa: E402
from bench.docs_section import write_section  # noqa: E402

HEADING = "## Analysis report"


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (plot workers, the CLI run)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _mark(wall: list[float], cpu: list[float]) -> None:
    wall.append(time.perf_counter())
    cpu.append(_cpu())


def run(
    trials: list[int], jobs: int | None, repeat: int, db: bool = True
) -> tuple[list[tuple[str, float, float]], dict[str, object]]:
    tmp = Path(tempfile.mkdtemp(prefix="bench_report_"))
    try:
        date_dir = tmp / "multirun" / "2026-11-28"
        t0 = time.perf_counter()
        write_multirun(date_dir, day_of_sweeps(trials, n_bars=1500, write_db=db))
        generate = time.perf_counter() - t0
        n_files = sum(len(files) for _, _, files in os.walk(date_dir))

        t0 = time.perf_counter()
        from analysis.load import load_multirun
        from analysis.plots import make_plots
        from analysis.report import write_outputs
        from analysis.tables import analyse

        imports = time.perf_counter() - t0
        best: dict[str, float] = {}
        best_cpu: dict[str, float] = {}
        n_plots = 0
        for i in range(repeat):
            out = tmp / f"report{i}"
            t, c = [time.perf_counter()], [_cpu()]
            multirun = load_multirun([date_dir])
            _mark(t, c)
            analysis = analyse(multirun)
            _mark(t, c)
            plots = make_plots(analysis, out, jobs=jobs)
            _mark(t, c)
            write_outputs(analysis, plots, out)
            _mark(t, c)
            names = ("load", "tidy", "plots", "write")
            steps = dict(zip(names, (b - a for a, b in zip(t, t[1:]))))
            cpus = dict(zip(names, (b - a for a, b in zip(c, c[1:]))))
            steps["total"], cpus["total"] = t[-1] - t[0], c[-1] - c[0]
            for k, v in steps.items():
                best[k] = min(best.get(k, v), v)
                best_cpu[k] = min(best_cpu.get(k, cpus[k]), cpus[k])
            n_plots = len(plots)
        html_mb = (tmp / "report0" / "report.html").stat().st_size / 1e6

        cmd = [sys.executable, "-m", "analysis.report", str(date_dir), "--out", str(tmp / "cli")]
        if jobs is not None:
            cmd += ["--jobs", str(jobs)]
        t0, c0 = time.perf_counter(), _cpu()
        subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
        cli, cli_cpu = time.perf_counter() - t0, _cpu() - c0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [
        ("load (files and optuna.db -> tidy trial table)", best["load"], best_cpu["load"]),
        ("tidy (best, counts, importance, Pareto, optuna.db check)", best["tidy"], best_cpu["tidy"]),
        (f"plots ({n_plots} PNGs)", best["plots"], best_cpu["plots"]),
        ("write (trials.csv, summary.md, report.html)", best["write"], best_cpu["write"]),
        ("total in process (sum of the steps)", best["total"], best_cpu["total"]),
        ("end to end: `python -m analysis.report` (fresh interpreter, imports included)", cli, cli_cpu),
    ]
    facts: dict[str, object] = {
        "trials": sum(trials),
        "sweeps": " / ".join(str(n) for n in trials),
        "files": n_files,
        "generate": generate,
        "imports": imports,
        "html_mb": html_mb,
        "repeat": repeat,
        "db": db,
        "load_avg": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
        "jobs": jobs
        if jobs is not None
        else (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
    }
    return rows, facts


def markdown(rows: list[tuple[str, float, float]], facts: dict[str, object], command: str) -> str:
    lines = [
        HEADING,
        "",
        f"A synthetic multirun of {facts['trials']} trials in 3 sweeps (PPO / DQN / A2C: {facts['sweeps']} trials, "
        f"{facts['files']} files, equity curves of 1,500 bars, {'with' if facts['db'] else 'without'} optuna.db) "
        f"reported with plots; best of {facts['repeat']} run(s), "
        f"{facts['jobs']} plotting process(es), on {os.cpu_count()} CPU(s), Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}; load average {facts['load_avg']:.1f} when it finished (the machine is shared: "
        "wall times grow with it; CPU seconds include the plotting worker processes).",
        "",
        "| step | wall seconds | CPU seconds |",
        "| --- | ---: | ---: |",
        *[f"| {name} | {wall:.2f} | {cpu:.2f} |" for name, wall, cpu in rows],
        "",
        f"report.html: {facts['html_mb']:.1f} MB (every plot embedded). Generating the synthetic sweeps took "
        f"{facts['generate']:.1f} s (not counted).",
        "",
        "Reproduce:",
        "",
        "```sh",
        command,
        "```",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trials", type=int, nargs="+", default=[400, 300, 300], help="trials per sweep (ppo dqn a2c)"
    )
    parser.add_argument("--jobs", type=int, default=None, help="plotting processes (default: the CPUs)")
    parser.add_argument(
        "--repeat", type=int, default=2, help="in-process runs; the best time of each step is kept"
    )
    parser.add_argument(
        "--no-db", action="store_true", help="no optuna.db in the sweeps (much faster to generate)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    rows, facts = run(args.trials, args.jobs, args.repeat, db=not args.no_db)
    width = max(len(r[0]) for r in rows)
    print(
        f"{facts['trials']} trials ({facts['sweeps']}), {facts['files']} files; generated in {facts['generate']:.1f} s"
    )
    print(f"{'step'.ljust(width)}  {'wall s':>7}  {'CPU s':>7}")
    for name, wall, cpu in rows:
        print(f"{name.ljust(width)}  {wall:7.2f}  {cpu:7.2f}")
    if not args.no_write:
        command = "python bench/bench_report.py" + (
            "" if args.trials == [400, 300, 300] else " --trials " + " ".join(map(str, args.trials))
        )
        write_section(args.out, "report", markdown(rows, facts, command))
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
