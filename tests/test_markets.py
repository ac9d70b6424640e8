"""The family of planted-edge markets (``data.shape``): each generator plants the effect it says, and
each reference policy is causal, matches a plain loop, and earns the planted edge."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_app.metrics import compute_metrics
from hpo_app.schema import SHAPES
from hpo_app.synthetic import REGIME_SWITCH, edge_prices
from hpo_app.reference import reference_positions
from hpo_app.trading_env import positions_record

EDGE, VOL, N = 0.3, 0.01, 20000


def _returns(shape: str, seed: int = 1, edge: float = EDGE) -> np.ndarray:
    return np.diff(np.log(edge_prices(N, seed, edge, VOL, shape=shape, lag=5)["close"].to_numpy()))


def _autocorrelation(r: np.ndarray, lag: int) -> float:
    return float(np.corrcoef(r[:-lag], r[lag:])[0, 1])


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_keeps_the_volatility(shape: str) -> None:
    assert np.std(_returns(shape)) == pytest.approx(VOL, rel=0.05)


def test_each_shape_plants_its_effect() -> None:
    assert _autocorrelation(_returns("momentum"), 1) == pytest.approx(EDGE, abs=0.03)
    assert _autocorrelation(_returns("reversal"), 1) == pytest.approx(-EDGE, abs=0.03)
    lagged = _returns("lag")
    assert _autocorrelation(lagged, 5) == pytest.approx(EDGE, abs=0.03)
    assert abs(_autocorrelation(lagged, 1)) < 0.03
    # Persistent drifts: 40-bar sums vary more than 40 independent returns would (variance ratio).
    assert _variance_ratio(_returns("regimes"), 40) > 1.5
    assert _variance_ratio(_returns("regimes", edge=0.0), 40) == pytest.approx(1.0, abs=0.25)


def _variance_ratio(r: np.ndarray, k: int) -> float:
    sums = np.add.reduceat(r[: len(r) // k * k], np.arange(0, len(r) // k * k, k))
    return float(np.var(sums) / (k * np.var(r)))


def test_momentum_is_the_market_of_before() -> None:
    # The default shape draws exactly the series data=edge always drew (same seed, same bars).
    rng = np.random.default_rng(4)
    shocks = rng.standard_normal(50) * VOL * (1.0 - EDGE * EDGE) ** 0.5
    previous, expected = rng.standard_normal() * VOL, []
    for e in shocks:
        previous = EDGE * previous + e
        expected.append(previous)
    close = edge_prices(50, 4, EDGE, VOL)["close"].to_numpy()
    np.testing.assert_allclose(np.log(close), np.log(100.0) + np.cumsum(expected))


def _loop_reference(close: np.ndarray, start: int, end: int, shape: str, lag: int) -> np.ndarray:
    out = []
    for t in range(start, end):
        if shape in ("momentum", "reversal"):
            last = np.log(close[t] / close[t - 1])
            out.append(np.sign(last) * (-1 if shape == "reversal" else 1))
        else:  # lag: the return that moves bar t+1 is the one into bar t+1-lag
            out.append(np.sign(np.log(close[t + 1 - lag] / close[t - lag])))
    return np.array(out)


@pytest.mark.parametrize("shape", ["momentum", "reversal", "lag"])
def test_the_reference_is_the_plain_rule(shape: str) -> None:
    close = edge_prices(400, 3, EDGE, VOL, shape=shape, lag=5)["close"].to_numpy()
    got = reference_positions(close, 50, 399, True, shape, 5, EDGE, VOL, REGIME_SWITCH)
    np.testing.assert_array_equal(got, _loop_reference(close, 50, 399, shape, 5))
    assert np.all(reference_positions(close, 50, 399, False, shape, 5, EDGE, VOL, REGIME_SWITCH) >= 0)


@pytest.mark.parametrize("shape", SHAPES)
def test_the_reference_is_causal(shape: str) -> None:
    close = edge_prices(600, 5, EDGE, VOL, shape=shape, lag=5)["close"].to_numpy()
    changed = close.copy()
    changed[301:] *= np.exp(np.random.default_rng(0).normal(0, 0.05, len(close) - 301))
    a = reference_positions(close, 100, 599, True, shape, 5, EDGE, VOL, REGIME_SWITCH)
    b = reference_positions(changed, 100, 599, True, shape, 5, EDGE, VOL, REGIME_SWITCH)
    np.testing.assert_array_equal(a[:201], b[:201])  # decisions at bars up to 300 see closes up to 300


@pytest.mark.parametrize("shape", SHAPES)
def test_the_reference_earns_the_planted_edge_and_nothing_without_it(shape: str) -> None:
    def sharpe(edge: float) -> float:
        values = []
        for seed in range(4):
            close = edge_prices(3000, seed, edge, VOL, shape=shape, lag=5)["close"].to_numpy()
            pos = reference_positions(close, 100, 2999, True, shape, 5, edge, VOL, REGIME_SWITCH)
            rec = positions_record(close, 100, 2999, pos, 0.0)
            values.append(compute_metrics(rec.net_returns, rec.positions, 252)["sharpe"])
        return float(np.mean(values))

    assert sharpe(EDGE) > 1.0
    assert abs(sharpe(0.0)) < 0.6
