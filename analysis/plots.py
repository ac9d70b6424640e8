"""PNG plots of the analysed sweeps (matplotlib, Agg backend, no pyplot global state).

Each ``plot_*`` function takes the tidy data of one sweep (or of all sweeps for the comparison)
and a path, writes one PNG and returns the path, or returns None when there is nothing to draw
(e.g. no complete trial). Thousands of trials are drawn with one collection call per group
(``LineCollection``, one ``scatter``), never one matplotlib call per trial.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullLocator  # noqa: E402

from hpo_app.artifacts import STATE_COMPLETE, STATE_FAILED, STATE_PRUNED  # noqa: E402

from .load import PARAM_PREFIX, STATE_CORRUPT, STATE_INCOMPLETE, STATE_RUNNING, ParamSpec  # noqa: E402
from .tables import Analysis, SweepSummary, best_so_far, objective_columns, objective_label, test_metric  # noqa: E402

DPI = 100
STATE_COLORS = {
    STATE_COMPLETE: "#1f77b4",
    STATE_PRUNED: "#ff7f0e",
    STATE_FAILED: "#d62728",
    STATE_RUNNING: "#7f7f7f",
    STATE_INCOMPLETE: "#9467bd",
    STATE_CORRUPT: "#8c564b",
}
BEST_COLOR = "#d62728"
BH_COLOR = "#2ca02c"

CAPTIONS: dict[str, str] = {
    "history": "Objective of each trial in the order the sweep ran them (blue: complete, orange x: pruned, "
    "triangles at the bottom: failed or unfinished). The red step line is the best value found so far; "
    "the green dashed line is buy-and-hold on the same validation segment. A line that stops rising early "
    "means more trials would not have helped much.",
    "importance": "How much of the variation of the objective each hyperparameter explains, estimated from the "
    "complete trials by the method named in the title. Parameters near zero could be pinned in the next sweep. "
    "With few trials these estimates are rough.",
    "parallel": "One line per complete trial across its hyperparameters (each axis scaled from its lowest to its "
    "highest searched value, log axes where the parameter was searched on a log scale) and the objective "
    "(last axis). Colour is the objective (yellow best). Bands where the bright lines gather show good regions; "
    "the red line is the best trial.",
    "slices": "The objective against each hyperparameter separately (complete trials; colour: trial number, "
    "later trials darker; red star: best). Log x axes where the parameter was searched on a log scale. "
    "A clear trend or a peak shows a parameter that matters; a flat cloud one that does not.",
    "curves": "Validation objective during training, one line per trial (blue: complete, a dot at its end; orange: pruned, with "
    "an x where the pruner stopped it; grey: running or unfinished). The black line is the best trial. "
    "Curves still rising at the end suggest a larger training budget.",
    "val_test": "Validation objective (what the sweep optimized) against the same metric on the test segment, "
    "which the sweep never saw. Points on the dashed diagonal generalize perfectly; points far below it overfit "
    "validation. The top trials by validation are labelled with their number; the green star is buy-and-hold. "
    "A weak rank correlation (rho in the title) means the validation ranking says little about the future.",
    "equity": "Equity of the best trial (net of costs, starting at 1) against buy-and-hold and staying flat, "
    "on the validation segment (chosen on it) and on the unseen test segment.",
    "pareto": "Multi-objective sweep: every complete trial on the two objectives; the red points connected by a "
    "line are the Pareto front (no other trial is better on both). Pick along the front by the trade-off you want.",
    "comparison": "Distribution of the objective of the complete trials of each sweep (box: quartiles, whiskers: "
    "1.5 IQR, dots: trials, red star: the best trial by validation), on validation and on test. Green dashes mark buy-and-hold of each sweep's "
    "data. Compare models by the whole distribution, not only the best trial, which is partly luck.",
}
TITLES: dict[str, str] = {
    "history": "Optimization history",
    "importance": "Parameter importance",
    "parallel": "Parallel coordinates",
    "slices": "Objective against each parameter",
    "curves": "Learning curves (intermediate values)",
    "val_test": "Validation against test",
    "equity": "Equity of the best trial",
    "pareto": "Pareto front",
    "comparison": "Comparison of sweeps",
}
SWEEP_KINDS: tuple[str, ...] = (
    "history",
    "importance",
    "parallel",
    "slices",
    "curves",
    "val_test",
    "equity",
    "pareto",
)


@dataclass(frozen=True)
class PlotFile:
    """One written PNG: which sweep (None for cross-sweep plots), which kind, where."""

    sweep: str | None
    kind: str
    path: Path
    title: str

    @property
    def caption(self) -> str:
        return CAPTIONS[self.kind]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "sweep"


def _figure(
    width: float,
    height: float,
    *,
    left: float = 0.8,
    right: float = 0.25,
    bottom: float = 0.6,
    top: float = 0.5,
    hspace: float = 0.3,
    wspace: float = 0.2,
) -> Figure:
    """A figure with fixed margins in inches (constrained layout would double the drawing time)."""
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        hspace=hspace,
        wspace=wspace,
    )
    return fig


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, pil_kwargs={"compress_level": 1})  # zlib level 6 costs ~20 ms a plot
    return path


def _title(summary: SweepSummary, what: str) -> str:
    return f"{summary.info.model or '?'} · {summary.name} — {what}"


def _short(name: str) -> str:
    return name[len("model.") :] if name.startswith("model.") else name


# --------------------------------------------------------------------------- per sweep


def plot_history(summary: SweepSummary, path: Path) -> Path | None:
    info, trials = summary.info, summary.trials
    if trials.empty:
        return None
    cols = [c for c in objective_columns(info) if c in trials.columns]
    fig = _figure(9, 3.2 * len(cols) + 0.6, hspace=0.35)
    axes = fig.subplots(len(cols), 1, squeeze=False)[:, 0]
    state = trials["state"].astype(str).to_numpy()
    x = trials["trial"].to_numpy(float)
    for i, (ax, col) in enumerate(zip(axes, cols)):
        y = trials[col].to_numpy(float)
        done = state == STATE_COMPLETE
        ax.scatter(x[done], y[done], s=14, color=STATE_COLORS[STATE_COMPLETE], label="complete", zorder=3)
        pr = (state == STATE_PRUNED) & ~np.isnan(y)
        if pr.any():
            ax.scatter(
                x[pr], y[pr], s=18, marker="x", color=STATE_COLORS[STATE_PRUNED], label="pruned", zorder=2
            )
        order = np.argsort(x[done], kind="stable")
        if done.any():
            best = best_so_far(y[done][order], info.direction(i))
            ax.step(
                x[done][order], best, where="post", color=BEST_COLOR, lw=1.8, label="best so far", zorder=4
            )
        other = ~np.isin(state, [STATE_COMPLETE, STATE_PRUNED])
        for s in np.unique(state[other]):
            m = state == s
            ax.plot(
                x[m],
                np.full(m.sum(), 0.02),
                "^",
                ms=6,
                color=STATE_COLORS.get(s, "k"),
                transform=ax.get_xaxis_transform(),
                label=s,
                ls="none",
            )
        metric = info.objective_metrics[i] if i < len(info.objective_metrics) else None
        bh = trials.get(f"buy_and_hold/{metric}") if metric else None
        if bh is not None and bh.notna().any():
            ax.axhline(float(bh.dropna().iloc[0]), color=BH_COLOR, ls="--", lw=1.2, label="buy & hold")
        ax.set_ylabel(objective_label(info, i))
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8, ncols=3)
    axes[-1].set_xlabel("trial number")
    fig.suptitle(_title(summary, TITLES["history"]))
    return _save(fig, path)


def plot_importance(summary: SweepSummary, path: Path) -> Path | None:
    result = summary.importance
    if result is None or not result.ok:
        return None
    names = list(result.importances)[::-1]
    values = [result.importances[n] for n in names]
    fig = _figure(8, 0.35 * len(names) + 1.8, left=1.9, top=0.85)
    ax = fig.subplots()
    ax.barh([_short(n) for n in names], values, color=STATE_COLORS[STATE_COMPLETE])
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, max(values) * 1.15 if max(values) > 0 else 1)
    ax.set_xlabel(f"importance for {objective_label(summary.info, 0)} (sums to 1)")
    method = result.method or ""
    ax.set_title(f"method: {method}", fontsize=8, wrap=True, y=1.0, pad=6)
    fig.suptitle(f"{_title(summary, TITLES['importance'])}: {result.short_method} ({result.n_trials} trials)")
    return _save(fig, path)


def _axis_values(
    values: pd.Series, spec: ParamSpec | None
) -> tuple[np.ndarray, list[tuple[float, str]], bool]:
    """Values mapped to [0, 1] for a parallel/slice axis, tick labels, and whether it is categorical."""
    if spec is not None and spec.is_categorical or not pd.api.types.is_numeric_dtype(values.infer_objects()):
        seen = {_key(v) for v in values}
        choices = [c for c in (spec.choices if spec and spec.choices else ()) if _key(c) in seen]
        keys = {_key(c) for c in choices}
        for v in values:
            if _key(v) not in keys:
                keys.add(_key(v))
                choices.append(v)
        labels = [str(c).lower() if isinstance(c, bool) else _fmt(c) for c in choices]
        index = {_key(c): i for i, c in enumerate(choices)}
        codes = np.array([index[_key(v)] for v in values], dtype=float)
        span = max(len(choices) - 1, 1)
        return codes / span, [(i / span, lab) for i, lab in enumerate(labels)], True
    v = values.to_numpy(float)
    log = bool(spec and spec.log and np.nanmin(v) > 0)
    t = np.log10(v) if log else v
    lo, hi = (np.nanmin(t), np.nanmax(t)) if len(t) else (0.0, 1.0)
    if spec is not None and spec.low is not None and spec.high is not None and not (log and spec.low <= 0):
        lo = min(lo, math.log10(spec.low) if log else spec.low)
        hi = max(hi, math.log10(spec.high) if log else spec.high)
    span = hi - lo or 1.0
    ticks = [(0.0, _fmt(10**lo if log else lo)), (1.0, _fmt(10**hi if log else hi))]
    return (t - lo) / span, ticks, False


def _key(v: Any) -> str:
    """A category's identity across dtypes: 512, 512.0 and np.int64(512) are the same choice."""
    if isinstance(v, (bool, np.bool_)):
        return f"bool:{bool(v)}"
    if isinstance(v, (int, float, np.integer, np.floating)):
        return f"num:{float(v)!r}"
    return f"str:{v}"


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return str(int(v)) if float(v).is_integer() and abs(v) < 1e6 else f"{v:.4g}"
    return str(v)


