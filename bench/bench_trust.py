"""Calibration of the report's verdict, and what tuning and walk-forward validation buy.

Four measurements, each through real sweeps of the app (``python -m hpo_app -m ...``) read with
the report's own code (``analysis``):

a. null     sweeps on the market with no edge (``data=edge data.edge=0``, a random walk), one per
            data seed: how often does the report call the best trial significant (deflated Sharpe
            ratio >= 0.95)? At a 5 % level it should be about 5 % of the sweeps, at most 10 %.
b. power    the same sweeps on the planted-edge market (``data.edge=0.15``, the default).
c. tuning   on the planted-edge market, over data seeds: the untuned default agent (one run of
            ``python -m hpo_app``), the agent tuned by ``hpo=standard`` (its best trial by
            validation) and the reference policy, on the test segment.
d. wf       walk-forward against holdout validation: Spearman rank correlation, across the trials of
            one sweep, between the objective and the test Sharpe, on the planted-edge market and on
            real daily prices (GOOG 2004-2008, shipped with matplotlib as ``goog.npz``).

Writes its tables to ``docs/benchmarks.md`` between ``<!-- bench:trust:start -->`` and
``<!-- bench:trust:end -->``, whatever they show.

    python bench/bench_trust.py                     # everything (about an hour here)
    python bench/bench_trust.py --only null,power --sweeps 4 --no-write
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.docs_section import write_section  # noqa: E402

PARTS = ("null", "power", "tuning", "wf")
SMALL = ["model=a2c", "train.total_timesteps=6000", "train.eval_every=1500", "hydra.sweeper.n_trials=12"]


REUSE = False
"""Set by ``--reuse``: a sweep (run) already finished in ``--out`` is read, not run again."""


def finished(args: list[str], out: Path, log: Path) -> bool:
    """Whether ``out`` holds a finished sweep (its results file counts ``n_trials`` finished trials,
    none running) or run."""
    if "-m" in args:
        results = out / "optimization_results.yaml"
        if not results.is_file():
            return False
        data = yaml.safe_load(results.read_text())
        counts = data.get("counts") or {}
        return not counts.get("running") and sum(counts.values()) >= int(data.get("n_trials") or 1)
    if not (out.is_dir() and log.is_file()):
        return False
    from hpo_record import job as job_record

    try:
        return job_record.read(out).state == "complete"
    except Exception:
        return False


def sweep(args: list[str], out: Path, log: Path) -> Path:
    """Run one sweep (or, without ``-m`` in args, one run) of the app into ``out``."""
    if REUSE and finished(args, out, log):
        print(f"  reusing {out}", flush=True)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    key = "hydra.sweep.dir" if "-m" in args else "hydra.run.dir"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    with open(log, "w") as f:
        code = subprocess.run([sys.executable, "-m", "hpo_app", *args, f"{key}={out}"], cwd=REPO, env=env,
                              stdout=f, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise RuntimeError(f"{' '.join(args)} exited {code}; see {log}")
    return out


def summarize(path: Path) -> Any:
    from analysis.load import load_multirun
    from analysis.tables import analyse

    (summary,) = analyse(load_multirun([path]), importance=None, rerun=False).sweeps
    return summary


def part_significance(edge: float, sweeps: int, out: Path) -> dict[str, Any]:
    rows = []
    for seed in range(sweeps):
        path = sweep(["-m", *SMALL, "data=edge", f"data.edge={edge}", f"data.seed={seed}", f"seed={seed}"],
                     out / f"edge{edge}_seed{seed}", out / f"edge{edge}_seed{seed}.log")
        s = summarize(path)
        d, o = s.deflated, s.overfitting
        rows.append({"seed": seed, "dsr": d.dsr if d else float("nan"), "pbo": o.pbo if o else float("nan"),
                     "val": float(s.best["val/sharpe"]), "test": float(s.best["test/sharpe"]),
                     "reference_test": float(s.best["reference/test/sharpe"])})
        print(f"  edge {edge} seed {seed}: DSR {rows[-1]['dsr']:.2f}, PBO {rows[-1]['pbo']:.2f}", flush=True)
    dsr = np.array([r["dsr"] for r in rows])
    return {"edge": edge, "rows": rows, "significant": float(np.mean(dsr >= 0.95)),
            "mean_pbo": float(np.nanmean([r["pbo"] for r in rows]))}


def part_tuning(seeds: int, out: Path) -> dict[str, Any]:
    rows = []
    for seed in range(seeds):
        single = sweep(["data=edge", f"data.seed={seed}", f"seed={seed}"], out / f"untuned_{seed}", out / f"untuned_{seed}.log")
        from hpo_record import job as job_record

        untuned = job_record.read(single)
        s = summarize(sweep(["-m", "hpo=standard", "data=edge", f"data.seed={seed}", f"seed={seed}"],
                            out / f"tuned_{seed}", out / f"tuned_{seed}.log"))
        rows.append({"seed": seed, "untuned": untuned.metrics["test/sharpe"], "tuned": float(s.best["test/sharpe"]),
                     "reference": untuned.baselines["reference"]["test/sharpe"],
                     "buy_and_hold": untuned.baselines["buy_and_hold"]["test/sharpe"],
                     "tuned_val": float(s.best["val/sharpe"]), "dsr": s.deflated.dsr if s.deflated else float("nan")})
        print(f"  seed {seed}: untuned {rows[-1]['untuned']:.2f}, tuned {rows[-1]['tuned']:.2f}, "
              f"reference {rows[-1]['reference']:.2f}", flush=True)
    return {"rows": rows}


def goog_csv(out: Path) -> Path:
    """GOOG daily prices 2004-2008 from matplotlib's sample data, as a Yahoo-style CSV."""
    import matplotlib.cbook as cbook
    import pandas as pd

    data = cbook.get_sample_data("goog.npz")["price_data"]
    path = out / "goog.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"Date": data["date"], "Open": data["open"], "High": data["high"], "Low": data["low"],
                  "Close": data["close"], "Adj Close": data["adj_close"], "Volume": data["volume"]}).to_csv(path, index=False)
    return path


