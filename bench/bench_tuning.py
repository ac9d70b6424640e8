"""Does tuning pay out of sample? The untuned default against the old recipe and the new one (issue #26).

For each cell (model, market shape, data seed), every figure a real run of the app:

default  ``python -m hpo_app`` on that market: what a user gets without sweeping (training seed 0).
old      a holdout sweep, the best trial by its search score (its own test Sharpe: the same single
         run of its configuration with seed 0).
new      a walk-forward sweep (the first trial the control) followed by the raced confirmation; the
         recommendation's test Sharpe is that of a single run of its configuration with seed 0 (the
         control's is the default run itself).

Both sweeps get the same budget in training runs: ``new`` searches N_NEW trials on F folds and races
the top K and the control on R seeds (N_NEW x F + (K + 1) x R x F runs at most, fewer when pruned);
``old`` searches that many holdout trials. Budgets are smaller than the presets' so that the whole
benchmark runs in hours here; every run trains the default's 30k steps.

Data seeds 10-17 (no default was chosen on them); markets momentum (``data=edge``), lag and regimes;
and the market with no edge (``data.edge=0``, seeds 20-39), where the recommendation should be the
control. Two cells run at a time (each sweep on the basic launcher). Writes docs/benchmarks.md's
sections ``tuning`` and ``tuning-null``, whatever they show.

    python bench/bench_tuning.py --part edge --out DIR     # PPO, DQN, A2C on the planted edge
    python bench/bench_tuning.py --part shapes --out DIR   # PPO on the lag and regimes markets
    python bench/bench_tuning.py --part null --out DIR     # PPO on the market with no edge
    python bench/bench_tuning.py --part pbt --out DIR      # hpo=pbt: best member, control, recommendation
    python bench/bench_tuning.py --part long --out DIR2    # the new recipe on lag, 12,000 bars (bench_resolution.py)
    python bench/bench_tuning.py --part table --out DIR    # the tables from what has run
    (--models ppo and --cells N run a subset: the tables say how many cells each row has)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.docs_section import write_section  # noqa: E402
from bench.outcome import gap_closed, recommended_test  # noqa: E402

N_NEW, FOLDS, TOP_K, SEEDS = 6, 2, 2, 2
N_OLD = N_NEW * FOLDS + (TOP_K + 1) * SEEDS * FOLDS
SWEEP = ["hydra/launcher=basic", "train.save_model=false", "hydra.sweeper.trial_timeout=null"]
OLD = [*SWEEP, f"hydra.sweeper.n_trials={N_OLD}", "hydra.sweeper.confirm.top_k=0", "hydra.sweeper.control=false"]
NEW = [*SWEEP, f"hydra.sweeper.n_trials={N_NEW}", "validation=walkforward", f"validation.folds={FOLDS}",
       "scheduler=median", "hydra.sweeper.pruner.n_startup_trials=3", "hydra.sweeper.pruner.n_warmup_steps=1",
       f"hydra.sweeper.confirm.top_k={TOP_K}", f"hydra.sweeper.confirm.seeds={SEEDS}"]
PARTS = {
    "edge": [(m, "momentum", s, 0.15) for m in ("ppo", "dqn", "a2c") for s in range(10, 18)],
    "shapes": [("ppo", shape, s, 0.15) for shape in ("lag", "regimes") for s in range(10, 18)],
    "null": [("ppo", "momentum", s, 0.0) for s in range(20, 40)],
    "long": [("ppo", "lag", s, 0.15) for s in range(10, 18)],
    "pbt": [("ppo", shape, s, 0.15) for shape in ("momentum", "lag", "regimes") for s in range(10, 18)]
    + [("ppo", "momentum", s, 0.0) for s in range(20, 40)],
}
LONG = ["data.n_bars=12000"]  # --part long: the lag market four times as long (more validation bars)
PBT = ["hpo=pbt", "hydra/launcher=basic", "train.save_model=true", "hydra.sweeper.trial_timeout=null"]


def _app(args: list[str], cwd: Path, log: Path) -> None:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONHASHSEED": "0"}
    with log.open("w") as out:
        proc = subprocess.run([sys.executable, "-m", "hpo_app", *args], cwd=cwd, env=env, stdout=out,
                              stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed (exit {proc.returncode}): see {log}")


def _record(job: Path) -> dict[str, Any]:
    return json.loads((job / "metrics.json").read_text())


def _single(market: list[str], params: dict[str, Any], out: Path) -> dict[str, Any]:
    if not (out / "metrics.json").exists():
        _app([*market, *(f"{k}={v}" for k, v in params.items()), f"hydra.run.dir={out}"], out.parent, out.with_suffix(".log"))
    return _record(out)


def cell_dir(model: str, shape: str, seed: int, edge: float, root: Path) -> Path:
    """A cell's directory: its default run and every sweep of it, shared by the benchmarks."""
    return root / f"{model}-{shape}-edge{edge}-seed{seed}"