def plot_parallel(summary: SweepSummary, path: Path, max_params: int = 12) -> Path | None:
    info = summary.info
    done = summary.complete
    params = [
        p
        for p in info.search_space
        if PARAM_PREFIX + p in done.columns and done[PARAM_PREFIX + p].notna().any()
    ]
    done = done.dropna(subset=[PARAM_PREFIX + p for p in params])  # e.g. a job without .hydra/
    if summary.importance is not None and summary.importance.ok:
        rank = {p: i for i, p in enumerate(summary.importance.importances)}
        params.sort(key=lambda p: rank.get(p, len(rank)))
    params = params[:max_params]
    if len(done) < 2 or not params:
        return None
    columns, ticks = [], []
    for p in params:
        scaled, t, _ = _axis_values(done[PARAM_PREFIX + p], info.search_space.get(p))
        columns.append(scaled)
        ticks.append(t)
    obj = done["objective"].to_numpy(float)
    lo, hi = float(np.min(obj)), float(np.max(obj))
    columns.append((obj - lo) / ((hi - lo) or 1.0))
    ticks.append([(0.0, _fmt(lo)), (1.0, _fmt(hi))])
    data = np.column_stack(columns)  # trials x axes
    k = data.shape[1]
    xs = np.arange(k, dtype=float)
    fig = _figure(max(8, 1.1 * k + 2), 5.4, left=1.2, bottom=1.2, right=0.2, top=0.75)
    ax = fig.subplots()
    color_value = obj if info.direction(0) == "maximize" else -obj
    order = np.argsort(color_value)  # best drawn last, on top
    segments = np.stack([np.broadcast_to(xs, data.shape), data], axis=-1)[order]
    lc = LineCollection(segments, cmap="viridis", linewidths=1.0, alpha=0.6)
    lc.set_array(obj[order])
    ax.add_collection(lc)
    best = int(np.argmax(color_value))
    ax.plot(xs, data[best], color=BEST_COLOR, lw=2.5, label=f"best trial #{int(done['trial'].iloc[best])}")
    for x, t in zip(xs, ticks):
        ax.axvline(x, color="k", lw=0.8)
        for pos, label in t:
            ax.text(
                x + 0.04,
                pos,
                label,
                fontsize=7,
                va="center",
                ha="left",
                bbox={"fc": "white", "ec": "none", "alpha": 0.7, "pad": 0.5},
            )
    labels = [
        _short(p) + (" (log)" if info.search_space.get(p) and info.search_space[p].log else "")
        for p in params
    ]
    labels.append(info.objective_metrics[0] if info.objective_metrics else "objective")
    ax.set_xticks(xs, labels, rotation=30, ha="right", fontsize=8)
    ax.set_yticks([])
    ax.set_xlim(-0.1, k - 0.6)
    ax.set_ylim(-0.05, 1.05)
    fig.colorbar(lc, ax=ax, label=objective_label(info, 0), fraction=0.04, pad=0.02)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=8, frameon=False, borderaxespad=0.2)
    fig.suptitle(_title(summary, TITLES["parallel"]) + f" ({len(done)} complete trials)")
    return _save(fig, path)


