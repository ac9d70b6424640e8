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
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from bench.trivial_app import TIMING_FILE, duration_for  # noqa: E402
from hpo_record import files  # noqa: E402
from bench.docs_section import markers, write_section  # noqa: E402
from bench.sweep_runs import CHANGED, SETUPS, Run, run, source_fingerprint, trivial_argv  # noqa: E402
from bench.sweep_markdown import SEED, load_average, machine_facts, markdown, rel  # noqa: E402

START, END = markers("sweep")
DOC = REPO / "docs" / "benchmarks.md"
PARTS = ("overhead", "utilization", "ppo")
APP = ["-m", "hpo_app", "-m"]

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
    text = markdown(results, facts, (load_start, load_average()), argv, elapsed, out, CHANGED)
    print()
    print(text)
    if not args.no_write:
        write_section(DOC, "sweep", text)
        print(f"\nwrote {rel(DOC)} (between {START} and {END})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
