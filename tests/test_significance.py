"""The deflated Sharpe ratio and the probability of backtest overfitting, against their papers'
worked values, a plain-loop implementation and simulations whose answer is known."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from scipy.stats import norm

from analysis.significance import (
    backtest_overfitting,
    deflated_sharpe,
    expected_max_sharpe,
    per_bar_sharpe,
    probabilistic_sharpe,
    splits_for,
)


def test_the_deflated_sharpe_papers_numerical_example():
    """Bailey & López de Prado (2014): 100 trials whose annualized Sharpe ratios have variance 1/2,
    the best at 2.5 annualized over 1,250 daily returns (250 a year) with skewness -3 and kurtosis 10:
    SR0 = 0.1132 per day and DSR = 0.9004."""
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    assert probabilistic_sharpe(2.5 / math.sqrt(250), sr0, 1250, -3.0, 10.0) == pytest.approx(0.9004, abs=5e-5)


def test_the_expected_maximum_matches_simulation():
    """The paper's approximation of E[max] of N normal draws: within 1 % from 100 trials up (about
    2 % high at 10 trials, where it errs on the side of caution)."""
    rng = np.random.default_rng(0)
    for n, tolerance in ((10, 0.03), (100, 0.01), (1000, 0.01)):
        simulated = rng.normal(0.0, 0.2, size=(5000, n)).max(axis=1).mean()
        assert expected_max_sharpe(n, 0.04) == pytest.approx(simulated, rel=tolerance)
    assert expected_max_sharpe(1, 0.04) == 0.0


def test_the_deflated_sharpe_of_returns_is_the_psr_of_their_moments():
    rng = np.random.default_rng(1)
    best = rng.standard_t(5, 500) * 0.01 + 0.001
    sharpes = rng.normal(0.0, 0.05, 40)
    d = deflated_sharpe(best, sharpes)
    mean, std = best.mean(), best.std(ddof=1)
    centred = best - mean
    g3 = (centred ** 3).mean() / (centred ** 2).mean() ** 1.5
    g4 = (centred ** 4).mean() / (centred ** 2).mean() ** 2
    sr0 = math.sqrt(sharpes.var(ddof=1)) * ((1 - 0.5772156649015329) * norm.ppf(1 - 1 / 40)
                                            + 0.5772156649015329 * norm.ppf(1 - 1 / (40 * math.e)))
    z = (mean / std - sr0) * math.sqrt(499) / math.sqrt(1 - g3 * mean / std + (g4 - 1) / 4 * (mean / std) ** 2)
    assert (d.sharpe, d.benchmark, d.skewness, d.kurtosis) == pytest.approx((mean / std, sr0, g3, g4), rel=1e-9)
    assert d.dsr == pytest.approx(norm.cdf(z), rel=1e-9)
    assert d.n_trials == 40 and d.n_obs == 500


def _pbo_loop(m: np.ndarray, s: int) -> float:
    """CSCV as the paper states it, one split at a time."""
    t, n = m.shape
    size = t // s
    m = m[t - size * s:]
    blocks = [m[i * size:(i + 1) * size] for i in range(s)]
    below = 0
    splits = list(combinations(range(s), s // 2))
    for inside in splits:
        is_rows = np.vstack([blocks[i] for i in inside])
        oos_rows = np.vstack([blocks[i] for i in range(s) if i not in inside])
        is_sr = [per_bar_sharpe(is_rows[:, j]) for j in range(n)]
        oos_sr = [per_bar_sharpe(oos_rows[:, j]) for j in range(n)]
        best = int(np.argmax(is_sr))
        rank = 1 + sum(oos_sr[j] < oos_sr[best] for j in range(n))
        w = rank / (n + 1)
        below += math.log(w / (1 - w)) <= 0
    return below / len(splits)


def test_cscv_equals_a_plain_loop():
    rng = np.random.default_rng(2)
    m = rng.normal(0.0005, 0.01, size=(123, 7))
    assert backtest_overfitting(m, n_splits=6).pbo == pytest.approx(_pbo_loop(m, 6), abs=1e-12)


def test_a_trial_better_on_every_bar_is_never_overfit_and_a_reversing_one_always_is():
    rng = np.random.default_rng(3)
    noise = rng.normal(0.0, 0.01, size=(160, 5))
    dominant = noise.copy()
    dominant[:, 0] = np.abs(noise[:, 0]) + 0.02
    assert backtest_overfitting(dominant, n_splits=8).pbo == 0.0
    # Block means that cancel: whichever half is in-sample, the other half has the opposite mean, so
    # the trial best in-sample is the worst out of sample.
    means = rng.normal(0.0, 0.01, 8)
    means -= means.mean()
    x = np.repeat(means, 20) + rng.normal(0.0, 1e-4, 160)
    reversing = np.column_stack([x, -x])
    assert backtest_overfitting(reversing, n_splits=8).pbo == 1.0


def test_pure_noise_overfits_half_of_the_time():
    rng = np.random.default_rng(4)
    pbos = [backtest_overfitting(rng.normal(0.0, 0.01, size=(320, 30)), n_splits=8).pbo for _ in range(20)]
    assert np.mean(pbos) == pytest.approx(0.5, abs=0.1)


def test_short_series_get_fewer_blocks():
    assert splits_for(1000) == 16 and splits_for(100) == 10 and splits_for(30) == 2
    with pytest.raises(ValueError, match="at least 2 trials"):
        backtest_overfitting(np.zeros((100, 1)))