def plot_slices(summary: SweepSummary, path: Path) -> Path | None:
    info = summary.info
    done = summary.complete
    params = [
        p
        for p in info.search_space
        if PARAM_PREFIX + p in done.columns and done[PARAM_PREFIX + p].notna().any()
    ]
    if done.empty or not params:
        return None
    ncols = min(4, len(params))
    nrows = math.ceil(len(params) / ncols)
    fig = _figure(3.2 * ncols, 2.6 * nrows + 0.7, left=0.7, right=0.1, bottom=0.45, hspace=0.45, wspace=0.06)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
    y = done["objective"].to_numpy(float)
    trial = done["trial"].to_numpy(float)
    best_pos = int(np.argmax(y) if info.direction(0) == "maximize" else np.argmin(y))
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(done))
    for ax, p in zip(axes, params):
        col = done[PARAM_PREFIX + p]
        ok = col.notna().to_numpy()
        spec = info.search_space.get(p)
        if (
            spec is not None
            and spec.is_categorical
            or not pd.api.types.is_numeric_dtype(col.dropna().infer_objects())
        ):
            scaled, ticks, _ = _axis_values(col[ok], spec)
            span = max(len(ticks) - 1, 1)
            xv = scaled * span + jitter[ok]
            ax.set_xticks([t[0] * span for t in ticks], [t[1] for t in ticks], fontsize=7)
        else:
            xv = col[ok].to_numpy(float)
            if spec is not None and spec.log and np.nanmin(xv) > 0:
                ax.set_xscale("log")
                ax.xaxis.set_minor_locator(NullLocator())  # minor log ticks cost more than the points
            else:
                ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.scatter(
            xv,
            y[ok],
            c=trial[ok],
            cmap="Blues",
            vmin=trial.min() - 0.3 * np.ptp(trial),
            s=12,
            edgecolors="none",
        )
        if ok[best_pos]:
            bx = xv[np.flatnonzero(ok) == best_pos]
            ax.scatter(bx, [y[best_pos]], marker="*", s=120, color=BEST_COLOR, zorder=3)
        ax.set_title(
            _short(p) + (" (log)" if spec is not None and spec.log else ""), fontsize=9, y=1.0, pad=4
        )
        ax.yaxis.set_major_locator(MaxNLocator(5))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(params) :]:
        ax.set_visible(False)
    for ax in axes[::ncols]:
        ax.set_ylabel(info.objective_metrics[0] if info.objective_metrics else "objective", fontsize=8)
    fig.suptitle(_title(summary, TITLES["slices"]) + f" ({len(done)} complete trials)")
    return _save(fig, path)


