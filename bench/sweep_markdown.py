"""The sweep-machinery benchmark's section of docs/benchmarks.md (``bench/bench_sweep.py`` measures;
this writes what it measured) and the machine facts it reports beside."""

from __future__ import annotations

import os
import sys
import platform
import shlex
import subprocess
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HEADING = "## Sweep machinery"
SEED = 0  # the samplers' seed in every setup


def rel(path: Path) -> Path:
    try:
        return path.relative_to(REPO)
    except ValueError:
        return path


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
             elapsed: float, out: Path, changed: list[str]) -> str:
    lines = [
        HEADING,
        "",
        f"Measured by `bench/bench_sweep.py` on {time.strftime('%Y-%m-%d %H:%M')}, commit {facts['commit']}, "
        f"sources fingerprint {facts['fingerprint']}, in {elapsed / 60:.1f} minutes.",
        "",
        *([f"**Warning: the sources changed while these ran: {', '.join(changed)}; re-run for comparable figures.**", ""]
          if changed else []),
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