def run_cell(model: str, shape: str, seed: int, edge: float, root: Path, parts: tuple[str, ...] = ("old", "new")) -> dict:
    cell = cell_dir(model, shape, seed, edge, root)
    done = cell / "cell.json"
    if done.exists():
        return json.loads(done.read_text())
    cell.mkdir(parents=True, exist_ok=True)
    market = [f"model={model}", f"data.shape={shape}", f"data.seed={seed}", f"data.edge={edge}", "train.save_model=false",
              *(LONG if "long" in parts else [])]
    default = _record(cell / "default") if (cell / "default" / "metrics.json").exists() else _single(market, {}, cell / "default")
    out: dict[str, Any] = {"model": model, "shape": shape, "seed": seed, "edge": edge,
                           "default": default["metrics"]["test/sharpe"],
                           "reference": default["baselines"].get("reference", {}).get("test/sharpe")}
    if "old" in parts:
        sweep = cell / "old"
        if not (sweep / "optimization_results.yaml").exists() or "best_trial" not in _results(sweep):
            _app(["-m", *market, *OLD, f"hydra.sweep.dir={sweep}"], cell, cell / "old.log")
        best = _results(sweep)["best_trial"]
        out["old"] = _record(sweep / str(best["job_num"]))["metrics"]["test/sharpe"]
        out["old_search"] = best["values"][0]
    sweep = cell / "new"
    if not (sweep / "optimization_results.yaml").exists() or "recommendation" not in _results(sweep):
        _app(["-m", *market, *NEW, f"hydra.sweep.dir={sweep}"], cell, cell / "new.log")
    decision = _results(sweep)["recommendation"]
    chosen = next(r for r in decision["candidates"] if r["label"] == decision["recommended"])
    out["recommended"] = decision["recommended"]
    out["p_value"] = decision["p_value"]
    out["new"] = out["default"] if decision["recommended"] == "control" else \
        _single(market, chosen["params"], cell / "recommended")["metrics"]["test/sharpe"]
    scored = [r for r in decision["candidates"] if r["search_value"] is not None and r["confirmed_value"] is not None]
    if scored:
        top = max(scored, key=lambda r: r["search_value"])
        out["luck"] = {"search": top["search_value"], "confirmed": top["confirmed_value"]}
    out["runs"] = {name: _runs(cell / name) for name in ("old", "new") if (cell / name).is_dir()}
    done.write_text(json.dumps(out))
    return out


def run_pbt(model: str, shape: str, seed: int, edge: float, root: Path) -> dict:
    """``hpo=pbt`` (the preset's own budget) on one market: test Sharpe of the best member (the old
    result), of the control member and of the recommendation (decided on the held-out half)."""
    cell = cell_dir(model, shape, seed, edge, root)
    done = cell / "pbt.json"
    if done.exists():
        return json.loads(done.read_text())
    cell.mkdir(parents=True, exist_ok=True)
    market = [f"model={model}", f"data.shape={shape}", f"data.seed={seed}", f"data.edge={edge}"]
    default = _single([*market, "train.save_model=false"], {}, cell / "default")
    sweep = cell / "pbt"
    if not (sweep / "optimization_results.yaml").exists() or "recommendation" not in _results(sweep).get("pbt", {}):
        _app(["-m", *market, *PBT, f"hydra.sweep.dir={sweep}"], cell, cell / "pbt.log")
    population = _results(sweep)["pbt"]
    verdict = population["recommendation"]

    def test(job_num: int) -> float:
        return _record(sweep / str(job_num))["metrics"]["test/sharpe"]

    out = {"model": model, "shape": shape, "seed": seed, "edge": edge, "default": default["metrics"]["test/sharpe"],
           "reference": default["baselines"].get("reference", {}).get("test/sharpe"),
           "best": test(population["best"]["job_num"]), "best_member": population["best"]["member"],
           "control": test(population["control"]["job_num"]), "recommended": verdict["recommended"],
           "new": test(verdict["job_num"]), "p_value": verdict["p_value"],
           "luck": {"search": population["best"]["value"], "control_search": population["control"]["value"]}}
    done.write_text(json.dumps(out))
    return out


