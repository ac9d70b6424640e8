"""Do the agents learn the market's edge, or their training path? (issue #14)

Two measurements, every figure a real run (or sweep) of the app, read from its job record:

why     one factor at a time from the default PPO agent, on the planted-edge market over data
        seeds: the horizon (gamma), the observation (window, feature set), the network, training
        length, episode sampling, regularization (weight decay, observation noise) and checkpoint
        choice (``train.keep=best``); then DQN and A2C with the same changes. For each: Sharpe on
        train / validation / test beside the reference policy ("hold the sign of the last
        return", the best causal use of the planted edge), the train - validation gap, and how
        often the agent's test position agrees with the reference's. Also a market with hourly-size
        returns (``data.vol=0.001``, where 5 bps costs eat the edge and flat is best): trades and
        Sharpe against reward scaling and the entropy bonus.
defaults  model-specific defaults for DQN and A2C (whose defaults missed the goal after "why"): one
        change at a time from today's defaults on data seeds 0-2, then the two and three best changes
        together; the choice is the highest mean *validation* Sharpe (never test), and the chosen
        agent is then checked against today's default on data seeds 3-5, which took no part in it.
table   the default agent and the agent tuned by ``hpo=standard`` (its best trial by validation),
        PPO, DQN and A2C, against the reference policy on validation and test, over data seeds;
        and on real daily prices (GOOG 2004-2008, matplotlib's sample data) against buy-and-hold.

Writes each part's tables to ``docs/benchmarks.md`` between its markers
(``<!-- bench:agents-why:start -->`` ... ``end``; ``agents-table``), whatever they show.

    python bench/bench_agents.py --only why          # about 25 minutes here (2 runs at a time)
    python bench/bench_agents.py --only defaults     # about 30 minutes here
    python bench/bench_agents.py --only table        # 10 sweeps of 40 trials: about 2 hours
    python bench/bench_agents.py --out DIR --reuse   # read the runs an interrupted call finished
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bench.bench_trust as trust  # noqa: E402
from bench.docs_section import write_section  # noqa: E402
from bench.agents_cases import FACTORS, HELD_OUT_SEEDS, HOURLY, MODELS, MODEL_FACTORS, OLD_OBSERVATION, OTHER_MODELS_FACTORS  # noqa: E402
from bench.agents_markdown import by_val, markdown_defaults, markdown_table, markdown_why  # noqa: E402

PARTS = ("why", "defaults", "table")
def run(args: list[str], out: Path) -> Path:
    """One run of the app (bench_trust's runner: ``--reuse`` reads a finished one)."""
    return trust.sweep([*args, "train.save_model=false"], out, out.with_suffix(".log"))


def agreement(job: Path) -> float:
    """Share of the test decisions where the agent's position equals the reference policy's, on
    the market the job ran on (its own ``.hydra/config.yaml``)."""
    import yaml

    from hpo_app.market import load_market_data
    from hpo_app.schema import DataConf

    data = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())["data"]
    market = load_market_data(DataConf(**data))
    close = market.prices["close"]
    sign = np.sign(np.log(close).diff())
    sign.index = sign.index.astype(str)
    eq = pd.read_csv(job / "equity.csv")
    test = eq[(eq["segment"] == "test") & eq["position"].notna()]
    return float(np.mean(test["position"].to_numpy() == sign.loc[test["timestamp"]].to_numpy()))


def row(job: Path) -> dict[str, float]:
    from hpo_record import job as job_record

    r = job_record.read(job)
    ref = r.baselines["reference"]
    out = {f"{s}": r.metrics[f"{s}/sharpe"] for s in ("train", "val", "test")}
    out.update({f"ref_{s}": ref[f"{s}/sharpe"] for s in ("train", "val", "test")})
    out["trades_train"] = r.metrics["train/n_trades"]
    out["agree"] = agreement(job)
    return out


def grid(cases: list[tuple[str, str, tuple[str, ...]]], seeds: int | tuple[int, ...], out: Path,
         base: tuple[str, ...] = OLD_OBSERVATION) -> dict[tuple[str, str], list[dict[str, float]]]:
    """Run every (model, factor) case over data seeds (a count from 0, or the seeds), two runs at a
    time, each from ``base`` (the old observation unless given); rows by case."""
    seed_list = tuple(range(seeds)) if isinstance(seeds, int) else seeds
    jobs = [(model, name, overrides, seed) for model, name, overrides in cases for seed in seed_list]

    def one(job: tuple[str, str, tuple[str, ...], int]) -> tuple[str, str, dict[str, float]]:
        model, name, overrides, seed = job
        tag = f"{model}_{name.replace(' ', '_').replace(',', '')}_seed{seed}"
        merged = dict(o.split("=", 1) for o in (*base, *overrides))  # a later value wins
        path = run([f"model={model}", "data=edge", f"data.seed={seed}", f"seed={seed}",
                    *(f"{k}={v}" for k, v in merged.items())], out / tag)
        result = row(path)
        print(f"  {model} {name} seed {seed}: train {result['train']:.2f} val {result['val']:.2f} "
              f"test {result['test']:.2f} agree {result['agree']:.2f}", flush=True)
        return model, name, result

    rows: dict[tuple[str, str], list[dict[str, float]]] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for model, name, result in pool.map(one, jobs):
            rows.setdefault((model, name), []).append(result)
    return rows


def part_why(seeds: int, out: Path) -> dict[str, Any]:
    cases = [("ppo", name, o) for name, o in FACTORS]
    cases += [(m, name, o) for m in ("dqn", "a2c") for name, o in FACTORS if name in OTHER_MODELS_FACTORS]
    hourly = [("ppo", name, o) for name, o in HOURLY]
    return {"factors": grid(cases, seeds, out / "factors"),
            "hourly": grid(hourly, seeds, out / "hourly", base=(*OLD_OBSERVATION, "data.vol=0.001"))}