def plot_curves(summary: SweepSummary, curves: pd.DataFrame, path: Path) -> Path | None:
    info = summary.info
    c = curves[(curves["sweep"] == info.name)] if "sweep" in curves.columns else curves
    if c.empty or "objective" not in c.columns or "timesteps" not in c.columns:
        return None
    c = c.sort_values(["trial", "timesteps"], kind="stable")
    trial = c["trial"].to_numpy()
    xy = c[["timesteps", "objective"]].to_numpy(float)
    starts = np.flatnonzero(np.r_[True, trial[1:] != trial[:-1]])
    pieces = np.split(xy, starts[1:])
    trial_ids = trial[starts]
    states = dict(zip(summary.trials["trial"], summary.trials["state"].astype(str)))
    fig = _figure(9, 4.5)
    ax = fig.subplots()
    styles = [
        (STATE_COMPLETE, 0.35, 0.9),
        (STATE_PRUNED, 0.5, 0.9),
        (STATE_RUNNING, 0.6, 0.9),
        (STATE_INCOMPLETE, 0.6, 0.9),
        (STATE_FAILED, 0.6, 0.9),
        (STATE_CORRUPT, 0.6, 0.9),
    ]
    for state, alpha, lw in styles:
        segs = [pc for pc, t in zip(pieces, trial_ids) if states.get(t) == state]
        if not segs:
            continue
        ax.add_collection(
            LineCollection(
                segs, colors=STATE_COLORS[state], alpha=alpha, linewidths=lw, label=f"{state} ({len(segs)})"
            )
        )
        ends = np.array([pc[-1] for pc in segs])
        if state == STATE_PRUNED:
            ax.scatter(
                ends[:, 0],
                ends[:, 1],
                marker="x",
                s=30,
                color=STATE_COLORS[STATE_PRUNED],
                zorder=3,
                label="pruned here",
            )
        elif state == STATE_COMPLETE:  # a dot at the end: visible even for a one-evaluation curve
            ax.scatter(ends[:, 0], ends[:, 1], s=6, color=STATE_COLORS[STATE_COMPLETE], alpha=0.6, zorder=2)
        else:
            ax.scatter(
                ends[:, 0],
                ends[:, 1],
                marker="o",
                s=12,
                facecolors="none",
                edgecolors=STATE_COLORS[state],
                zorder=3,
            )
    if summary.best is not None:
        best_t = summary.best["trial"]
        for pc, t in zip(pieces, trial_ids):
            if t == best_t:
                ax.plot(pc[:, 0], pc[:, 1], color="k", lw=2.2, label=f"best trial #{int(best_t)}", zorder=4)
    ax.autoscale_view()
    ax.set_xlabel("training timesteps")
    ax.set_ylabel(f"validation {info.objective_metrics[0] if info.objective_metrics else 'objective'}")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.suptitle(_title(summary, TITLES["curves"]) + f" ({len(pieces)} trials)")
    return _save(fig, path)


