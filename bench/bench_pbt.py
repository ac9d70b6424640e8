"""Population-based training against ASHA and against no pruning, at about the same budget.

PPO on the planted-edge market (``data=edge``), data seeds 0-2 (the run's seed and the sampler's
seed follow the data seed), each member or trial trained up to ``train.total_timesteps`` (30,000).
Three sweeps per seed, one after the other on the same machine:

- ``pbt``:  ``scheduler=pbt``, 8 members, intervals of 5,000 steps: 8 x 30,000 = 240,000 steps;
- ``none``: ``scheduler=none``, 8 trials of 30,000 steps: 240,000 steps;
- ``asha``: ``scheduler=asha``, 14 trials (rungs after 2 and 6 evaluations of 5,000 steps; about
  240,000 steps, depending on how many are pruned: the steps really trained are reported).

For each sweep: its result (PBT: the best member at the end of its budget; the others: the best
trial by validation), that agent's validation objective and test Sharpe ratio beside buy-and-hold's
and the reference policy's (the edge a good agent approaches), the environment steps trained by
all its jobs, and its wall time. Written to ``docs/benchmarks.md`` between
``<!-- bench:pbt:start -->`` and ``<!-- bench:pbt:end -->``, whichever way it goes.

    python bench/bench_pbt.py                 # about 20 minutes here
    python bench/bench_pbt.py --seeds 1 --out /tmp/bpbt --no-write
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.docs_section import write_section  # noqa: E402

TOTAL, EVERY = 30000, 5000
METHODS: dict[str, list[str]] = {
    "pbt": ["scheduler=pbt", "hydra.sweeper.pbt.population_size=8", f"hydra.sweeper.pbt.perturbation_interval={EVERY}"],
    "asha": ["scheduler=asha", "hydra.sweeper.n_trials=14"],
    "none": ["scheduler=none", "hydra.sweeper.n_trials=8"],
}
LABELS = {"pbt": "PBT, 8 members", "asha": "ASHA, 14 trials", "none": "no pruning, 8 trials"}


def sweep(method: str, seed: int, out: Path) -> dict[str, Any]:
    """Run one sweep (or read it, when its results file says it finished) and measure it."""
    from hpo_record import job as job_record

    sweep_dir = out / f"{method}_{seed}"
    results_file = sweep_dir / "optimization_results.yaml"
    timing = sweep_dir / "bench_seconds.txt"
    if not (results_file.exists() and timing.exists()):
        args = [sys.executable, "-m", "hpo_app", "-m", "model=ppo", "data=edge", f"data.seed={seed}", f"seed={seed}",
                f"train.total_timesteps={TOTAL}", f"train.eval_every={EVERY}", *METHODS[method],
                f"hydra.sweep.dir={sweep_dir}"]
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        t0 = time.perf_counter()
        with open(out / f"{method}_{seed}.log", "w") as log:
            code = subprocess.run(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
        if code != 0:
            raise SystemExit(f"{method} seed {seed}: the sweep exited {code}; see {out / f'{method}_{seed}.log'}")
        timing.write_text(f"{time.perf_counter() - t0:.1f}\n")
    results = yaml.safe_load(results_file.read_text())
    best = job_record.read(sweep_dir / str(results["best_trial"]["job_num"]))
    steps = 0
    for job in sweep_dir.iterdir():
        if job.name.isdigit():
            try:
                steps += job_record.read(job).timesteps or 0
            except job_record.RecordError:
                pass
    return {"method": method, "seed": seed, "val": float(results["best_value"]),
            "test": best.metrics["test/sharpe"], "bh_test": best.baselines["buy_and_hold"]["test/sharpe"],
            "ref_test": best.baselines["reference"]["test/sharpe"], "steps": steps,
            "jobs": sum(results["counts"].values()), "seconds": float(timing.read_text())}


def markdown(rows: list[dict[str, Any]], seeds: int, minutes: float) -> str:
    lines = [
        "## Population-based training against ASHA and no pruning",
        "",
        (f"Measured by `bench/bench_pbt.py` on {time.strftime('%Y-%m-%d')} in {minutes:.0f} minutes; "
         f"{os.cpu_count()} CPUs, Python {platform.python_version()}. PPO on the planted-edge market, data seeds "
         f"0-{seeds - 1} (run and sampler seeded the same), every agent trained up to {TOTAL:,} steps, evaluated on "
         f"validation every {EVERY:,} (PBT's interval). The result of a sweep: PBT's best member at the end of its "
         "budget, the others' best trial by validation; its test Sharpe ratio was never used to choose it."),
        "",
        ("| method | seed | best val Sharpe | its test Sharpe | buy & hold test | reference test | steps trained "
         "| jobs | wall s |"),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {LABELS[r['method']]} | {r['seed']} | {r['val']:.2f} | {r['test']:.2f} | {r['bh_test']:.2f} | "
                     f"{r['ref_test']:.2f} | {r['steps']:,} | {r['jobs']} | {r['seconds']:.0f} |")
    lines += ["", "Means over the seeds:", "",
              "| method | best val Sharpe | its test Sharpe | test − buy & hold | steps trained | wall s | wall × no pruning |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    means = {}
    for method in METHODS:
        rs = [r for r in rows if r["method"] == method]
        if rs:
            means[method] = {k: statistics.mean(r[k] for r in rs) for k in ("val", "test", "bh_test", "steps", "seconds")}
    for method, m in means.items():
        ratio = m["seconds"] / means["none"]["seconds"] if "none" in means else float("nan")
        lines.append(f"| {LABELS[method]} | {m['val']:.2f} | {m['test']:.2f} | {m['test'] - m['bh_test']:+.2f} | "
                     f"{m['steps']:,.0f} | {m['seconds']:.0f} | {ratio:.2f} |")
    lines += ["", "Reproduce:", "", "```sh", "python bench/bench_pbt.py", "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_pbt"), help="sweeps go here (reused if finished)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = []
    for seed in range(args.seeds):
        for method in METHODS:  # the methods take turns, seed by seed
            rows.append(sweep(method, seed, args.out))
            r = rows[-1]
            print(f"{method} seed {seed}: val {r['val']:.2f}, test {r['test']:.2f} (buy & hold {r['bh_test']:.2f}), "
                  f"{r['steps']:,} steps, {r['seconds']:.0f} s", flush=True)
    text = markdown(rows, args.seeds, (time.perf_counter() - t0) / 60)
    print(text)
    if not args.no_write:
        write_section(REPO / "docs" / "benchmarks.md", "pbt", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
