"""PNG plots of the analysed sweeps.

Five are Optuna's own (``optuna.visualization.matplotlib``), drawn from the study with the
report's additions (buy-and-hold, pruned and failed trials on the history): optimization
history, parameter importance, parallel coordinates, slices, Pareto front. Four are the project's,
for what Optuna lacks: learning curves with pruned trials marked (from each job's
``eval_curve.csv``), validation against test, the best trial's equity against buy-and-hold, and the
comparison of the day's sweeps; and, for a population-based training sweep, its members' scores
with their clones and the explored hyperparameters' schedules (``analysis.pbt``). Which plots a
report has, and the processes that draw them: :mod:`analysis.drawing`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import NullLocator  # noqa: E402

from . import pbt, tearsheet  # noqa: E402
from .captions import TITLES  # noqa: E402
from .load import param_column  # noqa: E402
from .tables import (  # noqa: E402
    FEW_RANK_TRIALS,
    MIN_RANK_TRIALS,
    Analysis,
    SweepSummary,
    objective_label,
    test_metric,
)

DPI = 100
STATE_COLORS = {"complete": "#1f77b4", "pruned": "#ff7f0e", "failed": "#d62728", "running": "#7f7f7f",
                "waiting": "#9467bd"}
BEST_COLOR = "#d62728"
BH_COLOR = "#2ca02c"

MAX_PARAMS = 6  # parameters in the parallel-coordinates and slice plots: the most important ones


def _title(summary: SweepSummary, what: str) -> str:
    return f"{summary.sweep.model or '?'} · {summary.name} — {what}"


def _save(fig: Figure, path: Path, title: str) -> Path:
    for ax in fig.axes:  # unlabelled minor ticks of log axes cost a quarter of a parallel plot's time
        ax.xaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_minor_locator(NullLocator())
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pil_kwargs={"compress_level": 1})
    plt.close(fig)
    return path


def _first_figure(axes: Any) -> Figure:
    return (np.ravel(axes)[0] if isinstance(axes, np.ndarray) else axes).figure


def _target(summary: SweepSummary) -> dict[str, Any]:
    """Optuna plot arguments: the first objective of a multi-objective study. (A single-objective
    study gets none: with a target, Optuna draws no best-value line and no direction-aware colours.)"""
    if not summary.sweep.multi_objective:
        return {"target_name": summary.sweep.objective_metrics[0]}
    return {"target": lambda t: t.values[0], "target_name": summary.sweep.objective_metrics[0]}


def _short(name: str) -> str:
    return name[len("model."):] if name.startswith("model.") else name


def _important_params(summary: SweepSummary) -> list[str]:
    """The ``MAX_PARAMS`` most important parameters (Optuna's importance), or the first ones of the
    search space when importance could not be computed."""
    imp = summary.importance
    names = list(imp.importances) if imp is not None and imp.ok else list(summary.sweep.params)
    return names[:MAX_PARAMS]


# --------------------------------------------------------------------------- Optuna's plots


def plot_history(summary: SweepSummary, path: Path) -> Path | None:
    from optuna.visualization.matplotlib import plot_optimization_history

    if summary.complete.empty:
        return None
    ax = plot_optimization_history(summary.sweep.study, **_target(summary))
    ax.figure.set_size_inches(9, 4)
    t = summary.trials
    pruned = t[(t["state"] == "pruned") & t["objective"].notna()]
    if not pruned.empty:
        ax.scatter(pruned["trial"], pruned["objective"], marker="x", s=18, color=STATE_COLORS["pruned"],
                   label=f"pruned ({len(pruned)})", zorder=2)
    other = t[~t["state"].isin(["complete", "pruned"])]
    for state, rows in other.groupby("state", observed=True):
        ax.plot(rows["trial"], np.full(len(rows), 0.02), "^", ms=6, ls="none", label=f"{state} ({len(rows)})",
                color=STATE_COLORS.get(str(state), "k"), transform=ax.get_xaxis_transform())
    bh = t.get(f"buy_and_hold/{summary.sweep.objective_metrics[0]}")
    if bh is not None and bh.notna().any():
        ax.axhline(float(bh.dropna().iloc[0]), color=BH_COLOR, ls="--", lw=1.2, label="buy & hold")
    ax.set_ylabel(objective_label(summary.sweep, 0))
    ax.legend(loc="best", fontsize=8)
    return _save(ax.figure, path, _title(summary, TITLES["history"]))


def plot_importance(summary: SweepSummary, path: Path) -> Path | None:
    from optuna.importance import BaseImportanceEvaluator
    from optuna.visualization.matplotlib import plot_param_importances

    class _Computed(BaseImportanceEvaluator):
        """Returns the importances already computed, so Optuna's plot does not compute them again."""

        def evaluate(self, study: Any, params: Any = None, *, target: Any = None) -> dict[str, float]:
            return dict(imp.importances)  # type: ignore[union-attr]

    imp = summary.importance
    if imp is None or not imp.ok:
        return None
    ax = plot_param_importances(summary.sweep.study, evaluator=_Computed(), **_target(summary))
    ax.figure.set_size_inches(8, 0.35 * len(imp.importances) + 1.8)
    ax.set_title(f"Optuna's {imp.method} evaluator, {imp.n_trials} complete trials", loc="left", fontsize=10)
    return _save(ax.figure, path, _title(summary, TITLES["importance"]))


def _which(summary: SweepSummary, params: list[str]) -> str:
    n = len(summary.sweep.params)
    if len(params) == n:
        return "every parameter"
    ranked = summary.importance is not None and summary.importance.ok
    return f"the {len(params)} most important of {n} parameters" if ranked else f"the first {len(params)} of {n} parameters"


def plot_parallel(summary: SweepSummary, path: Path) -> Path | None:
    from optuna.visualization.matplotlib import plot_parallel_coordinate

    if len(summary.complete) < 2 or not summary.sweep.params:
        return None
    params = _important_params(summary)
    ax = plot_parallel_coordinate(summary.sweep.study, params=params, **_target(summary))
    ax.set_title("")  # one title: the figure's own
    ax.set_xticks(ax.get_xticks(), [_short(t.get_text()) for t in ax.get_xticklabels()], rotation=20, ha="right",
                  fontsize=8)
    ax.figure.set_size_inches(max(8.0, 1.4 * len(params) + 3), 5)
    shown = _which(summary, params)
    return _save(ax.figure, path, _title(summary, TITLES["parallel"]) + f" ({shown}, {len(summary.complete)} complete trials)")


def plot_slices(summary: SweepSummary, path: Path) -> Path | None:
    """The objective against each of the most important parameters, a grid of small panels (colour:
    trial number; a log axis for a parameter searched on a log scale)."""
    done = summary.complete
    if done.empty or not summary.sweep.params:
        return None
    params = _important_params(summary)
    cols = min(3, len(params))
    rows = math.ceil(len(params) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), params):
        values = done[param_column(name)]
        numeric = pd.to_numeric(values, errors="coerce")
        x = numeric if numeric.notna().all() else values.astype(str)
        points = ax.scatter(x, done["objective"], c=done["trial"], cmap="viridis", s=14)
        if getattr(summary.sweep.distributions.get(name), "log", False):
            ax.set_xscale("log")
        ax.set_xlabel(_short(name), fontsize=9)
        ax.set_ylabel(objective_label(summary.sweep, 0), fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(params):]:
        ax.set_visible(False)
    fig.colorbar(points, ax=axes.ravel().tolist(), label="trial", shrink=0.8)
    shown = _which(summary, params)
    return _save(fig, path, _title(summary, TITLES["slices"]) + f" ({shown}, {len(done)} complete trials)")


