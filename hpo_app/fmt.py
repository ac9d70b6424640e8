"""Numbers for people, the same in the run's log, the sweep's lines and the report.

- ratios (Sharpe, Sortino, Calmar): 2 decimals, ``0.88``;
- returns, drawdowns, volatility, exposure, hit rate: percent with 1 decimal, ``-31.9%``;
- trade counts: integers; turnover (position changes per year): 1 decimal;
- anything else: 4 significant digits.

A metric is named by its last part (``val/sharpe``, ``buy_and_hold/test/max_drawdown``). Paths
are shown relative to the working directory when inside it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

RATIOS = frozenset({"sharpe", "sortino", "calmar"})
PERCENTS = frozenset({"total_return", "annual_return", "annual_volatility", "max_drawdown", "exposure", "hit_rate"})
COUNTS = frozenset({"n_trades", "trades"})


NAMES = {"sharpe": "Sharpe", "sortino": "Sortino", "calmar": "Calmar", "total_return": "total return",
         "annual_return": "annual return", "max_drawdown": "max drawdown"}


def label(metric: str) -> str:
    """A metric's name for people: ``val/sharpe`` -> ``Sharpe``."""
    name = metric.rsplit("/", 1)[-1]
    return NAMES.get(name, name.replace("_", " "))


def kind(metric: str) -> str:
    """``ratio``, ``percent``, ``count``, ``turnover`` or ``number``."""
    name = metric.rsplit("/", 1)[-1]
    if name in RATIOS:
        return "ratio"
    if name in PERCENTS:
        return "percent"
    if name in COUNTS:
        return "count"
    if name == "turnover":
        return "turnover"
    return "number"


def metric(name: str, value: float | None) -> str:
    """``value`` of metric ``name`` for people; a missing or non-finite value is ``–``."""
    if value is None:
        return "–"
    value = float(value)
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    k = kind(name)
    if k == "ratio":
        return f"{value:.2f}"
    if k == "percent":
        return f"{100 * value:.1f}%"
    if k == "count":
        return str(int(round(value)))
    if k == "turnover":
        return f"{value:.1f}"
    return f"{value:.4g}"


def path(value: str | os.PathLike[str]) -> str:
    """A path as a user would type it: relative to the working directory when inside it."""
    p = Path(value)
    try:
        return str(p.relative_to(Path.cwd())) if p.is_absolute() else str(p)
    except ValueError:
        return str(p)
