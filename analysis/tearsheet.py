"""A tearsheet of the chosen agent (the sweep's recommendation, or its best trial without one): on
validation and test, beside buy-and-hold, its drawdown below the running peak (underwater curve), its
rolling Sharpe ratio, its monthly returns and its exposure over time.

The statistics are empyrical's (``empyrical-reloaded``: ``cum_returns``, ``roll_sharpe_ratio``,
``aggregate_returns``), the returns those of the job's ``equity.csv`` (net of costs, as every metric
of the run; ``tests/test_tearsheet.py`` checks empyrical's Sharpe ratio and drawdown against
``hpo_app.metrics``); matplotlib draws them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .job_files import read_equity
from .tables import SweepSummary

ROLLING_BARS = 63  # about a quarter of daily bars
SEGMENTS = ("val", "test")
WHO = (("agent", "#1f77b4", "-"), ("buy_and_hold", "#2ca02c", "--"))


def chosen_equity(summary: SweepSummary) -> tuple[pd.DataFrame | None, str]:
    """The chosen agent's equity frame and its label: the recommended trial's, or the best trial's."""
    decision = summary.sweep.confirmation
    if decision is not None:
        row = next((r for r in decision["candidates"] if r["label"] == decision["recommended"]), None)
        trial = row["trial"] if row is not None else None
        rows = summary.trials[summary.trials["trial"] == trial] if trial is not None else summary.trials.iloc[:0]
        if len(rows) and isinstance(rows["job_dir"].iloc[0], str):
            frame = read_equity(rows["job_dir"].iloc[0])
            if frame is not None:
                what = "the control" if decision["recommended"] == "control" else decision["recommended"]
                return frame, f"the recommended agent ({what}, trial #{int(trial)})"
    if summary.best is not None:
        return summary.equity, f"the best trial (#{int(summary.best['trial'])})"
    return None, ""


def returns(frame: pd.DataFrame, segment: str, who: str) -> pd.Series:
    """Per-bar net returns of ``who`` on ``segment``, indexed by the bar they end on."""
    d = frame[frame["segment"] == segment]
    equity = pd.Series(d[who].to_numpy(dtype=float), index=pd.DatetimeIndex(d["timestamp"]))
    return (equity / equity.shift(1) - 1.0).iloc[1:]


def panels(frame: pd.DataFrame, segment: str, ppy: float) -> dict[str, dict[str, pd.Series]]:
    """Per panel (underwater, rolling Sharpe, monthly returns), per policy, the series to draw."""
    import empyrical as ep

    out: dict[str, dict[str, pd.Series]] = {"underwater": {}, "rolling": {}, "monthly": {}}
    for who, _, _ in WHO:
        r = returns(frame, segment, who)
        wealth = ep.cum_returns(r, starting_value=1.0)
        out["underwater"][who] = wealth / wealth.cummax() - 1.0
        out["rolling"][who] = pd.Series(ep.roll_sharpe_ratio(r, ROLLING_BARS, annualization=ppy), index=r.index[ROLLING_BARS - 1:]) \
            if len(r) >= ROLLING_BARS else pd.Series(dtype=float)
        out["monthly"][who] = ep.aggregate_returns(r, "monthly")
    return out


def plot_tearsheet(summary: SweepSummary, path: Path, save: Callable[[Any, Path, str], Path],
                   title: Callable[[str], str]) -> Path | None:
    """The tearsheet's figure; ``save(fig, path, title)`` and ``title(what)`` are the report's."""
    import matplotlib.pyplot as plt

    frame, label = chosen_equity(summary)
    if frame is None or "timestamp" not in frame.columns or frame["timestamp"].isna().any():
        return None
    segments = [s for s in SEGMENTS if (frame["segment"] == s).sum() > 2]
    if not segments:
        return None
    ppy = summary.sweep.periods_per_year or 252.0
    fig, axes = plt.subplots(4, len(segments), figsize=(6.5 * len(segments), 11), squeeze=False)
    for col, segment in enumerate(segments):
        data = panels(frame, segment, ppy)
        d = frame[frame["segment"] == segment]
        top, roll, month, exposure = axes[:, col]
        for who, color, style in WHO:
            top.fill_between(data["underwater"][who].index, data["underwater"][who].to_numpy() * 100, 0,
                             color=color, alpha=0.25 if who == "agent" else 0.1, step="post")
            top.plot(data["underwater"][who].index, data["underwater"][who].to_numpy() * 100, color=color, ls=style,
                     lw=1, label=who.replace("_", " "))
            if not data["rolling"][who].empty:
                roll.plot(data["rolling"][who].index, data["rolling"][who].to_numpy(), color=color, ls=style, lw=1)
        top.set_title(f"{segment}: drawdown below the running peak (%)", fontsize=10)
        top.legend(fontsize=8, loc="lower left")
        roll.axhline(0, color="k", lw=0.6)
        roll.set_title(f"{segment}: rolling Sharpe ratio ({ROLLING_BARS} bars)", fontsize=10)
        monthly = pd.DataFrame(data["monthly"])
        x = np.arange(len(monthly))
        for k, (who, color, _) in enumerate(WHO):
            month.bar(x + (k - 0.5) * 0.4, monthly[who].to_numpy() * 100, width=0.4, color=color,
                      label=who.replace("_", " "))
        month.set_xticks(x[:: max(1, len(x) // 8)], [f"{y}-{m:02d}" for y, m in monthly.index][:: max(1, len(x) // 8)],
                         fontsize=7, rotation=30)
        month.set_title(f"{segment}: monthly returns (%)", fontsize=10)
        month.legend(fontsize=8)
        held = pd.Series(d["position"].to_numpy(dtype=float), index=pd.DatetimeIndex(d["timestamp"])).dropna()
        exposure.plot(held.index, held.abs().rolling(20, min_periods=1).mean().to_numpy() * 100, color=WHO[0][1], lw=1)
        exposure.set_ylim(-5, 105)
        exposure.set_title(f"{segment}: exposure, share of the last 20 bars in the market (%)", fontsize=10)
        for ax in (top, roll, exposure):
            ax.tick_params(labelsize=7)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save(fig, path, title(f"Tearsheet of {label}"))
