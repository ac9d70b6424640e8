"""Optuna's own plots (``optuna.visualization.matplotlib``), drawn from the study with the report's
additions: optimization history (with buy-and-hold, pruned and failed trials), parameter
importance, parallel coordinates and slices of the most important parameters, the Pareto front."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .captions import TITLES
from .figure_base import BH_COLOR, STATE_COLORS, save, title
from .load import param_column
from .tables import SweepSummary, objective_label

MAX_PARAMS = 6  # parameters in the parallel-coordinates and slice plots: the most important ones


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
    return save(ax.figure, path, title(summary, TITLES["history"]))


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
    return save(ax.figure, path, title(summary, TITLES["importance"]))


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
    return save(ax.figure, path, title(summary, TITLES["parallel"]) + f" ({shown}, {len(summary.complete)} complete trials)")


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
    return save(fig, path, title(summary, TITLES["slices"]) + f" ({shown}, {len(done)} complete trials)")


def plot_pareto(summary: SweepSummary, path: Path) -> Path | None:
    from optuna.visualization.matplotlib import plot_pareto_front

    sweep = summary.sweep
    if not sweep.multi_objective or summary.pareto is None or summary.pareto.empty:
        return None
    names = [objective_label(sweep, i) for i in range(len(sweep.directions))]
    ax = plot_pareto_front(sweep.study, target_names=names[:3], targets=lambda t: t.values[:3])
    ax.figure.set_size_inches(7, 6)
    return save(ax.figure, path, title(summary, TITLES["pareto"]))
