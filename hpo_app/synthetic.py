"""Synthetic markets: a regime-switching series (bull, bear, choppy, crisis) and the planted-edge
market whose returns a known policy can predict. Both return :mod:`hpo_app.data`'s standard frame
and raise its :class:`~hpo_app.data.DataError` in one line for bad arguments.
"""

from __future__ import annotations

import bisect

import numpy as np
import pandas as pd

from hpo_app.data import SYNTHETIC_WHERE, data_error, finish_frame

# Regimes: bull trend, bear trend, choppy (mean-reverting), crisis (high volatility).
_REGIME_NAMES = ("bull", "bear", "choppy", "crisis")
_DRIFT = (0.0007, -0.0008, 0.0, -0.0020)        # log return per bar
_VOL = (0.008, 0.013, 0.007, 0.026)             # long-run volatility per bar
_REVERSION = (0.0, 0.0, 0.06, 0.0)              # OU pull towards the slow level per bar
_LEVEL_SPEED = 0.01                             # slow level: EWMA of log price (~100 bars)
_GARCH_ALPHA, _GARCH_BETA = 0.08, 0.90          # unit-variance GARCH(1,1) multiplier
_TRANSITIONS = np.array([
    # to: bull   bear   choppy crisis     expected stay (bars)
    [0.990, 0.004, 0.004, 0.002],       # bull    ~100
    [0.007, 0.983, 0.006, 0.004],       # bear    ~60
    [0.005, 0.003, 0.990, 0.002],       # choppy  ~100
    [0.012, 0.020, 0.008, 0.960],       # crisis  ~25
])
_INITIAL = np.array([0.4, 0.2, 0.3, 0.1])
_START_PRICE = 100.0
_BASE_VOLUME = 1.0e6


def _sample_regimes(n_bars: int, rng: np.random.Generator) -> np.ndarray:
    """A path of the hidden Markov chain over regimes."""
    cumulative = np.cumsum(_TRANSITIONS, axis=1).tolist()
    last = len(_REGIME_NAMES) - 1
    state = int(rng.choice(len(_REGIME_NAMES), p=_INITIAL))
    draws = rng.random(n_bars).tolist()
    path = [0] * n_bars
    for t, u in enumerate(draws):
        path[t] = state
        state = min(bisect.bisect_right(cumulative[state], u), last)
    return np.asarray(path, dtype=np.int64)


