"""Vectorized training's defaults (issue #23): which rollout sizes keep what the agents learn, and do
the new defaults learn as well as the old ones?

choose   PPO, A2C and DQN with several envs (SB3's DummyVecEnv) and a few rollout and batch sizes,
         beside each model's default of before (one env), on the planted-edge market over data
         seeds 0-5 (the seeds the earlier defaults were chosen on). The rule (validation only, never
         test): the vectorized candidate with the highest mean validation Sharpe is the pick; it
         becomes the default when its mean is at least the old default's minus one standard error
         of their paired difference over the seeds, else the model keeps one env.
quality  the old default (one env) and the new one, on data seeds 10-17, which no default was
         chosen on: mean test Sharpe, the paired difference new - old with its standard error, and
         the reference policy's test Sharpe on the same seeds.

Every figure is a real run of the app (``hpo_app.app.run`` on the composed config), read from
its job record; runs go two at a time. Writes docs/benchmarks.md's sections ``vec-choose`` and
``vec-quality`` between their markers, whatever they show.

    python bench/bench_vec.py --part choose     # about 25 minutes here
    python bench/bench_vec.py --part quality    # about 15 minutes here
    python bench/bench_vec.py --out DIR --reuse # read the runs an interrupted call finished
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.docs_section import write_section  # noqa: E402

# The defaults before vectorization (one env), as overrides of today's config.
OLD = {
    "ppo": ("env.n_envs=1", "model.n_steps=512", "model.batch_size=64"),
    "a2c": ("env.n_envs=1", "model.n_steps=64"),
    "dqn": ("env.n_envs=1", "model.train_freq=4", "model.gradient_steps=1"),
}
# Candidates with 8 envs: per model, (label, overrides). A rollout is n_steps x 8 steps.
CANDIDATES = {
    "ppo": [(f"n_steps {n}, batch {b}", ("env.n_envs=8", f"model.n_steps={n}", f"model.batch_size={b}"))
            for n in (32, 64) for b in (64, 128, 256)]
    + [("4 envs, n_steps 128, batch 64", ("env.n_envs=4", "model.n_steps=128", "model.batch_size=64")),
       ("4 envs, n_steps 128, batch 128", ("env.n_envs=4", "model.n_steps=128", "model.batch_size=128")),
       ("n_steps 64, batch 64, 5 epochs", ("env.n_envs=8", "model.n_steps=64", "model.batch_size=64",
                                            "model.n_epochs=5")),
       ("n_steps 64, batch 128, lr 5e-4", ("env.n_envs=8", "model.n_steps=64", "model.batch_size=128",
                                           "model.learning_rate=5e-4"))],
    "a2c": [(f"n_steps {n}, lr {lr}", ("env.n_envs=8", f"model.n_steps={n}", f"model.learning_rate={lr}"))
            for n in (4, 8, 16) for lr in ("2e-4", "7e-4")],
    "dqn": [(f"train_freq 1, gradient_steps {g}, batch {b}", ("env.n_envs=8", "model.train_freq=1",
                                                                f"model.gradient_steps={g}", f"model.batch_size={b}"))
            for g in (1, 2) for b in (64, 128)],
}
CHOOSE_SEEDS = tuple(range(6))
QUALITY_SEEDS = tuple(range(10, 18))


def run_one(job: tuple[str, tuple[str, ...], int, str]) -> dict[str, float]:
    """One run of the app in this worker process; its job record's metrics (reused when present)."""
    model, overrides, seed, out = job
    record = Path(out) / "metrics.json"
    if not record.exists():
        import logging

        import torch
        from hydra import compose, initialize_config_dir

        import hpo_app.schema  # noqa: F401 - registers the schemas
        from hpo_app.app import run

        logging.disable(logging.WARNING)
        torch.set_num_threads(1)
        with initialize_config_dir(config_dir=str(REPO / "conf")):
            cfg = compose("config", overrides=[f"model={model}", *overrides, f"data.seed={seed}",
                                               "train.save_model=false"])
        run(cfg, Path(out))
    data = json.loads(record.read_text())
    out_metrics = {k: data["metrics"][k] for k in ("val/sharpe", "test/sharpe")}
    out_metrics["ref_test"] = data["baselines"]["reference"]["test/sharpe"]
    out_metrics["seconds"] = data["seconds"]
    return out_metrics


def run_all(jobs: list[tuple[str, tuple[str, ...], int, str]]) -> list[dict[str, float]]:
    with ProcessPoolExecutor(max_workers=2) as pool:
        return list(pool.map(run_one, jobs))


