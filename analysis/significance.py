"""Is the best trial's edge distinguishable from the luck of picking the best of N?

Two statistics, from their papers' definitions:

- **Deflated Sharpe ratio** (Bailey & López de Prado, "The Deflated Sharpe Ratio: Correcting for
  Selection Bias, Backtest Overfitting and Non-Normality", J. Portfolio Management 40(5), 2014):
  the probabilistic Sharpe ratio of the selected trial against the Sharpe ratio that the best of
  N trials with no skill would show,

      SR0 = sqrt(V[SR_n]) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e))),  g = Euler's constant,
      DSR = Z( (SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurtosis - 1) / 4 * SR^2) ),

  with every Sharpe ratio per bar (not annualized), SR, skew and kurtosis (not excess) of the
  selected trial's T validation returns, and V[SR_n] the variance of the N trials' Sharpe ratios.
  DSR >= 0.95: the edge is significant at 5 % after the selection.
- **Probability of backtest overfitting** (Bailey, Borwein, López de Prado & Zhu, "The Probability
  of Backtest Overfitting", J. Computational Finance 20(4), 2017), by combinatorially symmetric
  cross-validation: the T x N matrix of the trials' validation returns is cut into S blocks of rows;
  for each of the C(S, S/2) ways to pick half of them as in-sample (the rest out-of-sample), the
  trial with the best in-sample Sharpe ratio is ranked among all N out of sample; with w its
  relative rank (rank / (N + 1)) and the logit l = ln(w / (1 - w)), PBO is the share of splits with
  l <= 0: how often the in-sample winner is at or below the out-of-sample median.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np

EULER_GAMMA = 0.5772156649015329
SIGNIFICANCE = 0.95
"""DSR at or above this: the edge is significant at 5 %."""


def per_bar_sharpe(returns: np.ndarray) -> float:
    """Mean over sample standard deviation of per-bar returns (0 for a constant series)."""
    r = np.asarray(returns, dtype=np.float64)
    std = float(r.std(ddof=1)) if r.size > 1 else 0.0
    return float(r.mean()) / std if std > 0 else 0.0


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """SR0: the expected maximum of ``n_trials`` Sharpe ratios with no skill and this variance."""
    if n_trials < 2 or variance <= 0:
        return 0.0
    from scipy.stats import norm  # here: scipy.stats takes most of a second to import

    z = (1 - EULER_GAMMA) * norm.ppf(1 - 1 / n_trials) + EULER_GAMMA * norm.ppf(1 - 1 / (n_trials * math.e))
    return math.sqrt(variance) * float(z)


def probabilistic_sharpe(sr: float, benchmark: float, n_obs: int, skewness: float, kurt: float) -> float:
    """PSR: the probability that the true Sharpe ratio exceeds ``benchmark`` (per bar), given
    ``n_obs`` returns with this skewness and (non-excess) kurtosis."""
    denominator = 1 - skewness * sr + (kurt - 1) / 4 * sr * sr
    if n_obs < 2 or denominator <= 0:
        return math.nan
    from scipy.stats import norm

    return float(norm.cdf((sr - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(denominator)))


@dataclass(frozen=True)
class Deflated:
    dsr: float
    sharpe: float  # per bar
    benchmark: float  # SR0, per bar
    n_trials: int
    variance: float  # of the trials' per-bar Sharpe ratios
    n_obs: int
    skewness: float
    kurtosis: float

    @property
    def significant(self) -> bool:
        return self.dsr >= SIGNIFICANCE


def deflated_sharpe(best_returns: np.ndarray, trial_sharpes: np.ndarray) -> Deflated:
    """The DSR of the selected trial (its validation returns) among the trials' Sharpe ratios."""
    from scipy.stats import kurtosis, skew

    r = np.asarray(best_returns, dtype=np.float64)
    sharpes = np.asarray(trial_sharpes, dtype=np.float64)
    variance = float(sharpes.var(ddof=1)) if sharpes.size > 1 else 0.0
    sr = per_bar_sharpe(r)
    sr0 = expected_max_sharpe(int(sharpes.size), variance)
    g3 = float(skew(r)) if r.size > 2 and r.std() > 0 else 0.0
    g4 = float(kurtosis(r, fisher=False)) if r.size > 3 and r.std() > 0 else 3.0
    return Deflated(probabilistic_sharpe(sr, sr0, int(r.size), g3, g4), sr, sr0, int(sharpes.size), variance,
                    int(r.size), g3, g4)


