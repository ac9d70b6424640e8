"""Trading metrics of a per-period series of net returns and positions.

Inputs: ``net_returns[i]`` is the simple return, net of costs, of period ``i``;
``positions[i]`` the position held during period ``i`` (-1, 0 or 1, handled as floats);
``ppy`` is the number of periods per year; ``n`` the number of periods.

Definitions (``r`` = net returns, ``E`` = equity curve, see ``equity_curve``):

- ``total_return``      = E[n] - 1 = prod(1 + r) - 1.
- ``annual_return``     = (1 + total_return) ** (ppy / n) - 1 (CAGR); -1 if equity reaches 0.
  Capped at ``ANNUAL_RETURN_CAP`` so that it stays finite for absurd growth over few periods.
- ``annual_volatility`` = std(r, ddof=1) * sqrt(ppy); 0 when n == 1.
- ``sharpe``            = mean(r) / std(r, ddof=1) * sqrt(ppy) (risk-free rate 0);
  0.0 when std is 0 (constant returns, e.g. always flat) or n == 1.
- ``sortino``           = mean(r) / DD * sqrt(ppy), with the target downside deviation
  DD = sqrt(mean(min(r, 0) ** 2)) over ALL periods (target 0).
- ``max_drawdown``      = max_t (1 - E[t] / max_{s<=t} E[s]) on the curve including E[0] = 1,
  a positive fraction (0.25 = 25 %).
- ``calmar``            = annual_return / max_drawdown.
- ``n_trades``          = number of periods whose position differs from the previous one
  (period 0 compares with ``initial_position``).
- ``turnover``          = sum |delta position| * ppy / n (annualized position turnover,
  including the change from ``initial_position``).
- ``exposure``          = share of periods with a non-zero position.
- ``hit_rate``          = share of in-market periods (position != 0) with r > 0; 0.0 if never in.

Edge-case rules (every output is a finite Python float, so it can go to JSON):

- Ruin is absorbing: the equity curve floors each growth factor 1 + r at 0, so once the
  equity reaches 0 it stays 0 (a short can lose more than 100 % in one period).
- Ratios (``sharpe``, ``sortino``, ``calmar``) are clipped to [-RATIO_CAP, RATIO_CAP].
- ``sortino`` when DD == 0 (no losing period): 0.0 if mean(r) == 0, else +RATIO_CAP.
- ``calmar`` when max_drawdown == 0 (equity never fell): 0.0 if annual_return == 0,
  else +RATIO_CAP.
- Empty input, mismatched lengths, non-finite values or ppy <= 0 raise ValueError.
"""

from __future__ import annotations

import math

import numpy as np

METRIC_NAMES: tuple[str, ...] = (
    "total_return",
    "annual_return",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "n_trades",
    "turnover",
    "exposure",
    "hit_rate",
)

RATIO_CAP: float = 1e3
"""Bound on the absolute value of sharpe, sortino and calmar (a value at the cap means
"no measurable risk"; real strategies are far below it)."""

ANNUAL_RETURN_CAP: float = 1e6
"""Bound on annual_return (1e6 = +100,000,000 % a year), to keep it finite."""


def equity_curve(net_returns: np.ndarray) -> np.ndarray:
    """Equity starting at 1.0 then compounded by each return: len n + 1, floored at 0."""
    r = np.asarray(net_returns, dtype=np.float64)
    growth = np.maximum(1.0 + r, 0.0)
    return np.concatenate(([1.0], np.cumprod(growth)))


def compute_metrics(
    net_returns: np.ndarray,
    positions: np.ndarray,
    periods_per_year: float,
    initial_position: float = 0.0,
) -> dict[str, float]:
    """All metrics of METRIC_NAMES (see the module docstring), as finite Python floats."""
    r, pos = _validate(net_returns, positions, periods_per_year)
    ppy = float(periods_per_year)
    equity = equity_curve(r)
    annual = _annual_return(float(equity[-1]), len(r), ppy)
    mdd = max_drawdown(equity)
    values = {
        "total_return": float(equity[-1]) - 1.0,
        "annual_return": annual,
        "annual_volatility": _std(r) * math.sqrt(ppy),
        "sharpe": sharpe_ratio(r, ppy),
        "sortino": sortino_ratio(r, ppy),
        "max_drawdown": mdd,
        "calmar": _capped_ratio(annual, mdd),
        **_position_metrics(r, pos, ppy, float(initial_position)),
    }
    return {name: float(values[name]) for name in METRIC_NAMES}


