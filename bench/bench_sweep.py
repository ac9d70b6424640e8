"""Benchmark of the sweep machinery: per-trial overhead, worker-slot utilization, pruning on PPO.

Everything is measured side by side in one run on this machine, through real Hydra multiruns
launched as subprocesses from the repository root (as a user launches them):

1. overhead     Per-trial cost of the sweep machinery with a trivial objective
                (``bench/trivial_app.py``, a Hydra task that returns ``x**2`` at once), one trial
                at a time (``n_jobs=1``): the project's sweeper (``hydra/sweeper=hpo_optuna``) with
                its Ray launcher (``hpo_ray``) and with the basic launcher, and the released sweeper
                (``hydra/sweeper=optuna``) with the released Ray launcher (``hydra/launcher=ray``);
                against plain Optuna ``study.optimize`` in one process, in memory and on sqlite.
                Each sweep runs N and 2N trials; the per-trial cost is taken from the trials' own
                timestamps (mean gap between consecutive trial starts) and, as a cross-check, from
                (wall(2N) - wall(N)) / N. Start-up (Hydra, Ray, imports) is the time from launching
                the command to the first trial's start.
2. utilization  Worker-slot utilization = busy time / (slots x wall time), 2 slots, trivial trials
                that sleep 0.5-4 s (a seeded draw per job number: the same durations for both):
                the project's asynchronous dispatch (``ray.wait``) against the released sweeper's
                blocking batches of ``n_jobs``, both on Ray. Busy time is the sum of the trials'
                own start-to-end times (``timing.json`` in each job directory); wall time runs
                from the first trial's start to the last one's end.
3. ppo          A real PPO search, ``scheduler=asha`` against ``scheduler=none``, same seed (the
                TPE sampler is seeded by ``seed``) and trial count: total timesteps trained (sum of
                ``timesteps`` in each job's metrics.json), wall time, trials pruned, and the best
                validation objective each found (optimization_results.yaml).

Prints the tables and writes them, the machine's facts and the exact commands to
``docs/benchmarks.md`` between ``<!-- bench:sweep:start -->`` and ``<!-- bench:sweep:end -->``
(the rest of the file is left alone). Sweep directories are kept under
``multirun/bench_sweep/<time>/`` (git-ignored).

    python bench/bench_sweep.py                          # everything, about 10 minutes here
    python bench/bench_sweep.py --quick                  # smaller sizes, a few minutes
    python bench/bench_sweep.py --only overhead,utilization --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from bench.trivial_app import TIMING_FILE, duration_for  # noqa: E402
from hpo_record import files  # noqa: E402
from bench.docs_section import markers, write_section  # noqa: E402

START, END = markers("sweep")
HEADING = "## Sweep machinery"
DOC = REPO / "docs" / "benchmarks.md"
PARTS = ("overhead", "utilization", "ppo")
TRIVIAL = ["bench/trivial_app.py", "-m"]
APP = ["-m", "hpo_app", "-m"]
SEED = 0

# The ways of sweeping the trivial app; `{dir}` is the sweep directory.
SETUPS: dict[str, tuple[str, list[str]]] = {
    "ours_ray": ("project sweeper + Ray launcher (`hpo_optuna` + `hpo_ray`), queue 1 (default)",
                 ["hydra/sweeper=hpo_optuna", "hydra/launcher=hpo_ray"]),
    "ours_ray_q0": ("project sweeper + Ray launcher, `hydra.sweeper.queue=0`",
                    ["hydra/sweeper=hpo_optuna", "hydra/launcher=hpo_ray", "hydra.sweeper.queue=0"]),
    "ours_basic": ("project sweeper + basic launcher (`hpo_optuna` + `basic`)",
                   ["hydra/sweeper=hpo_optuna", "hydra/launcher=basic"]),
    "released_ray": ("released sweeper + released Ray launcher (`optuna` + `ray`)",
                     ["hydra/sweeper=optuna", "hydra/launcher=ray", f"hydra.sweeper.sampler.seed={SEED}",
                      "hydra.sweeper.direction=minimize", "hydra.sweeper.study_name=bench",
                      "hydra.sweeper.storage=sqlite:///{dir}/optuna.db"]),
}


@dataclass
class Sizes:
    overhead_n: int = 20            # N; the sweeps also run 2N
    overhead_reps: int = 3          # 2N-trial sweeps per setup, interleaved; the median is reported
    util_n: int = 12
    sleep_low: float = 0.5
    sleep_high: float = 4.0
    ppo_trials: int = 12
    ppo_timesteps: int = 6000
    ppo_eval_every: int = 1000
    both_sizes: bool = True         # run the sweeps at N and 2N (False: 2N only, timestamps only)


QUICK = Sizes(overhead_n=6, overhead_reps=1, util_n=8, ppo_trials=6, ppo_timesteps=3000, ppo_eval_every=500,
              both_sizes=False)


@dataclass
class Run:
    """One subprocess: a multirun of the trivial app or of hpo_app."""

    name: str
    argv: list[str]
    sweep_dir: Path
    wall: float = 0.0
    launched: float = 0.0
    exited: float = 0.0
    returncode: int = 0
    timings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def command(self) -> str:
        return "python " + " ".join(shlex.quote(a) for a in self.argv)


# -- running ------------------------------------------------------------------------------------
def run(name: str, argv: list[str], sweep_dir: Path, log_dir: Path, timeout: float) -> Run:
    """Run ``python argv`` from the repository root; its output goes to ``log_dir/name.log``."""
    sweep_dir.mkdir(parents=True, exist_ok=True)  # the released sweeper opens its sqlite file first
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "HYDRA_FULL_ERROR": "1", "PYTHONUNBUFFERED": "1"}
    result = Run(name, argv, sweep_dir)
    log_path = log_dir / f"{name}.log"
    print(f"  {name}: {result.command}", flush=True)
    before = source_fingerprint()
    with log_path.open("w") as log:
        result.launched = time.time()
        proc = subprocess.Popen([sys.executable, *argv], cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            result.returncode = proc.wait(timeout=timeout)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            os.killpg(proc.pid, signal.SIGINT)  # our own process group: the sweep and its Ray
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            raise
        result.exited = time.time()
    result.wall = result.exited - result.launched
    if source_fingerprint() != before:
        CHANGED.append(name)
        print(f"    WARNING: hpo_app/, hydra_plugins/, conf/ or bench/ changed while {name} ran", flush=True)
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{name} exited {result.returncode} (log {log_path}):\n{tail}")
    result.timings = sorted(
        (json.loads(p.read_text()) for p in sweep_dir.glob(f"*/{TIMING_FILE}")), key=lambda t: t["start"]
    )
    print(f"    {result.wall:.1f} s", flush=True)
    return result


def trivial_argv(setup: str, sweep_dir: Path, extra: list[str]) -> list[str]:
    _, overrides = SETUPS[setup]
    return [*TRIVIAL, *[o.format(dir=sweep_dir) for o in overrides], f"hydra.sweep.dir={sweep_dir}", *extra]


def source_fingerprint() -> str:
    """A hash of the code and config a sweep runs (others may edit them while the benchmark runs)."""
    import hashlib

    digest = hashlib.sha256()
    for top in ("hpo_app", "hydra_plugins", "conf", "bench"):
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(REPO)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


CHANGED: list[str] = []  # commands during which the sources changed


def rel(path: Path) -> Path:
    try:
        return path.relative_to(REPO)
    except ValueError:
        return path


# -- 1. overhead ----------------------------------------------------------------------------------
def per_trial_from_starts(timings: list[dict[str, Any]]) -> float:
    starts = [t["start"] for t in timings]
    return (starts[-1] - starts[0]) / (len(starts) - 1)


def bench_overhead(sizes: Sizes, out: Path, timeout: float) -> dict[str, Any]:
    """Each setup's 2N-trial sweep ``sizes.overhead_reps`` times, the setups interleaved (so a
    change in the machine's load hits them alike); the N-trial sweep once, for the cross-check."""
    n = sizes.overhead_n
    counts = (n, 2 * n) if sizes.both_sizes else (2 * n,)
    runs: dict[str, dict[int, list[Run]]] = {setup: {k: [] for k in counts} for setup in SETUPS}
    commands: list[str] = []
    for rep in range(sizes.overhead_reps):
        for setup in SETUPS:
            for k in counts if rep == 0 else (2 * n,):
                sweep = out / "overhead" / f"{setup}_{k}_{rep}"
                argv = trivial_argv(setup, rel(sweep), ["mode=instant", f"hydra.sweeper.n_trials={k}",
                                                        "hydra.sweeper.n_jobs=1"])
                r = run(f"overhead_{setup}_{k}_{rep}", argv, sweep, out / "logs", timeout)
                if len(r.timings) != k:
                    raise RuntimeError(f"{setup}: {len(r.timings)} trials wrote {TIMING_FILE}, expected {k}")
                runs[setup][k].append(r)
                if rep == 0:
                    commands.append(r.command)
    rows: dict[str, Any] = {}
    for setup in SETUPS:
        every = [r for k in counts for r in runs[setup][k]]
        per_trial = sorted(per_trial_from_starts(r.timings) for r in runs[setup][2 * n])
        rows[setup] = {
            "label": SETUPS[setup][0],
            "walls": {k: runs[setup][k][0].wall for k in counts},
            "startup": min(r.timings[0]["start"] - r.launched for r in every),
            "teardown": min(r.exited - r.timings[-1]["end"] for r in every),
            "per_trial": statistics.median(per_trial),
            "per_trial_range": (per_trial[0], per_trial[-1]),
            "per_trial_diff": (runs[setup][2 * n][0].wall - runs[setup][n][0].wall) / n if sizes.both_sizes else None,
        }
        print(f"    {setup}: start-up {rows[setup]['startup']:.1f} s, per trial {rows[setup]['per_trial']:.3f} s "
              f"(median of {len(per_trial)})", flush=True)

    for storage in ("memory", "sqlite"):
        totals = {k: plain_optuna(k, storage, out) for k in (n, 2 * n)}
        rows[f"plain_{storage}"] = {
            "label": f"plain Optuna `study.optimize`, one process, {'in-memory' if storage == 'memory' else 'sqlite'} storage",
            "walls": totals,
            "startup": None,
            "teardown": None,
            "per_trial": totals[2 * n] / (2 * n),
            "per_trial_diff": (totals[2 * n] - totals[n]) / n,
        }
    commands.append(f"# plain Optuna: bench_sweep.plain_optuna(N, 'memory' | 'sqlite'): TPESampler(seed={SEED}), "
                    "study.optimize(lambda t: t.suggest_float('x', -1, 1) ** 2, n_trials=N)")
    return {"rows": rows, "n": n, "counts": counts, "commands": commands, "reps": sizes.overhead_reps}