def part_defaults(seeds: int, out: Path) -> dict[str, Any]:
    """Round 1: one change at a time; round 2: the best two and three changes (by validation)
    together; the pick: the best case by validation; then the pick and today's default on held-out seeds."""
    singles = [(m, name, o) for m, factors in MODEL_FACTORS.items() for name, o in factors]
    rows = grid(singles, seeds, out / "single", base=())
    combos = []
    for model, factors in MODEL_FACTORS.items():
        ranked = [n for n in by_val(rows, model) if n != "default"]
        overrides = dict(factors)
        for k in (2, 3):
            names = ranked[:k]
            combos.append((model, " + ".join(names), tuple(o for n in names for o in overrides[n])))
    rows.update(grid(combos, seeds, out / "combined", base=()))
    picks = {}
    for model in MODEL_FACTORS:
        best = by_val(rows, model)[0]
        every = dict(MODEL_FACTORS[model]) | {name: o for m, name, o in combos if m == model}
        picks[model] = (best, every[best])
    checks = [(m, "default", ()) for m in MODEL_FACTORS] + [(m, name, o) for m, (name, o) in picks.items()
                                                           if name != "default"]
    held_out = grid(checks, HELD_OUT_SEEDS, out / "held_out", base=())
    return {"rows": rows, "picks": picks, "held_out": held_out}


def part_table(seeds: int, out: Path, progress: Callable[[dict[str, Any]], None] = lambda _: None) -> dict[str, Any]:
    """Seed by seed (every model), then GOOG; ``progress`` gets the rows so far after each."""
    from hpo_record import job as job_record

    rows: list[dict[str, Any]] = []
    for seed in range(seeds):
        for model in MODELS:
            data = [f"model={model}", "data=edge", f"data.seed={seed}", f"seed={seed}"]
            default = job_record.read(run(data, out / f"{model}_default_{seed}"))
            s = trust.summarize(trust.sweep(["-m", "hpo=standard", *data], out / f"{model}_tuned_{seed}",
                                            out / f"{model}_tuned_{seed}.log"))
            rows.append({"market": "planted edge", "model": model, "seed": seed,
                         "default_val": default.metrics["val/sharpe"], "default_test": default.metrics["test/sharpe"],
                         "tuned_val": float(s.best["val/sharpe"]), "tuned_test": float(s.best["test/sharpe"]),
                         "ref_val": default.baselines["reference"]["val/sharpe"],
                         "ref_test": default.baselines["reference"]["test/sharpe"]})
            print(f"  {model} seed {seed}: default test {rows[-1]['default_test']:.2f}, tuned test "
                  f"{rows[-1]['tuned_test']:.2f}, reference {rows[-1]['ref_test']:.2f}", flush=True)
            progress({"rows": rows})
    goog = ["data=csv", f"data.path={trust.goog_csv(out)}"]
    for model in MODELS:
        default = job_record.read(run([f"model={model}", *goog], out / f"{model}_goog_default"))
        s = trust.summarize(trust.sweep(["-m", "hpo=standard", f"model={model}", *goog], out / f"{model}_goog_tuned",
                                        out / f"{model}_goog_tuned.log"))
        rows.append({"market": "GOOG", "model": model, "seed": 0,
                     "default_val": default.metrics["val/sharpe"], "default_test": default.metrics["test/sharpe"],
                     "tuned_val": float(s.best["val/sharpe"]), "tuned_test": float(s.best["test/sharpe"]),
                     "ref_val": default.baselines["buy_and_hold"]["val/sharpe"],
                     "ref_test": default.baselines["buy_and_hold"]["test/sharpe"]})
        print(f"  {model} GOOG: default test {rows[-1]['default_test']:.2f}, tuned test {rows[-1]['tuned_test']:.2f}",
              flush=True)
        progress({"rows": rows})
    return {"rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS))
    parser.add_argument("--seeds", type=int, default=3, help="data seeds")
    parser.add_argument("--out", type=Path, default=REPO / "multirun" / "bench_agents" / time.strftime("%Y-%m-%d_%H-%M-%S"))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="read runs already finished in --out")
    args = parser.parse_args(argv)
    trust.REUSE = args.reuse
    parts = [p for p in args.only.split(",") if p]
    if "why" in parts:
        print("[why]", flush=True)
        started = time.time()
        text = markdown_why(part_why(args.seeds, args.out / "why"), args.seeds, (time.time() - started) / 60, args.reuse)
        print(text)
        if not args.no_write:
            write_section(REPO / "docs" / "benchmarks.md", "agents-why", text)
    if "defaults" in parts:
        print("[defaults]", flush=True)
        started = time.time()
        text = markdown_defaults(part_defaults(args.seeds, args.out / "defaults"), args.seeds,
                                 (time.time() - started) / 60)
        print(text)
        if not args.no_write:
            write_section(REPO / "docs" / "benchmarks.md", "agents-defaults", text)
    if "table" in parts:
        print("[table]", flush=True)
        started = time.time()
        planned = len(MODELS) * (args.seeds + 1)

        def progress(results: dict[str, Any]) -> None:  # the table so far, in the docs (a long part)
            text = markdown_table(results, args.seeds, (time.time() - started) / 60, planned, args.reuse)
            if not args.no_write:
                write_section(REPO / "docs" / "benchmarks.md", "agents-table", text)

        results = part_table(args.seeds, args.out / "table", progress)
        print(markdown_table(results, args.seeds, (time.time() - started) / 60, planned, args.reuse))
    return 0


if __name__ == "__main__":
    sys.exit(main())
