"""PNG plots of the analysed sweeps.

Five are Optuna's own, with the report's additions (:mod:`analysis.optuna_plots`). Four are the
project's, here, for what Optuna lacks: learning curves with pruned trials marked (from each job's
``eval_curve.csv``), validation against test, the best trial's equity against buy-and-hold, and the
comparison of the day's sweeps; then the chosen agent's tearsheet (:mod:`analysis.tearsheet`) and,
for a population-based training sweep, its members' scores with their clones and the explored
hyperparameters' schedules (``analysis.pbt``). Which plots a report has, and the processes that
draw them: :mod:`analysis.drawing`; the look they share: :mod:`analysis.figure_base`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from . import pbt, tearsheet  # noqa: E402
from .captions import TITLES  # noqa: E402
from .figure_base import BEST_COLOR, BH_COLOR, STATE_COLORS, figure, save, title  # noqa: E402
from .optuna_plots import (  # noqa: E402
    plot_history,
    plot_importance,
    plot_parallel,
    plot_pareto,
    plot_slices,
)
from .tables import (  # noqa: E402
    FEW_RANK_TRIALS,
    MIN_RANK_TRIALS,
    Analysis,
    SweepSummary,
    test_metric,
)

# --------------------------------------------------------------------------- the project's plots


def plot_curves(summary: SweepSummary, curves: pd.DataFrame, path: Path) -> Path | None:
    c = curves[curves["sweep"] == summary.name] if "sweep" in curves.columns else curves
    if c.empty or "objective" not in c.columns or "timesteps" not in c.columns:
        return None
    runs = [k for k in ("fold", "seed") if k in c.columns and c[k].notna().any()]  # walk-forward, seeds
    c = c.sort_values(["trial", *runs, "timesteps"], kind="stable")
    keys = c[["trial", *runs]].to_numpy()
    starts = np.flatnonzero(np.r_[True, (keys[1:] != keys[:-1]).any(axis=1)])  # one curve per trial and run
    pieces = np.split(c[["timesteps", "objective"]].to_numpy(float), starts[1:])
    ids = c["trial"].to_numpy()[starts]
    states = dict(zip(summary.trials["trial"], summary.trials["state"].astype(str)))
    fig = figure(9, 4.5)
    ax = fig.subplots()
    for state in ("complete", "pruned", "running", "failed", "waiting"):
        segs = [pc for pc, t in zip(pieces, ids) if states.get(t) == state]
        if not segs:
            continue
        color = STATE_COLORS[state]
        n = len({t for t in ids if states.get(t) == state})
        ax.add_collection(LineCollection(segs, colors=color, alpha=0.35 if state == "complete" else 0.6,
                                         linewidths=0.9, label=f"{state} ({n})"))
        ends = np.array([pc[-1] for pc in segs])
        if state == "pruned":
            ax.scatter(ends[:, 0], ends[:, 1], marker="x", s=30, color=color, zorder=3, label="pruned here")
        else:  # a dot at the end: visible even for a one-evaluation curve
            ax.scatter(ends[:, 0], ends[:, 1], s=6, color=color, alpha=0.6, zorder=2)
    if summary.best is not None:
        best = [pc for pc, t in zip(pieces, ids) if t == summary.best["trial"]]
        ax.add_collection(LineCollection(best, colors="k", linewidths=2.2, zorder=4,
                                         label=f"best trial #{int(summary.best['trial'])}"))
    ax.autoscale_view()
    ax.set_xlabel("training timesteps")
    ax.set_ylabel(f"validation {summary.sweep.objective_metrics[0]}")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    per = ", one curve per fold and seed" if runs else ""
    return save(fig, path, title(summary, TITLES["curves"]) + f" ({len(set(ids))} trials{per})")


def plot_val_test(summary: SweepSummary, path: Path, top: int = 5) -> Path | None:
    metric = summary.sweep.objective_metrics[0]
    tcol, t = test_metric(metric), summary.trials
    if tcol == metric or tcol not in t.columns:
        return None
    pts = t[t["state"].isin(["complete", "pruned"])].dropna(subset=["objective", tcol])
    if pts.empty:
        return None
    fig = figure(6.5, 6.2)
    ax = fig.subplots()
    for state, marker in (("pruned", "x"), ("complete", "o")):
        m = pts["state"] == state
        if m.any():
            ax.scatter(pts.loc[m, "objective"], pts.loc[m, tcol], s=16, marker=marker, color=STATE_COLORS[state],
                       alpha=0.7, label=f"{state} ({int(m.sum())})")
    lo, hi = np.nanmin(pts[["objective", tcol]].to_numpy(float)), np.nanmax(pts[["objective", tcol]].to_numpy(float))
    ax.plot([lo, hi], [lo, hi], ls="--", color="k", lw=1, label="test = validation")
    bh_val, bh_test = t.get(f"buy_and_hold/{metric}"), t.get(f"buy_and_hold/{tcol}")
    if bh_val is not None and bh_test is not None and bh_val.notna().any() and bh_test.notna().any():
        ax.scatter([bh_val.dropna().iloc[0]], [bh_test.dropna().iloc[0]], marker="*", s=200, color=BH_COLOR,
                   zorder=4, label="buy & hold")
    best = summary.top(top)
    for _, r in best.iterrows():
        if pd.notna(r.get(tcol)):
            ax.annotate(f"#{int(r['trial'])}", (r["objective"], r[tcol]), xytext=(4, 4), textcoords="offset points",
                        fontsize=8, color=BEST_COLOR)
    if not best.empty:
        ax.scatter(best["objective"], best[tcol], s=40, facecolors="none", edgecolors=BEST_COLOR, zorder=3,
                   label=f"top {len(best)} by validation")
    ax.set_xlabel(f"validation: {metric} (optimized)")
    ax.set_ylabel(f"test: {tcol} (never seen by the sweep)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    rho, n = summary.val_test_spearman, summary.val_test_n
    if math.isnan(rho):
        rho_text = f"rank correlation not shown: {n} complete trial(s), it needs {MIN_RANK_TRIALS}"
    else:
        rho_text = f"Spearman rho = {rho:.2f} over {n} complete trials" + (" (few: rough)" if n < FEW_RANK_TRIALS else "")
    return save(fig, path, title(summary, TITLES["val_test"]) + f"\n{rho_text}")


def plot_equity(summary: SweepSummary, path: Path, segments: Sequence[str] = ("val", "test")) -> Path | None:
    eq, best = summary.equity, summary.best
    if eq is None or best is None:
        return None
    present = [s for s in segments if (eq["segment"] == s).any()]
    if not present:
        return None
    fig = figure(10, 3.4 * len(present) + 0.8, hspace=0.4)
    for ax, seg in zip(np.ravel(fig.subplots(len(present), 1, squeeze=False)), present):
        d = eq[eq["segment"] == seg]
        x = d["timestamp"] if "timestamp" in d.columns and d["timestamp"].notna().all() else np.arange(len(d))
        ax.plot(x, d["agent"], color=STATE_COLORS["complete"], lw=1.5, label=f"agent (trial #{int(best['trial'])})")
        ax.plot(x, d["buy_and_hold"], color=BH_COLOR, lw=1.2, label="buy & hold")
        if "flat" in d.columns:
            ax.plot(x, d["flat"], color="grey", lw=1, ls="--", label="flat")
        if "reference" in d.columns and d["reference"].notna().all():
            ax.plot(x, d["reference"], color="#9467bd", lw=1, ls=":", label="reference policy (planted edge)")
        sharpe, bh = best.get(f"{seg}/sharpe"), best.get(f"buy_and_hold/{seg}/sharpe")
        extra = f" — Sharpe agent {sharpe:.2f}, buy & hold {bh:.2f}" if pd.notna(sharpe) and pd.notna(bh) else ""
        ax.set_title(("validation" if seg == "val" else seg) + extra, fontsize=10)
        ax.set_ylabel("equity (start = 1)")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    return save(fig, path, title(summary, TITLES["equity"]))


def plot_comparison(analysis: Analysis, path: Path) -> Path | None:
    sums = [s for s in analysis.sweeps if not s.complete.empty]
    if len(sums) < 2:
        return None
    fig = figure(max(8, 2.2 * len(sums) + 2), 5.3, wspace=0.05)
    axes = fig.subplots(1, 2, sharey=True)
    rng = np.random.default_rng(0)
    positions = np.arange(1, len(sums) + 1)
    for ax, seg in zip(axes, ("val", "test")):
        data, bh = [], []
        for s in sums:
            metric = s.sweep.objective_metrics[0]
            col = "objective" if seg == "val" else test_metric(metric)
            data.append(s.complete[col].dropna().to_numpy(float) if col in s.complete.columns else np.array([]))
            bh_col = f"buy_and_hold/{metric if seg == 'val' else test_metric(metric)}"
            bh.append(float(s.complete[bh_col].dropna().iloc[0]) if bh_col in s.complete.columns
                      and s.complete[bh_col].notna().any() else math.nan)
        ax.boxplot([d if len(d) else [np.nan] for d in data], positions=positions, widths=0.5, showfliers=False)
        xs = np.concatenate([np.full(len(d), p) + rng.uniform(-0.18, 0.18, len(d)) for p, d in zip(positions, data)])
        ax.scatter(xs, np.concatenate(data), s=8, alpha=0.45, color=STATE_COLORS["complete"], zorder=2)
        for p, s, b in zip(positions, sums, bh):
            if s.best is not None:
                v = s.best.get("objective" if seg == "val" else test_metric(s.sweep.objective_metrics[0]))
                if pd.notna(v):
                    ax.scatter([p], [v], marker="*", s=150, color=BEST_COLOR, zorder=4)
            if not math.isnan(b):
                ax.hlines(b, p - 0.3, p + 0.3, colors=BH_COLOR, linestyles="--", lw=2, zorder=3)
        ax.set_xticks(positions, [f"{s.sweep.model or '?'}\n{s.name.split('/')[-1]}" for s in sums], fontsize=8)
        ax.set_title("validation (optimized)" if seg == "val" else "test (unseen)")
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel(" / ".join(sorted({s.sweep.objective_metrics[0] for s in sums})))
    axes[0].scatter([], [], marker="*", s=100, color=BEST_COLOR, label="best by validation")
    axes[0].plot([], [], ls="--", color=BH_COLOR, label="buy & hold")
    axes[0].legend(loc="best", fontsize=8)
    return save(fig, path, TITLES["comparison"] + f" ({len(sums)} sweeps, complete trials)")


# --------------------------------------------------------------------------- all of them


def sweep_plotters(analysis: Analysis) -> dict[str, Callable[[SweepSummary, Path], Path | None]]:
    return {
        "history": plot_history, "importance": plot_importance, "parallel": plot_parallel, "slices": plot_slices,
        "curves": lambda s, p: plot_curves(s, analysis.curves, p), "val_test": plot_val_test,
        "equity": plot_equity, "pareto": plot_pareto,
        "tearsheet": lambda s, p: tearsheet.plot_tearsheet(s, p, save, lambda what: title(s, what)),
        "pbt_scores": lambda s, p: pbt.plot_scores(s, p, figure, save, title(s, TITLES["pbt_scores"])),
        "pbt_schedules": lambda s, p: pbt.plot_schedules(s, p, figure, save, title(s, TITLES["pbt_schedules"])),
    }