def pbt_table(root: Path) -> str:
    cells = [json.loads(p.read_text()) for p in sorted(root.glob("*/pbt.json"))]
    rows = []
    for shape, edge in sorted({(c["shape"], c["edge"]) for c in cells}, key=lambda k: (-k[1], k[0])):
        group = [c for c in cells if (c["shape"], c["edge"]) == (shape, edge)]
        d, b, ctl = (np.array([c[k] for c in group]) for k in ("default", "best", "control"))
        n = np.array([recommended_test(c) for c in group])  # a member: its final model
        ref = np.array([c["reference"] for c in group], dtype=float)
        diff = n - d
        best_val = np.mean([c["luck"]["search"] for c in group])
        weak = [g for g in map(gap_closed, group) if g is not None] if edge else []
        rows.append(f"| {shape if edge else 'none'} | {len(group)} | {d.mean():.2f} | {ctl.mean():.2f} | {best_val:.2f} → {b.mean():.2f} | {n.mean():.2f} | "
                    f"{np.nanmean(ref):.2f} | {diff.mean():+.2f} ± {_se(diff):.2f} | {np.mean(b < d):.0%} | "
                    f"{np.mean(n < d):.0%} | {sum(c['recommended'] != 'control' for c in group)} | "
                    f"{sum(c['p_value'] is not None and c['p_value'] < 0.05 for c in group)} | "
                    f"{f'{np.mean(weak):+.2f} ({len(weak)})' if weak else '– (0)'} |")
    return "\n".join([
        "PPO, `hpo=pbt` as shipped (8 members x 30k steps, intervals of 5k, member 0 the control; exploits rank on",
        "the first half of validation, the recommendation is decided on the second half). Data seeds 10-17 of each",
        "planted-edge market, 20-39 of the market without (`none`). Test Sharpe of the default single run (`python -m hpo_app`), of the control",
        "member, of the best member by the objective (PBT's result before this round) and of the recommendation",
        "(the control recommended: the default single run, what the user is told to train; a member: its final model).",
        "Overtuning: the share of sweeps whose pick earns less on test than the default single run. Gap closed: where",
        "the default earns less than half the reference, (recommended - default) / (reference - default), mean (cells).",
        "Command: `python bench/bench_tuning.py --part pbt --out DIR`.", "",
        "| market | sweeps | default | control member | best member: validation → test | recommended | reference "
        "| recommended - default | overtuning best | overtuning recommended | tuned picks | p < 0.05 | gap closed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|", *rows]) if rows else "No PBT cell has run yet."


def _results(sweep: Path) -> dict[str, Any]:
    return yaml.safe_load((sweep / "optimization_results.yaml").read_text())


def _runs(sweep: Path) -> int:
    """Training runs (a walk-forward trial: one per fold it reached) the sweep did."""
    total = 0
    for job in sweep.iterdir():
        if job.name.isdigit() and (job / "metrics.json").exists():
            folds = _record(job).get("folds") or []
            total += max(1, len(folds))
    return total


def run_part(cells: list[tuple[str, str, int, float]], root: Path, parts: tuple[str, ...]) -> list[dict]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(run_pbt, *c, root) if parts == ("pbt",) else pool.submit(run_cell, *c, root, parts)
                   for c in cells]
        results = []
        for f in futures:
            try:
                results.append(f.result())
                r = results[-1]
                old = r.get("old", r.get("best", float("nan")))
                new = r["default"] if r["recommended"] == "control" else r["new"]
                print(f"{r['model']} {r['shape']} seed {r['seed']}: default {r['default']:.2f} "
                      f"old {old:.2f} new {new:.2f} ({r['recommended']})", flush=True)
            except Exception as err:  # noqa: BLE001 - one failed cell is reported, the rest go on
                print(f"cell failed: {err}", flush=True)
    return results


def _se(x: np.ndarray) -> float:
    return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")