def _dir(out: Path, model: str, label: str, seed: int) -> str:
    return str(out / model / label.replace(" ", "_").replace(",", "") / f"seed{seed}")


def choose(out: Path, models: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    rows, picks = [], {}
    for model in models:
        configs = [("before (1 env)", OLD[model]), *CANDIDATES[model]]
        jobs = [(model, o, s, _dir(out, model, label, s)) for label, o in configs for s in CHOOSE_SEEDS]
        results = run_all(jobs)
        means = {}
        for i, (label, _) in enumerate(configs):
            chunk = results[i * len(CHOOSE_SEEDS):(i + 1) * len(CHOOSE_SEEDS)]
            val, test = np.mean([r["val/sharpe"] for r in chunk]), np.mean([r["test/sharpe"] for r in chunk])
            means[label] = val
            rows.append(f"| {model.upper()} | {label} | {val:.2f} | {test:.2f} |")
        pick = max((label for label, _ in CANDIDATES[model]), key=lambda lab: means[lab])
        old_val = [r["val/sharpe"] for r in results[:len(CHOOSE_SEEDS)]]
        i = [label for label, _ in configs].index(pick)
        diff = np.array([r["val/sharpe"] for r in results[i * len(CHOOSE_SEEDS):(i + 1) * len(CHOOSE_SEEDS)]]) - old_val
        se = diff.std(ddof=1) / np.sqrt(len(diff))
        adopted = diff.mean() >= -se
        picks[model] = pick if adopted else "before (1 env)"
        verdict = "adopted" if adopted else "not adopted: the model keeps one env"
        rows.append(f"| {model.upper()} | **pick: {pick}** (pick - before {diff.mean():+.2f} ± {se:.2f}: {verdict}) "
                    "| | |")
    text = "\n".join([
        "Data seeds 0-5 of the planted-edge market, 30k steps, seed 0; mean over the seeds. The pick is the",
        "8-env candidate with the best mean validation Sharpe (test is shown, never used).",
        "Command: `python bench/bench_vec.py --part choose`.", "",
        "| model | candidate | val Sharpe | test Sharpe |", "|---|---|---|---|", *rows])
    return text, picks  # (speed: bench/bench_trial.py; these runs shared the machine)


def quality(out: Path, new: dict[str, tuple[str, ...]]) -> str:
    rows = []
    for model in ("ppo", "a2c", "dqn"):
        jobs = [(model, cfg, s, _dir(out, model, label, s)) for label, cfg in (("quality old", OLD[model]),
                                                                               ("quality new", new[model]))
                for s in QUALITY_SEEDS]
        res = run_all(jobs)
        old, neu = res[:len(QUALITY_SEEDS)], res[len(QUALITY_SEEDS):]
        diff = np.array([b["test/sharpe"] - a["test/sharpe"] for a, b in zip(old, neu)])
        rows.append(f"| {model.upper()} | {np.mean([r['test/sharpe'] for r in old]):.2f} | "
                    f"{np.mean([r['test/sharpe'] for r in neu]):.2f} | {diff.mean():+.2f} ± "
                    f"{diff.std(ddof=1) / np.sqrt(len(diff)):.2f} | {np.mean([r['ref_test'] for r in old]):.2f} |")
    return "\n".join([
        "Data seeds 10-17 of the planted-edge market (no default was chosen on them), 30k steps, seed 0.",
        "Mean test Sharpe of the default before (1 env) and the new default; the paired difference with",
        "its standard error over the 8 seeds; the reference policy on the same test segments (speed:",
        "`bench/bench_trial.py`).",
        "Command: `python bench/bench_vec.py --part quality`.", "",
        "| model | old default | new default | new - old | reference |", "|---|---|---|---|---|", *rows])


def current_defaults() -> dict[str, tuple[str, ...]]:
    """Today's defaults, as the config composes them: the new side of ``quality``."""
    return {m: () for m in ("ppo", "a2c", "dqn")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("choose", "quality"), required=True)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="(runs whose record exists are always reused)")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--models", nargs="+", default=["ppo", "a2c", "dqn"])
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-vec-"))
    print(f"runs in {out}", flush=True)
    if args.part == "choose":
        text, picks = choose(out, tuple(args.models))
        write_section(args.docs, "vec-choose", text)
        print(text)
        print("picks:", picks)
    else:
        text = quality(out, current_defaults())
        write_section(args.docs, "vec-quality", text)
        print(text)


if __name__ == "__main__":
    main()