@dataclass(frozen=True)
class Overfitting:
    pbo: float
    logits: np.ndarray  # one per split
    n_splits: int  # S blocks
    n_trials: int  # N
    n_obs: int  # T used (a multiple of S)

    @property
    def n_combinations(self) -> int:
        return len(self.logits)


def backtest_overfitting(returns: np.ndarray, n_splits: int = 16) -> Overfitting:
    """PBO by CSCV over ``returns`` (T x N: a column per trial). The rows are cut into ``n_splits``
    (even) blocks of equal length; rows left over at the start are dropped (the latest are kept)."""
    m = np.asarray(returns, dtype=np.float64)
    t, n = m.shape
    if n_splits < 2 or n_splits % 2:
        raise ValueError(f"n_splits must be even and >= 2 (got {n_splits})")
    size = t // n_splits
    if n < 2 or size < 2:
        raise ValueError(f"needs at least 2 trials and 2 rows per block (got {n} trials, {t} rows, {n_splits} blocks)")
    m = m[t - size * n_splits:]
    blocks = m.reshape(n_splits, size, n)
    sums, squares = blocks.sum(axis=1), (blocks ** 2).sum(axis=1)  # S x N
    combos = np.array(list(combinations(range(n_splits), n_splits // 2)))
    inside = np.zeros((len(combos), n_splits), dtype=bool)
    inside[np.arange(len(combos))[:, None], combos] = True
    count = size * n_splits // 2
    is_sr = _sharpe_from_sums(inside @ sums, inside @ squares, count)  # C x N
    oos_sr = _sharpe_from_sums(~inside @ sums, ~inside @ squares, count)
    best = is_sr.argmax(axis=1)
    chosen = oos_sr[np.arange(len(combos)), best]
    rank = (oos_sr < chosen[:, None]).sum(axis=1) + 1  # 1: worst out of sample, N: best
    w = rank / (n + 1)
    logits = np.log(w / (1 - w))
    return Overfitting(float(np.mean(logits <= 0)), logits, n_splits, n, size * n_splits)


def _sharpe_from_sums(total: np.ndarray, squares: np.ndarray, count: int) -> np.ndarray:
    mean = total / count
    var = np.maximum(squares - count * mean * mean, 0.0) / (count - 1)
    std = np.sqrt(var)
    return np.divide(mean, std, out=np.zeros_like(mean), where=std > 0)


def splits_for(n_obs: int, preferred: int = 16, min_rows: int = 10) -> int:
    """The even number of blocks to use: ``preferred``, fewer when the series is short."""
    s = preferred
    while s > 2 and n_obs // s < min_rows:
        s -= 2
    return s


def dsr_verdict(d: Deflated, annualize: float) -> str:
    sharpe, bar = d.sharpe * annualize, d.benchmark * annualize
    inputs = (f"the best trial's validation Sharpe {sharpe:.2f} (annualized, {d.n_obs} bars) against {bar:.2f}, "
              f"what the best of {d.n_trials} trials with no skill would show given how their Sharpe ratios spread")
    if math.isnan(d.dsr):
        return f"Deflated Sharpe ratio: not defined for these returns ({inputs})."
    if d.significant:
        return f"Deflated Sharpe ratio {d.dsr:.2f} >= 0.95: significant at 5 % after the selection; {inputs}."
    return (f"Deflated Sharpe ratio {d.dsr:.2f} < 0.95: not distinguishable from the luck of picking the best of "
            f"{d.n_trials}; {inputs}.")


def pbo_verdict(o: Overfitting) -> str:
    inputs = f"{o.n_trials} complete trials, {o.n_obs} validation bars in {o.n_splits} blocks, {o.n_combinations} splits"
    share = f"in {o.pbo:.0%} of the splits the trial best on one half of the bars is at or below the median on the other"
    if o.pbo > 0.5:
        word = f"the selection overfits: {share}"
    elif o.pbo > 0.2:
        word = f"the selection is unstable: {share}"
    else:
        word = f"the selection mostly holds: {share}"
    return f"Probability of backtest overfitting {o.pbo:.2f}: {word} ({inputs})."