def max_drawdown(equity: np.ndarray) -> float:
    """Largest fall from a running peak, as a positive fraction of the peak."""
    peaks = np.maximum.accumulate(equity)  # >= equity[0] = 1.0, never 0
    return float(np.max(1.0 - equity / peaks))


def sharpe_ratio(net_returns: np.ndarray, periods_per_year: float) -> float:
    """Annualized Sharpe ratio (risk-free 0); 0.0 for zero variance or a single period."""
    std = _std(net_returns)
    if std == 0.0:
        return 0.0
    return _clip(float(np.mean(net_returns)) / std * math.sqrt(periods_per_year))


def sortino_ratio(net_returns: np.ndarray, periods_per_year: float) -> float:
    """Annualized Sortino ratio with the target (0) downside deviation over all periods."""
    downside = float(np.sqrt(np.mean(np.minimum(net_returns, 0.0) ** 2)))
    return _capped_ratio(float(np.mean(net_returns)) * math.sqrt(periods_per_year), downside)


def _validate(
    net_returns: np.ndarray, positions: np.ndarray, periods_per_year: float
) -> tuple[np.ndarray, np.ndarray]:
    """Check the inputs and return them as 1-D float64 arrays."""
    r = np.asarray(net_returns, dtype=np.float64).reshape(-1)
    pos = np.asarray(positions, dtype=np.float64).reshape(-1)
    if r.size == 0:
        raise ValueError("compute_metrics needs at least one period, got an empty series")
    if r.shape != pos.shape:
        raise ValueError(f"net_returns ({r.size}) and positions ({pos.size}) differ in length")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(pos))):
        raise ValueError("net_returns and positions must be finite")
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError(f"periods_per_year must be a positive number, got {periods_per_year}")
    return r, pos


def _std(r: np.ndarray) -> float:
    """Sample standard deviation (ddof=1); exactly 0 for constant or single-period series."""
    if r.size < 2 or np.ptp(r) == 0.0:
        return 0.0
    return float(np.std(r, ddof=1))


def _annual_return(final_equity: float, n: int, ppy: float) -> float:
    """Compound annual growth rate of the equity curve, -1 on ruin, capped above."""
    if final_equity <= 0.0:
        return -1.0
    log_growth = min(math.log(final_equity) * ppy / n, math.log1p(ANNUAL_RETURN_CAP))
    return math.expm1(log_growth)


def _position_metrics(r: np.ndarray, pos: np.ndarray, ppy: float, initial: float) -> dict[str, float]:
    """n_trades, turnover, exposure and hit_rate."""
    changes = np.abs(np.diff(pos, prepend=initial))
    in_market = pos != 0.0
    n_in = int(np.count_nonzero(in_market))
    hits = int(np.count_nonzero(r[in_market] > 0.0))
    return {
        "n_trades": float(np.count_nonzero(changes)),
        "turnover": float(np.sum(changes)) * ppy / r.size,
        "exposure": n_in / r.size,
        "hit_rate": hits / n_in if n_in else 0.0,
    }


def _capped_ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator clipped to +-RATIO_CAP; 0/0 -> 0, x/0 -> sign(x) * RATIO_CAP."""
    if denominator == 0.0:
        return 0.0 if numerator == 0.0 else math.copysign(RATIO_CAP, numerator)
    return _clip(numerator / denominator)


def _clip(value: float) -> float:
    """Clip a ratio to [-RATIO_CAP, RATIO_CAP]."""
    return max(-RATIO_CAP, min(RATIO_CAP, value))


MEMORIZED_MARGIN = 0.5
"""Sharpe that an agent must lose from train to validation beyond what the reference policy loses
(on top of beating the reference on train) for the run's summary and the report to call it
memorization: about half the
seed-to-seed spread of one segment's Sharpe ratio here (docs/benchmarks.md), so noise alone rarely
passes it."""


def memorized(metrics: dict[str, float], reference: dict[str, float]) -> bool:
    """The agent beats the reference on its training bars and that lead does not carry to validation."""
    gap = metrics["train/sharpe"] - metrics["val/sharpe"]
    ref_gap = reference["train/sharpe"] - reference["val/sharpe"]
    return metrics["train/sharpe"] > reference["train/sharpe"] and gap - ref_gap > MEMORIZED_MARGIN