def plot_val_test(summary: SweepSummary, path: Path, top: int = 5) -> Path | None:
    info = summary.info
    if not info.objective_metrics:
        return None
    val_metric = info.objective_metrics[0]
    test_col = test_metric(val_metric)
    t = summary.trials
    if test_col not in t.columns or val_metric == test_col:
        return None
    pts = t[t["state"].isin([STATE_COMPLETE, STATE_PRUNED])].dropna(subset=["objective", test_col])
    if pts.empty:
        return None
    fig = _figure(6.5, 6.2, top=0.75)
    ax = fig.subplots()
    for state, marker in ((STATE_PRUNED, "x"), (STATE_COMPLETE, "o")):
        m = pts["state"] == state
        if m.any():
            ax.scatter(
                pts.loc[m, "objective"],
                pts.loc[m, test_col],
                s=16,
                marker=marker,
                color=STATE_COLORS[state],
                alpha=0.7,
                label=f"{state} ({int(m.sum())})",
            )
    lo = float(np.nanmin(pts[["objective", test_col]].to_numpy(float)))
    hi = float(np.nanmax(pts[["objective", test_col]].to_numpy(float)))
    ax.plot([lo, hi], [lo, hi], ls="--", color="k", lw=1, label="test = validation")
    bh_val, bh_test = t.get(f"buy_and_hold/{val_metric}"), t.get(f"buy_and_hold/{test_col}")
    if bh_val is not None and bh_test is not None and bh_val.notna().any() and bh_test.notna().any():
        ax.scatter(
            [bh_val.dropna().iloc[0]],
            [bh_test.dropna().iloc[0]],
            marker="*",
            s=200,
            color=BH_COLOR,
            zorder=4,
            label="buy & hold",
        )
    top_rows = summary.top(top)
    for _, r in top_rows.iterrows():
        if pd.notna(r.get(test_col)):
            ax.annotate(
                f"#{int(r['trial'])}",
                (r["objective"], r[test_col]),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=8,
                color=BEST_COLOR,
            )
    if not top_rows.empty:
        ax.scatter(
            top_rows["objective"],
            top_rows[test_col],
            s=40,
            facecolors="none",
            edgecolors=BEST_COLOR,
            zorder=3,
            label=f"top {len(top_rows)} by validation",
        )
    ax.set_xlabel(f"validation: {val_metric} (optimized)")
    ax.set_ylabel(f"test: {test_col} (never seen by the sweep)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    rho = summary.val_test_spearman
    rho_text = f"Spearman rho = {rho:.2f}" if not math.isnan(rho) else "rho n/a"
    fig.suptitle(_title(summary, TITLES["val_test"]) + f"\n{rho_text} over complete trials")
    return _save(fig, path)


def plot_equity(summary: SweepSummary, path: Path, segments: Sequence[str] = ("val", "test")) -> Path | None:
    eq = summary.equity
    if eq is None or summary.best is None:
        return None
    present = [s for s in segments if (eq["segment"] == s).any()]
    if not present:
        return None
    fig = _figure(10, 3.4 * len(present) + 0.8, top=0.75, hspace=0.4)
    axes = fig.subplots(len(present), 1, squeeze=False)[:, 0]
    for ax, seg in zip(axes, present):
        d = eq[eq["segment"] == seg]
        x = d["timestamp"] if "timestamp" in d.columns and d["timestamp"].notna().all() else np.arange(len(d))
        ax.plot(
            x,
            d["agent"],
            color=STATE_COLORS[STATE_COMPLETE],
            lw=1.5,
            label=f"agent (trial #{int(summary.best['trial'])})",
        )
        ax.plot(x, d["buy_and_hold"], color=BH_COLOR, lw=1.2, label="buy & hold")
        if "flat" in d.columns:
            ax.plot(x, d["flat"], color="grey", lw=1, ls="--", label="flat")
        sharpe = summary.best.get(f"{seg}/sharpe")
        bh = summary.best.get(f"buy_and_hold/{seg}/sharpe")
        extra = (
            f" — Sharpe agent {sharpe:.2f}, buy & hold {bh:.2f}" if pd.notna(sharpe) and pd.notna(bh) else ""
        )
        ax.set_title(("validation" if seg == "val" else seg) + extra, fontsize=10, y=1.0, pad=6)
        ax.set_ylabel("equity (start = 1)")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(_title(summary, TITLES["equity"]))
    return _save(fig, path)


def plot_pareto(summary: SweepSummary, path: Path) -> Path | None:
    info = summary.info
    if not info.multi_objective or summary.pareto is None or summary.pareto.empty:
        return None
    c0, c1 = objective_columns(info)[:2]
    done = summary.complete.dropna(subset=[c0, c1])
    front = summary.pareto.sort_values(c0)
    fig = _figure(7, 6)
    ax = fig.subplots()
    ax.scatter(done[c0], done[c1], s=16, color="#aaaaaa", label=f"complete trials ({len(done)})")
    ax.plot(front[c0], front[c1], "-o", color=BEST_COLOR, ms=6, lw=1.5, label=f"Pareto front ({len(front)})")
    if len(front) <= 20:
        for _, r in front.iterrows():
            ax.annotate(
                f"#{int(r['trial'])}", (r[c0], r[c1]), xytext=(4, 4), textcoords="offset points", fontsize=8
            )
    arrows = {"maximize": "→ better", "minimize": "← better"}
    ax.set_xlabel(f"{objective_label(info, 0)} {arrows.get(info.direction(0), '')}")
    ax.set_ylabel(
        f"{objective_label(info, 1)} {'↑ better' if info.direction(1) == 'maximize' else '↓ better'}"
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    more = (
        f" (first 2 of {len(info.objective_metrics)} objectives)" if len(info.objective_metrics) > 2 else ""
    )
    fig.suptitle(_title(summary, TITLES["pareto"]) + more)
    return _save(fig, path)


# --------------------------------------------------------------------------- across sweeps


def plot_comparison(analysis: Analysis, path: Path) -> Path | None:
    sums = [s for s in analysis.sweeps if not s.complete.empty]
    if len(sums) < 2:
        return None
    fig = _figure(max(8, 2.2 * len(sums) + 2), 5.3, bottom=0.8, top=0.8, wspace=0.05)
    axes = fig.subplots(1, 2, sharey=True)
    labels = [f"{s.info.model or '?'}\n{s.name.split('/')[-1]}" for s in sums]
    metrics = {s.info.objective_metrics[0] if s.info.objective_metrics else "objective" for s in sums}
    rng = np.random.default_rng(0)
    for ax, seg in zip(axes, ("val", "test")):
        data, bh = [], []
        for s in sums:
            metric = s.info.objective_metrics[0] if s.info.objective_metrics else "objective"
            col = "objective" if seg == "val" else test_metric(metric)
            values = s.complete[col].dropna().to_numpy(float) if col in s.complete.columns else np.array([])
            data.append(values)
            bh_col = f"buy_and_hold/{metric if seg == 'val' else test_metric(metric)}"
            bh.append(
                float(s.complete[bh_col].dropna().iloc[0])
                if bh_col in s.complete.columns and s.complete[bh_col].notna().any()
                else math.nan
            )
        positions = np.arange(1, len(sums) + 1)
        ax.boxplot(
            [d if len(d) else [np.nan] for d in data], positions=positions, widths=0.5, showfliers=False
        )
        xs = np.concatenate(
            [np.full(len(d), p) + rng.uniform(-0.18, 0.18, len(d)) for p, d in zip(positions, data)]
        )
        ys = np.concatenate(data)
        ax.scatter(xs, ys, s=8, alpha=0.45, color=STATE_COLORS[STATE_COMPLETE], zorder=2)
        for p, s, b in zip(positions, sums, bh):
            if s.best is not None:
                metric = s.info.objective_metrics[0] if s.info.objective_metrics else "objective"
                v = s.best.get("objective" if seg == "val" else test_metric(metric))
                if pd.notna(v):
                    ax.scatter([p], [v], marker="*", s=150, color=BEST_COLOR, zorder=4)
            if not math.isnan(b):
                ax.hlines(b, p - 0.3, p + 0.3, colors=BH_COLOR, linestyles="--", lw=2, zorder=3)
        ax.set_xticks(positions, labels, fontsize=8)
        ax.set_title("validation (optimized)" if seg == "val" else "test (unseen)", y=1.0, pad=6)
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel(" / ".join(sorted(metrics)))
    axes[0].scatter([], [], marker="*", s=100, color=BEST_COLOR, label="best by validation")
    axes[0].plot([], [], ls="--", color=BH_COLOR, label="buy & hold")
    axes[0].legend(loc="best", fontsize=8)
    fig.suptitle(TITLES["comparison"] + f" ({len(sums)} sweeps, complete trials)")
    return _save(fig, path)


# --------------------------------------------------------------------------- all of them


def sweep_plotters(analysis: Analysis) -> dict[str, Callable[[SweepSummary, Path], Path | None]]:
    return {
        "history": plot_history,
        "importance": plot_importance,
        "parallel": plot_parallel,
        "slices": plot_slices,
        "curves": lambda s, p: plot_curves(s, analysis.curves, p),
        "val_test": plot_val_test,
        "equity": plot_equity,
        "pareto": plot_pareto,
    }


_TASK_ANALYSIS: Analysis | None = None  # what forked plotting workers draw from (set by make_plots)
_COST = {"slices": 4, "parallel": 2, "equity": 2, "comparison": 2}  # rough relative drawing cost


def _draw(task: tuple[int, str, str]) -> str | None:
    """Draw one plot of ``_TASK_ANALYSIS`` (sweep index -1: the comparison); runs in a worker."""
    index, kind, path = task
    analysis = _TASK_ANALYSIS
    assert analysis is not None
    if index < 0:
        written = plot_comparison(analysis, Path(path))
    else:
        written = sweep_plotters(analysis)[kind](analysis.sweeps[index], Path(path))
    return None if written is None else str(written)


def _jobs(jobs: int | None, n_tasks: int) -> int:
    if jobs is None:
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(jobs, n_tasks))


def make_plots(analysis: Analysis, out_dir: Path, jobs: int | None = None) -> list[PlotFile]:
    """Every plot of every sweep plus the comparison, as PNGs in ``out_dir``.

    With ``jobs > 1`` (default: the CPUs available) and the fork start method, plots are drawn in
    worker processes that inherit ``analysis``; otherwise one after the other.
    """
    global _TASK_ANALYSIS
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks: list[tuple[int, str, str]] = [
        (i, kind, str(out_dir / f"{slug(s.name)}_{kind}.png"))
        for i, s in enumerate(analysis.sweeps)
        for kind in SWEEP_KINDS
    ]
    tasks.append((-1, "comparison", str(out_dir / "comparison.png")))
    jobs = _jobs(jobs, len(tasks))
    _TASK_ANALYSIS = analysis
    try:
        if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
            by_cost = sorted(range(len(tasks)), key=lambda k: -_COST.get(tasks[k][1], 1))
            with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
                done = dict(zip(by_cost, pool.map(_draw, [tasks[k] for k in by_cost])))
            written = [done[k] for k in range(len(tasks))]
        else:
            written = [_draw(t) for t in tasks]
    finally:
        _TASK_ANALYSIS = None
    files = []
    for (index, kind, _), path in zip(tasks, written):
        if path is not None:
            sweep = None if index < 0 else analysis.sweeps[index].name
            files.append(PlotFile(sweep, kind, Path(path), TITLES[kind]))
    return files
