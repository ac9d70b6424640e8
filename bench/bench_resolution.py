"""How large an advantage can the raced confirmation resolve? Its resolution on the benchmark's sweeps.

For every sweep with a raced confirmation that ``bench/bench_tuning.py`` (``new``) and
``bench/bench_preset.py`` (``standard``) left in DIR, computed again from the confirmation runs'
recorded per-bar validation returns (``hydra_plugins.hpo_sweeper.api.confirmation_resolution``):
the best-confirmed candidate's advantage over the control on validation, and the smallest advantage
a one-sided paired test at the race's level calls 4 times in 5 at that many bars, both in Sharpe a
year (per bar over the control's per-bar deviation, times the square root of bars a year). Beside
them, per market, the test-Sharpe gap between the default and the reference policy: the edge there
was to find. Writes docs/benchmarks.md's ``tuning-resolution``; runs nothing, reads only.

    python bench/bench_resolution.py --out DIR [DIR2]     # DIR2: bench_tuning.py --part long's cells
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analysis.confirmation import sharpe_a_year  # noqa: E402
from bench.docs_section import write_section  # noqa: E402
from bench.outcome import gap_closed  # noqa: E402
from hpo_record.study import CONFIRM_SUFFIX  # noqa: E402
from hydra_plugins.hpo_sweeper.api import confirmation_resolution  # noqa: E402

SWEEPS = {"new": "bench_tuning's race (2 folds x 2 seeds)", "standard": "`hpo=standard` (4 folds x 3 seeds)"}
OUTCOME = {"new": "cell.json", "standard": "preset-standard.json"}  # what each sweep's recommendation earned on test


def cell_rows(cell: Path) -> list[dict[str, Any]]:
    default = json.loads((cell / "default" / "metrics.json").read_text())
    model, shape, edge, _ = cell.name.split("-", 3)
    n_bars = yaml.safe_load((cell / "default" / ".hydra" / "config.yaml").read_text())["data"]["n_bars"]
    rows = []
    for kind in SWEEPS:
        db = cell / kind / "optuna.db"
        if not db.exists():
            continue
        study = optuna.load_study(study_name=f"{model}{CONFIRM_SUFFIX}", storage=f"sqlite:///{db}")
        res = confirmation_resolution(study)
        if res is None:
            continue
        decision = study.user_attrs["decision"]
        outcome = json.loads((cell / OUTCOME[kind]).read_text()) if (cell / OUTCOME[kind]).exists() else {}
        scaled = sharpe_a_year(res, default["periods_per_year"])
        if scaled is None:
            continue
        rows.append({"sweep": kind, "model": model.upper(), "market": shape, "bars": n_bars,
                     "closed": gap_closed(outcome) if outcome and edge != "edge0.0" else None,
                     "observations": res["observations"], "edge": float(edge.removeprefix("edge")),
                     "advantage": scaled["advantage"], "detectable": scaled["detectable"],
                     "called": decision["recommended"] != "control",
                     "gap": default["baselines"].get("reference", {}).get("test/sharpe", math.nan)
                     - default["metrics"]["test/sharpe"]})
    return rows


def table(roots: list[Path]) -> str:
    rows = [r for root in roots for cell in sorted(root.iterdir()) if (cell / "default" / "metrics.json").exists()
            for r in cell_rows(cell)]
    lines = []
    keys = sorted({(r["sweep"], r["model"], r["market"], r["edge"], r["bars"]) for r in rows},
                  key=lambda k: (k[0], k[1], -k[3], k[2], k[4]))
    for kind, model, market, edge, bars in keys:
        group = [r for r in rows if (r["sweep"], r["model"], r["market"], r["edge"], r["bars"]) == (kind, model, market, edge, bars)]
        col = {k: np.array([r[k] for r in group], dtype=float) for k in ("advantage", "detectable", "gap", "observations")}
        closed = [r["closed"] for r in group if r["closed"] is not None]
        gap = f"{np.nanmean(col['gap']):+.2f}" if edge else "–"
        lines.append(f"| {SWEEPS[kind]} | {model} | {market if edge else 'none'} | {bars:,} ({col['observations'].mean():,.0f}) | "
                     f"{len(group)} | {col['advantage'].mean():+.2f} | "
                     f"{col['detectable'].mean():.2f} ({col['detectable'].min():.2f}-{col['detectable'].max():.2f}) | "
                     f"{int(np.sum(col['advantage'] >= col['detectable']))} | {sum(r['called'] for r in group)} | "
                     f"{gap} | "
                     f"{f'{np.mean(closed):+.0%} ({len(closed)})' if closed else '– (0)'} |")
    return "\n".join([
        "The race's resolution on the sweeps the benchmarks above ran, computed again from their confirmation runs:",
        "the best-confirmed candidate's advantage over the control on validation, and the advantage a one-sided paired",
        "test at level 0.05 would call 4 times in 5 at that many bars (one candidate alone: the SPA, allowing for all",
        "of them, needs at least as much), in Sharpe a year. Gap: the reference policy's test Sharpe minus the default's,",
        "the edge there was to find (mean over the cells); gap closed: where the default earns less than half the",
        "reference, (recommended - default) / (reference - default) on test, mean over those cells.",
        "Command: `python bench/bench_resolution.py --out DIR [DIR ...]` (`bench_tuning.py --part long` runs the 12,000-bar cells).", "",
        "| sweeps | model | market | bars (validation observations) | cells | best advantage | detectable (range) "
        "| advantage >= detectable | tuned picks | gap to the reference | gap closed (cells) |",
        "|---|---|---|---|---|---|---|---|---|---|---|", *lines]) if lines else "No sweep with a confirmation found."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, nargs="+", required=True, help="the benchmarks' cells (bench_tuning.py --out)")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    text = table(args.out)
    print(text)
    write_section(args.docs, "tuning-resolution", text)


if __name__ == "__main__":
    main()