def _simulate_returns(regimes: np.ndarray, shocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Close-to-close log returns and their conditional volatility (GARCH x regime + OU)."""
    n_bars = len(regimes)
    returns, sigmas = [0.0] * n_bars, [0.0] * n_bars
    omega = 1.0 - _GARCH_ALPHA - _GARCH_BETA
    h, last_shock2, x, level = 1.0, 1.0, 0.0, 0.0
    for t, (k, z) in enumerate(zip(regimes.tolist(), shocks.tolist())):
        h = omega + _GARCH_ALPHA * last_shock2 + _GARCH_BETA * h
        sigma = _VOL[k] * h ** 0.5
        r = _DRIFT[k] - _REVERSION[k] * (x - level) + sigma * z
        x += r
        level += _LEVEL_SPEED * (x - level)
        last_shock2 = h * z * z
        returns[t], sigmas[t] = r, sigma
    return np.asarray(returns), np.asarray(sigmas)


def synthetic_prices(n_bars: int, seed: int, start: str = "2010-01-04") -> pd.DataFrame:
    """Seeded regime-switching OHLCV series on business days.

    A hidden Markov chain switches between bull, bear, choppy (Ornstein-Uhlenbeck around a slowly
    moving level) and crisis regimes; volatility clusters (GARCH(1,1)); volume rises with volatility.
    """
    if n_bars < 2:
        raise data_error(SYNTHETIC_WHERE, f"n_bars must be at least 2 (got {n_bars})")
    rng = np.random.default_rng(seed)
    regimes = _sample_regimes(n_bars, rng)
    returns, sigma = _simulate_returns(regimes, rng.standard_normal(n_bars))
    close = _START_PRICE * np.exp(np.cumsum(returns))
    prev_close = np.concatenate(([_START_PRICE], close[:-1]))
    open_ = prev_close * np.exp(0.25 * sigma * rng.standard_normal(n_bars))
    body_high, body_low = np.maximum(open_, close), np.minimum(open_, close)
    high = body_high * np.exp(0.6 * sigma * np.abs(rng.standard_normal(n_bars)))
    low = body_low * np.exp(-0.6 * sigma * np.abs(rng.standard_normal(n_bars)))
    volume = np.round(_BASE_VOLUME * (sigma / 0.01) ** 1.2 * np.exp(0.3 * rng.standard_normal(n_bars)))
    try:
        index = pd.bdate_range(start=start, periods=n_bars)
    except (ValueError, OverflowError) as exc:
        raise data_error(SYNTHETIC_WHERE, f"cannot build {n_bars} business days from {start!r} ({exc})") from exc
    columns = {"open": open_, "high": high, "low": low, "close": close, "volume": np.maximum(volume, 1.0)}
    return finish_frame(index, columns)


REGIME_SWITCH = 1 / 40  # regimes: the chance per bar that the drift changes sign (weeks on end)


def edge_prices(n_bars: int, seed: int, edge: float, vol: float, shape: str = "momentum", lag: int = 5,
                start: str = "2010-01-04") -> pd.DataFrame:
    """A market with a known, tunable edge of one of several shapes, daily log returns scaled so
    their standard deviation is ``vol`` whatever the edge:

    - ``momentum``: AR(1), ``r[t] = edge * r[t-1] + e[t]``: the sign of the last return predicts the next;
    - ``reversal``: AR(1) with ``-edge``: the last return's sign predicts the next one's opposite;
    - ``lag``: ``r[t] = edge * r[t-lag] + e[t]``: an effect ``lag`` bars later;
    - ``regimes``: a drift of ``+-edge * vol`` per bar whose sign switches with probability 1/40 per
      bar (regimes of weeks), plus noise.

    ``edge=0`` is a driftless random walk: nothing to learn. Each shape has its causal reference
    policy (``reference.reference_positions``), whose Sharpe after costs is the bar a tuned agent
    should approach.
    """
    if n_bars < 2:
        raise data_error(SYNTHETIC_WHERE, f"n_bars must be at least 2 (got {n_bars})")
    if not -1.0 < edge < 1.0:
        raise data_error(SYNTHETIC_WHERE, f"edge must be in (-1, 1) (got {edge})")
    if not vol > 0:
        raise data_error(SYNTHETIC_WHERE, f"vol must be > 0 (got {vol})")
    rng = np.random.default_rng(seed)
    shocks = rng.standard_normal(n_bars) * vol * (1.0 - edge * edge) ** 0.5
    if shape == "regimes":
        returns = _regime_returns(rng, shocks, edge * vol)
    else:
        coefficient, delay = {"momentum": (edge, 1), "reversal": (-edge, 1), "lag": (edge, lag)}[shape]
        returns = _ar_returns(rng, shocks, coefficient, delay, vol)
    close = _START_PRICE * np.exp(np.cumsum(returns))
    prev_close = np.concatenate(([_START_PRICE], close[:-1]))
    wiggle = vol * np.abs(rng.standard_normal((2, n_bars)))
    columns = {"open": prev_close, "high": np.maximum(prev_close, close) * np.exp(0.5 * wiggle[0]),
               "low": np.minimum(prev_close, close) * np.exp(-0.5 * wiggle[1]), "close": close,
               "volume": np.round(_BASE_VOLUME * np.exp(0.3 * rng.standard_normal(n_bars)))}
    return finish_frame(pd.bdate_range(start=start, periods=n_bars), columns)


def _ar_returns(rng: np.random.Generator, shocks: np.ndarray, coefficient: float, delay: int,
                vol: float) -> np.ndarray:
    """``r[t] = coefficient * r[t-delay] + shock[t]``, started from the stationary distribution."""
    history = list((rng.standard_normal(delay) * vol).tolist())  # draws from the stationary distribution
    returns = np.empty(len(shocks))
    for t, e in enumerate(shocks.tolist()):
        value = coefficient * history[-delay] + e
        history.append(value)
        returns[t] = value
    return returns


def _regime_returns(rng: np.random.Generator, shocks: np.ndarray, drift: float) -> np.ndarray:
    switches = rng.random(len(shocks)) < REGIME_SWITCH
    sign = np.where(np.cumsum(switches) % 2 == 0, 1.0, -1.0) * (1.0 if rng.random() < 0.5 else -1.0)
    return sign * drift + shocks
