"""Does training in intervals cost? One run of 30k steps against the same config continued in jobs.

PBT trains each member in intervals: a job trains 5k steps, saves its model, and the next job goes
on from it (``train.init_from``). Nothing but the job boundary differs from a single run of the
defaults, so on the same data and seed both should learn alike. Per data seed (``data=edge``, PPO,
seed 0): the test and validation Sharpe of the single run and of the same 30k steps in 6 chained
jobs, and the paired difference. ``--repo`` runs another checkout's code (a before/after side by
side: run both into one ``--out``, then ``--table``). Writes docs/benchmarks.md's ``intervals``.

    python bench/bench_intervals.py --out DIR --label after
    python bench/bench_intervals.py --out DIR --label before --repo /tmp/before
    python bench/bench_intervals.py --out DIR --table
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.docs_section import write_section  # noqa: E402

SEEDS = range(10, 26)
STEPS, INTERVAL = 30_000, 5_000
RUN = ["data=edge", "model=ppo", "seed=0", "hydra/job_logging=disabled"]


def _app(repo: Path, args: list[str], out: Path) -> dict[str, Any]:
    if not (out / "metrics.json").exists():
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(repo)}
        subprocess.run([sys.executable, "-m", "hpo_app", *RUN, *args, f"hydra.run.dir={out}"], cwd=repo, env=env,
                       check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "metrics.json").read_text())["metrics"]


def run(repo: Path, root: Path, label: str) -> None:
    for seed in SEEDS:
        cell = root / label / f"seed{seed}"
        single = _app(repo, [f"data.seed={seed}", "train.save_model=false"], cell / "single")
        previous: Path | None = None
        for end in range(INTERVAL, STEPS + 1, INTERVAL):
            job = cell / f"interval{end}"
            args = [f"data.seed={seed}", f"train.total_timesteps={end}", "train.save_model=true"]
            if previous is not None:
                args.append(f"train.init_from={previous}")
            chained = _app(repo, args, job)
            previous = job
        out = {"seed": seed, **{f"{kind}_{seg}": m[f"{seg}/sharpe"] for kind, m in (("single", single), ("chained", chained))
                                for seg in ("val", "test")}}
        (cell / "cell.json").write_text(json.dumps(out))
        print(f"{label} seed {seed}: single test {out['single_test']:.2f}, chained test {out['chained_test']:.2f}",
              flush=True)


def table(root: Path) -> str:
    rows = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        cells = [json.loads(p.read_text()) for p in sorted(label_dir.glob("seed*/cell.json"))]
        if not cells:
            continue
        col = {k: np.array([c[k] for c in cells]) for k in cells[0] if k != "seed"}
        diff = col["chained_test"] - col["single_test"]
        se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
        rows.append(f"| {label_dir.name} | {len(cells)} | {col['single_val'].mean():.2f} | {col['chained_val'].mean():.2f} | "
                    f"{col['single_test'].mean():.2f} | {col['chained_test'].mean():.2f} | {diff.mean():+.2f} ± {se:.2f} |")
    return "\n".join([
        f"PPO with its defaults on `data=edge`, data seeds {SEEDS.start}-{SEEDS.stop - 1}, training seed 0: one run of",
        f"{STEPS // 1000}k steps against the same {STEPS // 1000}k steps in {STEPS // INTERVAL} jobs of {INTERVAL // 1000}k, each",
        "continuing the last one's model (`train.init_from`, as PBT's intervals do). Sharpe ratios, means over the seeds;",
        "chained - single is paired by seed, with its standard error.",
        "Command: `python bench/bench_intervals.py --out DIR --label after` (and `--label before --repo <checkout>`),",
        "then `--table`.", "",
        "| code | seeds | single: validation | chained: validation | single: test | chained: test | chained - single (test) |",
        "|---|---|---|---|---|---|---|", *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--label", default="after", help="the row's name (the code it ran)")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose hpo_app runs")
    parser.add_argument("--table", action="store_true", help="only write the table from what has run")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    if not args.table:
        run(args.repo.resolve(), args.out, args.label)
    text = table(args.out)
    print(text)
    write_section(args.docs, "intervals", text)


if __name__ == "__main__":
    main()