def part_walkforward(out: Path) -> dict[str, Any]:
    markets = {"planted edge (edge 0.15)": ["data=edge"],
               "GOOG daily 2004-2008 (matplotlib sample data)": ["data=csv", f"data.path={goog_csv(out)}"]}
    rows = []
    for name, data in markets.items():
        for validation in ("holdout", "walkforward"):
            tag = f"{'edge' if 'edge' in name else 'goog'}_{validation}"
            extra = ["validation.folds=3"] if validation == "walkforward" else []
            s = summarize(sweep(["-m", *SMALL, *data, f"validation={validation}", *extra, "hydra.sweeper.n_trials=16"],
                                out / tag, out / f"{tag}.log"))
            done = s.complete[["objective", "test/sharpe"]].dropna()
            rho = float(done.corr(method="spearman").iloc[0, 1]) if len(done) >= 3 else float("nan")
            rows.append({"market": name, "validation": validation, "trials": len(done), "rho": rho,
                         "best_test": float(s.best["test/sharpe"]), "bh_test": float(s.best["buy_and_hold/test/sharpe"])})
            print(f"  {tag}: rho {rho:.2f} over {len(done)} trials", flush=True)
    return {"rows": rows}


def markdown(results: dict[str, Any], args: argparse.Namespace, minutes: float) -> str:
    lines = ["## Can the tuned agent be trusted? (calibration)", "",
             f"Measured by `bench/bench_trust.py` on {time.strftime('%Y-%m-%d')} in {minutes:.0f} minutes"
             f"{' (its last invocation, with --reuse: the sweeps an interrupted invocation had finished were read, not run again)' if args.reuse else ''}; every "
             "figure is a real sweep of the app read by the report's own code. Sweeps in (a), (b), (d): A2C, "
             "12 trials (16 in (d)) of 6,000 steps, TPE, holdout validation unless said.", ""]
    for key, title in (("null", "(a) No edge: how often is the best trial called significant?"),
                       ("power", "(b) Planted edge (0.15): how often is the best trial called significant?")):
        if key in results:
            r = results[key]
            lines += [f"### {title}", "", "| data seed | DSR | PBO | best val Sharpe | its test Sharpe | reference test Sharpe |",
                      "| ---: | ---: | ---: | ---: | ---: | ---: |"]
            lines += [f"| {x['seed']} | {x['dsr']:.2f} | {x['pbo']:.2f} | {x['val']:.2f} | {x['test']:.2f} | "
                      f"{x['reference_test']:.2f} |" for x in r["rows"]]
            lines += ["", f"Called significant (DSR >= 0.95) in **{r['significant']:.0%}** of {len(r['rows'])} sweeps; "
                      f"mean PBO {r['mean_pbo']:.2f}.", ""]
    if "tuning" in results:
        rows = results["tuning"]["rows"]
        lines += ["### (c) Planted edge: untuned default, tuned (`hpo=standard`, PPO) and the reference, on test", "",
                  "| data seed | untuned test Sharpe | tuned test Sharpe (its val) | DSR of the tuned | reference | buy & hold |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {r['seed']} | {r['untuned']:.2f} | {r['tuned']:.2f} ({r['tuned_val']:.2f}) | {r['dsr']:.2f} | "
                  f"{r['reference']:.2f} | {r['buy_and_hold']:.2f} |" for r in rows]
        mean = {k: np.mean([r[k] for r in rows]) for k in ("untuned", "tuned", "reference")}
        share = (f"; tuned / reference {mean['tuned'] / mean['reference']:.0%}"
                 if mean["tuned"] > 0 and mean["reference"] > 0 else "")
        lines += ["", f"Means: untuned {mean['untuned']:.2f}, tuned {mean['tuned']:.2f} (tuned - untuned "
                  f"{mean['tuned'] - mean['untuned']:+.2f}), reference {mean['reference']:.2f}{share}.", ""]
    if "wf" in results:
        lines += ["### (d) Walk-forward against holdout: does the objective rank the trials as the test segment does?", "",
                  "| market | validation | complete trials | Spearman rho (objective, test Sharpe) | best trial's test Sharpe | buy & hold |",
                  "| --- | --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {r['market']} | {r['validation']} | {r['trials']} | {r['rho']:.2f} | {r['best_test']:.2f} | "
                  f"{r['bh_test']:.2f} |" for r in results["wf"]["rows"]]
        lines.append("")
    lines += ["Reproduce:", "", "```sh", "python bench/bench_trust.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k in ("sweeps", "seeds", "only")), "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS))
    parser.add_argument("--sweeps", type=int, default=20, help="sweeps (data seeds) in (a) and (b)")
    parser.add_argument("--seeds", type=int, default=3, help="data seeds in (c)")
    parser.add_argument("--out", type=Path, default=REPO / "multirun" / "bench_trust" / time.strftime("%Y-%m-%d_%H-%M-%S"))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--reuse", action="store_true",
                        help="read sweeps already finished in --out instead of running them again (an interrupted run)")
    args = parser.parse_args(argv)
    global REUSE
    REUSE = args.reuse
    parts = [p for p in args.only.split(",") if p]
    started = time.time()
    results: dict[str, Any] = {}
    if "null" in parts:
        print("[null]", flush=True)
        results["null"] = part_significance(0.0, args.sweeps, args.out / "null")
    if "power" in parts:
        print("[power]", flush=True)
        results["power"] = part_significance(0.15, args.sweeps, args.out / "power")
    if "tuning" in parts:
        print("[tuning]", flush=True)
        results["tuning"] = part_tuning(args.seeds, args.out / "tuning")
    if "wf" in parts:
        print("[wf]", flush=True)
        results["wf"] = part_walkforward(args.out / "wf")
    text = markdown(results, args, (time.time() - started) / 60)
    print(text)
    if not args.no_write:
        write_section(REPO / "docs" / "benchmarks.md", "trust", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