def plain_optuna(n_trials: int, storage: str, out: Path) -> float:
    """Seconds of ``study.optimize`` for ``n_trials`` trivial trials (same sampler as the sweeps)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = None
    if storage == "sqlite":
        db = out / "overhead" / f"plain_sqlite_{n_trials}.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        db.unlink(missing_ok=True)
        url = f"sqlite:///{db}"
    study = optuna.create_study(storage=url, sampler=optuna.samplers.TPESampler(seed=SEED), direction="minimize")
    started = time.perf_counter()
    study.optimize(lambda t: t.suggest_float("x", -1.0, 1.0) ** 2, n_trials=n_trials)
    return time.perf_counter() - started


# -- 2. utilization -------------------------------------------------------------------------------
def ideal_makespan(durations: list[float], slots: int, batched: bool) -> float:
    """Makespan with zero dispatch overhead: batches of ``slots`` in job order, or greedy async."""
    if batched:
        return sum(max(durations[i:i + slots]) for i in range(0, len(durations), slots))
    free = [0.0] * slots
    for d in durations:
        i = free.index(min(free))
        free[i] += d
    return max(free)


def bench_utilization(sizes: Sizes, out: Path, timeout: float) -> dict[str, Any]:
    slots, n = 2, sizes.util_n
    durations = [duration_for(j, SEED, sizes.sleep_low, sizes.sleep_high) for j in range(n)]
    rows: dict[str, Any] = {}
    commands = []
    labels = {"ours_ray": "project sweeper, asynchronous, queue 1 (default)",
              "ours_ray_q0": "project sweeper, asynchronous, queue 0",
              "released_ray": "released sweeper, blocking batches of n_jobs"}
    for setup, batched in (("ours_ray", False), ("ours_ray_q0", False), ("released_ray", True)):
        sweep = out / "utilization" / setup
        argv = trivial_argv(setup, rel(sweep), [
            "mode=sleep", f"seed={SEED}", f"sleep.low={sizes.sleep_low}", f"sleep.high={sizes.sleep_high}",
            f"hydra.sweeper.n_trials={n}", f"hydra.sweeper.n_jobs={slots}",
        ])
        r = run(f"utilization_{setup}", argv, sweep, out / "logs", timeout)
        commands.append(r.command)
        if len(r.timings) != n:
            raise RuntimeError(f"{setup}: {len(r.timings)} trials wrote {TIMING_FILE}, expected {n}")
        busy = sum(t["end"] - t["start"] for t in r.timings)
        wall = max(t["end"] for t in r.timings) - min(t["start"] for t in r.timings)
        ideal = ideal_makespan(durations, slots, batched)
        rows[setup] = {
            "label": labels[setup],
            "busy": busy, "wall": wall, "util": busy / (slots * wall), "idle": (slots * wall - busy) / n,
            "ideal_wall": ideal, "ideal_util": sum(durations) / (slots * ideal),
            "process_wall": r.wall,
            "order": [t["job_num"] for t in sorted(r.timings, key=lambda t: t["end"])],
        }
        print(f"    {setup}: utilization {rows[setup]['util']:.1%} (ideal {rows[setup]['ideal_util']:.1%})", flush=True)
    return {"rows": rows, "slots": slots, "n": n, "durations": durations, "commands": commands}


# -- 3. ppo ---------------------------------------------------------------------------------------
def bench_ppo(sizes: Sizes, out: Path, timeout: float) -> dict[str, Any]:
    import optuna

    rows: dict[str, Any] = {}
    commands = []
    params: dict[str, list[dict[str, Any]]] = {}
    for scheduler in ("asha", "none"):
        sweep = out / "ppo" / scheduler
        argv = [*APP, "model=ppo", "hpo=quick_test", f"scheduler={scheduler}", f"seed={SEED}",
                f"hydra.sweeper.n_trials={sizes.ppo_trials}", "hydra.sweeper.n_jobs=2",
                f"train.total_timesteps={sizes.ppo_timesteps}", f"train.eval_every={sizes.ppo_eval_every}",
                f"hydra.sweep.dir={rel(sweep)}"]
        r = run(f"ppo_{scheduler}", argv, sweep, out / "logs", timeout)
        commands.append(r.command)
        results = yaml.safe_load((sweep / files.RESULTS_FILE).read_text())
        jobs = [p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()]
        metrics = [json.loads((p / files.METRICS_FILE).read_text()) for p in jobs
                   if (p / files.METRICS_FILE).exists()]
        study = optuna.load_study(study_name=results["study_name"], storage=results["storage"])
        params[scheduler] = [t.params for t in sorted(study.trials, key=lambda t: t.number)]
        rows[scheduler] = {
            "wall": r.wall,
            "timesteps": sum(int(m["timesteps"]) for m in metrics),
            "job_seconds": sum(float(m["seconds"]) for m in metrics),
            "counts": results["counts"],
            "best_value": results.get("best_value"),
            "best_trial": (results.get("best_trial") or {}).get("number"),
            "metric": ", ".join(results.get("objective_metrics") or []),
        }
        print(f"    {scheduler}: {rows[scheduler]['timesteps']} steps, {r.wall:.0f} s, "
              f"pruned {results['counts']['pruned']}, best {rows[scheduler]['best_value']}", flush=True)
    same = 0
    for a, b in zip(params["asha"], params["none"]):
        if a != b:
            break
        same += 1
    note = ""
    best = rows["none"]["best_trial"]
    if best is not None and best < same and rows["asha"]["best_trial"] != best:
        asha = optuna.load_study(study_name="ppo", storage=yaml.safe_load(
            (out / "ppo" / "asha" / files.RESULTS_FILE).read_text())["storage"]).trials[best]
        note = (f"The unpruned run's best trial ({best}) has the same parameters in the ASHA run, where it ended "
                f"{asha.state.name}" + (f" at evaluation {asha.last_step} (value {asha.intermediate_values[asha.last_step]:.3f})"
                                        if asha.state.name == "PRUNED" else f" with value {asha.value}") + ".")
    return {"rows": rows, "commands": commands, "same_prefix": same, "sizes": sizes, "note": note}


# -- report ---------------------------------------------------------------------------------------
def machine_facts() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    packages = ["hydra-core", "hydra-optuna-sweeper", "hydra-ray-launcher", "ray", "optuna", "sqlalchemy",
                "stable-baselines3", "torch"]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "hpo_app", "hydra_plugins", "conf"],
                               cwd=REPO, capture_output=True, text=True).stdout.strip()
        commit += " (with uncommitted changes in hpo_app/, hydra_plugins/ or conf/)" if dirty else ""
    except OSError:
        commit = "?"
    return {
        "nproc": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": ", ".join(f"{p} {version(p)}" for p in packages),
        "commit": commit or "?",
    }


def ratio(a: float, b: float) -> str:
    r = a / b
    return f"{r:,.0f}" if r >= 100 else f"{r:.1f}" if r >= 1 else f"{r:.2f}"


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(results: dict[str, Any], facts: dict[str, str], loads: tuple[str, str], argv: list[str],
             elapsed: float, out: Path) -> str:
    lines = [
        HEADING,
        "",
        f"Measured by `bench/bench_sweep.py` on {time.strftime('%Y-%m-%d %H:%M')}, commit {facts['commit']}, "
        f"sources fingerprint {facts['fingerprint']}, in {elapsed / 60:.1f} minutes.",
        "",
        *([f"**Warning: the sources changed while these ran: {', '.join(CHANGED)}; re-run for comparable figures.**", ""]
          if CHANGED else []),
        f"- Machine: {facts['nproc']} CPU(s) (`nproc`), {facts['cpu']}, {facts['memory']} RAM, {facts['os']}, "
        f"Python {facts['python']}.",
        f"- Versions: {facts['versions']}.",
        f"- Load average (1, 5, 15 min) at start: {loads[0]}; at end: {loads[1]}. This machine has 2 cores and "
        "may be shared with other jobs (see the load), so absolute seconds are noisy; compare the setups by their ratios (each table's setups ran back to back in one run).",
        "",
    ]
    if "overhead" in results:
        o = results["overhead"]
        rows = o["rows"]
        base_mem = rows["plain_memory"]["per_trial"]
        base_sql = rows["plain_sqlite"]["per_trial"]
        n = o["n"]
        lines += [
            "### Per-trial overhead (trivial objective, one trial at a time)",
            "",
            "The task returns `x**2` at once, so a trial's cost is the machinery's: ask, compose the job's "
            "config, launch it (a Ray task, or in the driver with `basic`), Hydra's job set-up, tell, "
            "bookkeeping. `n_jobs=1`; sqlite storage in the sweep directory for every sweep; TPE sampler, "
            f"seed {SEED}. *Per trial* is the mean gap between consecutive trial starts in the "
            f"{2 * n}-trial sweep (each trial's own timestamps); each setup's {2 * n}-trial sweep ran "
            f"{o['reps']} times, the setups taking turns, and the median and range are shown"
            + (f"; *(2N−N)/N* is (wall of {2 * n} trials − wall of {n}) / {n}, a cross-check that the start-up's "
               "variation between runs (several seconds on this loaded machine) can swamp"
               if o["counts"] == (n, 2 * n) else "")
            + ". *Start-up* is from launching the command to the first trial's start (imports, Hydra, "
            "Ray, study creation); *exit* from the last trial's end to the process's exit.",
            "",
            "| setup | wall s (" + " / ".join(f"{k} trials" for k in o["counts"]) + ") | start-up s | exit s "
            "| per trial s (median; range) | (2N−N)/N s | × plain in-memory | × plain sqlite |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for key, row in rows.items():
            plain = row["startup"] is None
            walls = " / ".join(fmt(v, 3 if plain else 1) for v in row["walls"].values())
            spread = row.get("per_trial_range")
            per_trial = fmt(row["per_trial"]) + (f" ({spread[0]:.3f}–{spread[1]:.3f})" if spread else "")
            lines.append(
                f"| {row['label']} | {walls} | {fmt(row['startup'], 1)} | {fmt(row['teardown'], 1)} | "
                f"{per_trial} | {fmt(row['per_trial_diff'])} | "
                f"{ratio(row['per_trial'], base_mem)} | {ratio(row['per_trial'], base_sql)} |"
            )
        lines += ["", "(The plain Optuna rows' wall times are for N / 2N trials of `study.optimize` alone, "
                  "without interpreter start-up.)", ""]
        ray_cost = rows["ours_ray"]["startup"] - rows["ours_basic"]["startup"]
        ours, ours_q0, released = (rows[k]["per_trial"] for k in ("ours_ray", "ours_ray_q0", "released_ray"))
        lines += [
            f"Ray's start-up (ray.init, the first worker, the first task), as start-up with the Ray launcher minus "
            f"start-up with the basic one for the same sweeper: {ray_cost:.1f} s. Per trial on Ray, the project's "
            f"sweeper costs × {ours / released:.2f} the released sweeper's with its default queue of one trial, "
            f"× {ours_q0 / released:.2f} without it. Both launch every job through the released Ray launcher's "
            "`launch()`, which composes the job's config (about half of the driver's time per trial in a profile), "
            "pickles Hydra's state and submits a Ray task; the project's sweeper also records the job number and "
            "directory on the trial, a heartbeat, a progress line, and optimization_results.yaml (rewritten at "
            "most every 5 s). With `queue=1` the next trial is composed and submitted while the current one "
            "runs, so Ray starts it the moment the slot frees; with `queue=0` the driver's work sits between "
            "two trials, as in the released sweeper.",
            "",
        ]
    if "utilization" in results:
        u = results["utilization"]
        rows = u["rows"]
        d = u["durations"]
        lines += [
            "### Worker-slot utilization (durations that vary several-fold, 2 slots, Ray)",
            "",
            f"{u['n']} trials of the trivial task sleeping {min(d):.2f}–{max(d):.2f} s (seeded by job number, "
            f"so both sweepers run the same durations in the same job order; {sum(d):.1f} s in all). "
            "Utilization = busy / (slots × wall); busy is the sum of the trials' own start-to-end times, wall "
            "runs from the first trial's start to the last trial's end. *Ideal* is the same policy with "
            "zero dispatch overhead, computed from the durations.",
            "",
            "| dispatch | busy s | wall s | utilization | idle slot-s per trial | ideal wall s | ideal utilization "
            "| process wall s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in rows.values():
            lines.append(
                f"| {row['label']} | {row['busy']:.1f} | {row['wall']:.1f} | {row['util']:.1%} | {row['idle']:.2f} | "
                f"{row['ideal_wall']:.1f} | {row['ideal_util']:.1%} | {row['process_wall']:.1f} |"
            )
        a, q0, b = rows["ours_ray"], rows["ours_ray_q0"], rows["released_ray"]
        lines += [
            "",
            f"Asynchronous (queue 1) / batched: utilization × {a['util'] / b['util']:.2f}, wall time of the trials "
            f"× {a['wall'] / b['wall']:.2f}; queue 0 / batched: utilization × {q0['util'] / b['util']:.2f}. "
            f"Order of completion (job numbers), asynchronous: {a['order']}; batched: {b['order']}. With "
            "asynchronous dispatch a slot idles while Ray hands it the next job and Hydra sets the job up "
            "(plus, with queue 0, while the driver tells the finished trial, asks the next, composes its config "
            "and submits it); the batches also wait for their longest trial.",
            "",
        ]
    if "ppo" in results:
        p = results["ppo"]
        s = p["sizes"]
        rows = p["rows"]
        lines += [
            "### PPO search: ASHA against no pruning",
            "",
            f"`hpo=quick_test`, {s.ppo_trials} trials of {s.ppo_timesteps} steps with an evaluation on validation "
            f"about every {s.ppo_eval_every} steps (at the first rollout boundary past each multiple: the intermediate "
            "values ASHA prunes on), 2 trials in parallel on Ray, "
            f"`seed={SEED}` (TPE sampler seeded; its first {p['same_prefix']} trials drew identical parameters "
            "in both runs). Timesteps are the sum of `timesteps` over the jobs' metrics.json (PPO rounds up "
            "to whole rollouts); wall is the whole command.",
            "",
            "| scheduler | complete / pruned / failed | timesteps trained | wall s | sum of job s "
            "| best validation objective (trial) |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, row in rows.items():
            c = row["counts"]
            lines.append(
                f"| {name} | {c['complete']} / {c['pruned']} / {c['failed']} | {row['timesteps']:,} | "
                f"{row['wall']:.0f} | {row['job_seconds']:.0f} | "
                f"{fmt(row['best_value'], 4)} {row['metric']} ({row['best_trial']}) |"
            )
        a, b = rows["asha"], rows["none"]
        lines += [
            "",
            f"ASHA / none: timesteps × {a['timesteps'] / b['timesteps']:.2f}, wall time × {a['wall'] / b['wall']:.2f}. "
            + p["note"],
            "",
        ]
    commands = [c for part in ("overhead", "utilization", "ppo") if part in results for c in results[part]["commands"]]
    lines += [
        "### Reproduce",
        "",
        f"From the repository root, with the project's environment (`python` here is {sys.executable}):",
        "",
        "```sh",
        " ".join(["python bench/bench_sweep.py", *(shlex.quote(a) for a in argv)]),
        "```",
        "",
        f"It ran these commands (sweep directories under {rel(out)}/, kept; logs in its logs/):",
        "",
        "```sh",
        *commands,
        "```",
    ]
    return "\n".join(lines)


def load_average() -> str:
    try:
        return ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes); still writes the doc")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {rel(DOC)}")
    parser.add_argument("--out", type=Path, default=None, help="where sweeps land (default multirun/bench_sweep/<time>)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per command")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"--only: unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    sizes = QUICK if args.quick else Sizes()
    out = (args.out or REPO / "multirun" / "bench_sweep" / time.strftime("%Y-%m-%d_%H-%M-%S")).absolute()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    print(f"bench_sweep: {', '.join(parts)}{' (quick)' if args.quick else ''}; sweeps in {out}", flush=True)

    started = time.perf_counter()
    load_start = load_average()
    facts = machine_facts()
    facts["fingerprint"] = source_fingerprint()
    results: dict[str, Any] = {}
    for part in PARTS:
        if part in parts:
            print(f"[{part}]", flush=True)
            results[part] = {"overhead": bench_overhead, "utilization": bench_utilization, "ppo": bench_ppo}[part](
                sizes, out, args.timeout)
    elapsed = time.perf_counter() - started
    text = markdown(results, facts, (load_start, load_average()), argv, elapsed, out)
    print()
    print(text)
    if not args.no_write:
        write_section(DOC, "sweep", text)
        print(f"\nwrote {rel(DOC)} (between {START} and {END})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