def tables(root: Path) -> tuple[str, str]:
    cells = [json.loads(p.read_text()) for p in sorted(root.glob("*/cell.json"))]
    rows = []
    for (model, shape) in sorted({(c["model"], c["shape"]) for c in cells if c["edge"] != 0}):
        group = [c for c in cells if c["model"] == model and c["shape"] == shape and c["edge"] != 0 and "old" in c]
        if not group:
            continue
        d, o, n = (np.array([c[k] for c in group]) for k in ("default", "old", "new"))
        ref = np.array([c["reference"] for c in group], dtype=float)
        diff = n - d
        gap = [g for g in map(gap_closed, group) if g is not None]
        luck = [c["luck"]["search"] - c["luck"]["confirmed"] for c in group if "luck" in c]
        rows.append(f"| {model.upper()} | {shape} | {len(group)} | {d.mean():.2f} | {o.mean():.2f} | {n.mean():.2f} | "
                    f"{np.nanmean(ref):.2f} | {diff.mean():+.2f} ± {_se(diff):.2f} | {np.mean(o < d):.0%} | "
                    f"{np.mean(n < d):.0%} | {sum(c['recommended'] != 'control' for c in group)} | "
                    f"{f'{np.mean(gap):+.2f} ({len(gap)})' if gap else '– (0)'} | "
                    f"{f'{np.mean(luck):+.2f}' if luck else '–'} |")
    main = "\n".join([
        f"Per cell: a default run, an old-recipe sweep ({N_OLD} holdout trials, best by search score) and a new-recipe",
        f"sweep ({N_NEW} trials on {FOLDS} walk-forward folds, median pruning between folds, then the top {TOP_K} and the",
        f"control raced on {SEEDS} fresh seeds), each run 30k steps; test Sharpe of each method's configuration",
        "(a single run, training seed 0). Overtuning: the share of cells where the method earns less on test than",
        "the default. Gap closed: on cells where the default earns less than half the reference, (new - default)",
        "/ (reference - default), mean (cells). Luck: the best search score minus its confirmed score (mean).",
        "Command: `python bench/bench_tuning.py --part edge|shapes --out DIR`, then `--part table`.", "",
        "| model | market | cells | default | old recipe | new recipe | reference | new - default | overtuning old "
        "| overtuning new | tuned picks | gap closed | luck |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|", *rows])
    null = [c for c in cells if c["edge"] == 0]
    null_text = "No cell on the market with no edge has run yet."
    if null:
        control = sum(c["recommended"] == "control" for c in null)
        significant = sum(c["p_value"] is not None and c["p_value"] < 0.05 for c in null)
        diff = np.array([c["new"] - c["default"] for c in null])
        null_text = "\n".join([
            f"PPO on the market with no edge (`data.edge=0`), data seeds 20-39 ({len(null)} sweeps, the new recipe as",
            "above): how often the recommendation is the control, and how often the race calls a candidate",
            "better beyond noise. Command: `python bench/bench_tuning.py --part null --out DIR`.", "",
            "| sweeps | recommends the control | calls something significant | new - default test Sharpe |",
            "|---|---|---|---|",
            f"| {len(null)} | {control} ({control / len(null):.0%}) | {significant} ({significant / len(null):.0%}) | "
            f"{diff.mean():+.2f} ± {_se(diff):.2f} |"])
    return main, null_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=(*PARTS, "table"), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--models", default="ppo,dqn,a2c", help="the models of the part to run (comma-separated)")
    parser.add_argument("--cells", type=int, default=None, help="run only the first N data seeds of each model and market")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.part != "table":
        cells = [c for c in PARTS[args.part] if c[0] in args.models.split(",")]
        if args.cells is not None:
            cells = [c for c in cells if sum(d[:2] == c[:2] and d[2] < c[2] for d in cells) < args.cells]
        run_part(cells, args.out, {"null": ("new",), "pbt": ("pbt",), "long": ("new", "long")}.get(args.part, ("old", "new")))
    if args.part == "long":  # its own directory; bench/bench_resolution.py reads it
        return
    main_text, null_text = tables(args.out)
    write_section(args.docs, "tuning", main_text)
    write_section(args.docs, "tuning-null", null_text)
    write_section(args.docs, "tuning-pbt", pbt_table(args.out))
    print(main_text + "\n\n" + null_text + "\n\n" + pbt_table(args.out))


if __name__ == "__main__":
    main()
