"""Does a preset's own race find what the small benchmark's could not? ``hpo=standard`` as shipped
(40 trials on 4 walk-forward folds, median pruning, the top 5 and the control raced on 3 seeds; Ray,
2 trials at a time) on the cells of ``bench/bench_tuning.py`` where the default earns less than half
the reference policy (issue #26's power question), one sweep at a time.

For each cell: the default single run (bench_tuning's, reused), the preset's recommendation and its
test Sharpe (the default's when it keeps the control, else a single run of the recommended
configuration with training seed 0), the share of the gap to the reference it closes, the wall time
and the training runs. Writes docs/benchmarks.md's section ``tuning-preset``, whatever it shows.

    python bench/bench_preset.py --out DIR --cells ppo:lag:10,ppo:lag:13,ppo:lag:16
    python bench/bench_preset.py --out DIR --table      # the table from what has run
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_tuning import _app, _results, _runs, _se, _single, cell_dir  # noqa: E402
from bench.docs_section import write_section  # noqa: E402

PRESET = ["hpo=standard"]


def run(model: str, shape: str, seed: int, root: Path, edge: float = 0.15) -> dict:
    cell = cell_dir(model, shape, seed, edge, root)
    done = cell / "preset-standard.json"
    if done.exists():
        return json.loads(done.read_text())
    cell.mkdir(parents=True, exist_ok=True)
    market = [f"model={model}", f"data.shape={shape}", f"data.seed={seed}", f"data.edge={edge}", "train.save_model=false"]
    default = _single(market, {}, cell / "default")
    sweep = cell / "standard"
    started = time.perf_counter()
    if not (sweep / "optimization_results.yaml").exists() or "recommendation" not in _results(sweep):
        _app(["-m", *market, *PRESET, f"hydra.sweep.dir={sweep}"], cell, cell / "standard.log")
    wall = time.perf_counter() - started
    decision = _results(sweep)["recommendation"]
    chosen = next(r for r in decision["candidates"] if r["label"] == decision["recommended"])
    test = default["metrics"]["test/sharpe"] if decision["recommended"] == "control" else \
        _single(market, chosen["params"], cell / "recommended-standard")["metrics"]["test/sharpe"]
    scored = [r for r in decision["candidates"] if r["search_value"] is not None and r["confirmed_value"] is not None]
    top = max(scored, key=lambda r: r["search_value"]) if scored else None
    out = {"model": model, "shape": shape, "seed": seed, "default": default["metrics"]["test/sharpe"],
           "reference": default["baselines"]["reference"]["test/sharpe"], "new": test,
           "recommended": decision["recommended"], "p_value": decision["p_value"], "minutes": wall / 60,
           "runs": _runs(sweep), "luck": None if top is None else top["search_value"] - top["confirmed_value"]}
    done.write_text(json.dumps(out))
    return out


def table(root: Path) -> str:
    cells = [json.loads(p.read_text()) for p in sorted(root.glob("*/preset-standard.json"))]
    if not cells:
        return "No cell has run the preset yet."
    rows = []
    for c in cells:
        p = "-" if c["p_value"] is None else f"{c['p_value']:.3f}"
        luck = "–" if c["luck"] is None else f"{c['luck']:+.2f}"
        rows.append(f"| {c['model'].upper()} {c['shape']} seed {c['seed']} | {c['default']:.2f} | {c['reference']:.2f} | "
                    f"{c['recommended']} (p {p}) | {c['new']:.2f} | "
                    f"{(c['new'] - c['default']) / (c['reference'] - c['default']):+.0%} | {luck} | {c['runs']} | "
                    f"{c['minutes']:.1f} min |")
    closed = np.array([(c["new"] - c["default"]) / (c["reference"] - c["default"]) for c in cells])
    return "\n".join([
        "`hpo=standard` as shipped (40 trials x 4 walk-forward folds, median pruning, the top 5 and the control raced",
        "on 3 seeds; Ray, 2 trials at a time) on the cells of the table above where the default earns less than half",
        "the reference. Test Sharpe; gap closed: (recommended - default) / (reference - default); luck: the best",
        "search score minus its confirmed score. Command: `python bench/bench_preset.py --out DIR --cells ...`.", "",
        "| cell | default | reference | recommended | its test Sharpe | gap closed | luck | training runs | wall |",
        "|---|---|---|---|---|---|---|---|---|", *rows, "",
        f"Gap closed, mean over {len(cells)} cell(s): {closed.mean():+.0%} ± {_se(closed):.0%}."])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cells", default="", help="model:shape:seed, comma-separated")
    parser.add_argument("--table", action="store_true", help="only write the table from what has run")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    if not args.table:
        for spec in filter(None, args.cells.split(",")):
            model, shape, seed = spec.split(":")
            c = run(model, shape, int(seed), args.out)
            print(f"{model} {shape} seed {seed}: default {c['default']:.2f} new {c['new']:.2f} ({c['recommended']}, "
                  f"{c['minutes']:.1f} min)", flush=True)
    text = table(args.out)
    write_section(args.docs, "tuning-preset", text)
    print(text)


if __name__ == "__main__":
    main()