def plot_pareto(summary: SweepSummary, path: Path) -> Path | None:
    from optuna.visualization.matplotlib import plot_pareto_front

    sweep = summary.sweep
    if not sweep.multi_objective or summary.pareto is None or summary.pareto.empty:
        return None
    names = [objective_label(sweep, i) for i in range(len(sweep.directions))]
    ax = plot_pareto_front(sweep.study, target_names=names[:3], targets=lambda t: t.values[:3])
    ax.figure.set_size_inches(7, 6)
    return _save(ax.figure, path, _title(summary, TITLES["pareto"]))


# --------------------------------------------------------------------------- the project's plots


def _figure(width: float, height: float, **adjust: float) -> Figure:
    fig = Figure(figsize=(width, height))
    if adjust:
        fig.subplots_adjust(**adjust)
    return fig


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
    fig = _figure(9, 4.5)
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
    return _save(fig, path, _title(summary, TITLES["curves"]) + f" ({len(set(ids))} trials{per})")


def plot_val_test(summary: SweepSummary, path: Path, top: int = 5) -> Path | None:
    metric = summary.sweep.objective_metrics[0]
    tcol, t = test_metric(metric), summary.trials
    if tcol == metric or tcol not in t.columns:
        return None
    pts = t[t["state"].isin(["complete", "pruned"])].dropna(subset=["objective", tcol])
    if pts.empty:
        return None
    fig = _figure(6.5, 6.2)
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
    return _save(fig, path, _title(summary, TITLES["val_test"]) + f"\n{rho_text}")


def plot_equity(summary: SweepSummary, path: Path, segments: Sequence[str] = ("val", "test")) -> Path | None:
    eq, best = summary.equity, summary.best
    if eq is None or best is None:
        return None
    present = [s for s in segments if (eq["segment"] == s).any()]
    if not present:
        return None
    fig = _figure(10, 3.4 * len(present) + 0.8, hspace=0.4)
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
    return _save(fig, path, _title(summary, TITLES["equity"]))


def plot_comparison(analysis: Analysis, path: Path) -> Path | None:
    sums = [s for s in analysis.sweeps if not s.complete.empty]
    if len(sums) < 2:
        return None
    fig = _figure(max(8, 2.2 * len(sums) + 2), 5.3, wspace=0.05)
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
    return _save(fig, path, TITLES["comparison"] + f" ({len(sums)} sweeps, complete trials)")


# --------------------------------------------------------------------------- all of them


def sweep_plotters(analysis: Analysis) -> dict[str, Callable[[SweepSummary, Path], Path | None]]:
    return {
        "history": plot_history, "importance": plot_importance, "parallel": plot_parallel, "slices": plot_slices,
        "curves": lambda s, p: plot_curves(s, analysis.curves, p), "val_test": plot_val_test,
        "equity": plot_equity, "pareto": plot_pareto,
        "tearsheet": lambda s, p: tearsheet.plot_tearsheet(s, p, _save, lambda what: _title(s, what)),
        "pbt_scores": lambda s, p: pbt.plot_scores(s, p, _figure, _save, _title(s, TITLES["pbt_scores"])),
        "pbt_schedules": lambda s, p: pbt.plot_schedules(s, p, _figure, _save, _title(s, TITLES["pbt_schedules"])),
    }
