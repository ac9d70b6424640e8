"""Tests of hpo_app.metrics against a plain-Python reference and hand-checkable cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpo_app.metrics import (
    ANNUAL_RETURN_CAP,
    METRIC_NAMES,
    RATIO_CAP,
    compute_metrics,
    equity_curve,
)

PPY = 252.0


def reference_metrics(r: list[float], pos: list[float], ppy: float, initial: float) -> dict[str, float]:
    """The metric definitions written as plain loops (no caps: used where none applies)."""
    n = len(r)
    equity, peak, mdd = 1.0, 1.0, 0.0
    for x in r:
        equity *= max(1.0 + x, 0.0)
        peak = max(peak, equity)
        mdd = max(mdd, 1.0 - equity / peak)
    total = equity - 1.0
    annual = equity ** (ppy / n) - 1.0 if equity > 0 else -1.0
    mean = sum(r) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / (n - 1))
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / n)
    trades, moved, previous = 0, 0.0, initial
    for p in pos:
        trades += p != previous
        moved += abs(p - previous)
        previous = p
    in_market = [x for x, p in zip(r, pos) if p != 0]
    return {
        "total_return": total,
        "annual_return": annual,
        "annual_volatility": std * math.sqrt(ppy),
        "sharpe": mean / std * math.sqrt(ppy),
        "sortino": mean / downside * math.sqrt(ppy),
        "max_drawdown": mdd,
        "calmar": annual / mdd,
        "n_trades": float(trades),
        "turnover": moved * ppy / n,
        "exposure": len(in_market) / n,
        "hit_rate": sum(x > 0 for x in in_market) / len(in_market) if in_market else 0.0,
    }


def _random_case(seed: int, choices: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Random positions from ``choices`` and noisy returns, zero when flat."""
    rng = np.random.default_rng(seed)
    pos = rng.choice(choices, size=60)
    r = pos * rng.normal(0.0005, 0.02, size=60) - 0.001 * (rng.random(60) < 0.2)
    return r, pos


def _assert_all_finite_floats(metrics: dict[str, float]) -> None:
    assert tuple(metrics) == METRIC_NAMES
    for name, value in metrics.items():
        assert type(value) is float, name
        assert math.isfinite(value), name


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("choices", [[-1.0, 0.0, 1.0], [0.0, 1.0], [-1.0, 1.0]])
@pytest.mark.parametrize("initial", [0.0, 1.0])
def test_matches_reference_loop(seed: int, choices: list[float], initial: float) -> None:
    r, pos = _random_case(seed, choices)
    got = compute_metrics(r, pos, PPY, initial_position=initial)
    expected = reference_metrics(r.tolist(), pos.tolist(), PPY, initial)
    _assert_all_finite_floats(got)
    for name in METRIC_NAMES:
        assert got[name] == pytest.approx(expected[name], rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("seed", range(3))
def test_equity_curve_matches_loop(seed: int) -> None:
    r = np.random.default_rng(seed).normal(0.0, 0.05, size=20)
    expected = [1.0]
    for x in r:
        expected.append(expected[-1] * (1.0 + x))
    curve = equity_curve(r)
    assert curve.shape == (21,)
    assert curve[0] == 1.0
    np.testing.assert_allclose(curve, expected, rtol=1e-12)


def test_hand_checked_drawdown_and_returns() -> None:
    r = np.array([0.1, -0.5, 0.2])
    m = compute_metrics(r, np.ones(3), periods_per_year=3.0)
    # equity 1, 1.1, 0.55, 0.66: peak 1.1 then down to 0.55 -> 50 % drawdown
    assert m["max_drawdown"] == pytest.approx(0.5)
    assert m["total_return"] == pytest.approx(1.1 * 0.5 * 1.2 - 1.0)
    # n == ppy: one year, so CAGR == total return
    assert m["annual_return"] == pytest.approx(m["total_return"])
    assert m["calmar"] == pytest.approx(m["annual_return"] / 0.5)
    assert m["n_trades"] == 1.0 and m["exposure"] == 1.0
    assert m["hit_rate"] == pytest.approx(2 / 3)


def test_flat_is_all_zero() -> None:
    m = compute_metrics(np.zeros(50), np.zeros(50), PPY)
    _assert_all_finite_floats(m)
    assert all(value == 0.0 for value in m.values()), m


def test_trades_turnover_and_initial_position() -> None:
    pos = np.array([1.0, 1.0, 0.0, -1.0])
    r = np.array([0.01, -0.02, 0.0, 0.03])
    m = compute_metrics(r, pos, PPY)
    assert m["n_trades"] == 3.0
    assert m["turnover"] == pytest.approx((1 + 0 + 1 + 1) * PPY / 4)
    assert m["exposure"] == 0.75
    assert m["hit_rate"] == pytest.approx(2 / 3)
    held = compute_metrics(r, pos, PPY, initial_position=1.0)
    assert held["n_trades"] == 2.0
    assert held["turnover"] == pytest.approx(2 * PPY / 4)


def test_sortino_uses_target_downside_deviation() -> None:
    r = np.array([0.02, -0.01, 0.03, -0.02, 0.0, 0.01])
    mean = float(np.mean(r))
    downside = math.sqrt((0.01**2 + 0.02**2) / len(r))  # over all 6 periods
    m = compute_metrics(r, np.ones(len(r)), PPY)
    assert m["sortino"] == pytest.approx(mean / downside * math.sqrt(PPY))
    std_of_negatives = float(np.std([-0.01, -0.02], ddof=1))
    assert m["sortino"] != pytest.approx(mean / std_of_negatives * math.sqrt(PPY))


def test_all_positive_returns_hit_the_ratio_cap() -> None:
    r = np.array([0.01, 0.02, 0.005])
    m = compute_metrics(r, np.ones(3), PPY)
    _assert_all_finite_floats(m)
    assert m["max_drawdown"] == 0.0
    assert m["sortino"] == RATIO_CAP
    assert m["calmar"] == RATIO_CAP
    assert 0.0 < m["sharpe"] <= RATIO_CAP


def test_constant_returns_have_zero_sharpe() -> None:
    m = compute_metrics(np.full(10, 0.001), np.ones(10), PPY)
    assert m["sharpe"] == 0.0 and m["annual_volatility"] == 0.0


def test_all_negative_returns_are_finite() -> None:
    r = np.array([-0.01, -0.02, -0.03])
    m = compute_metrics(r, -np.ones(3), PPY)
    _assert_all_finite_floats(m)
    assert m["sortino"] < 0 and m["sharpe"] < 0 and m["calmar"] < 0
    assert m["hit_rate"] == 0.0


@pytest.mark.parametrize("value", [0.0, 0.01, -0.01, 5.0])
def test_single_period_is_finite(value: float) -> None:
    m = compute_metrics(np.array([value]), np.array([1.0]), PPY)
    _assert_all_finite_floats(m)
    assert m["sharpe"] == 0.0 and m["annual_volatility"] == 0.0
    assert m["total_return"] == pytest.approx(value)
    assert m["annual_return"] <= ANNUAL_RETURN_CAP


def test_ruin_is_absorbing_and_finite() -> None:
    r = np.array([0.1, -1.5, 0.3])  # a short that lost 150 % of equity
    m = compute_metrics(r, -np.ones(3), PPY)
    _assert_all_finite_floats(m)
    assert m["total_return"] == -1.0 and m["annual_return"] == -1.0
    assert m["max_drawdown"] == 1.0
    np.testing.assert_array_equal(equity_curve(r)[2:], [0.0, 0.0])


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="empty"):
        compute_metrics(np.array([]), np.array([]), PPY)
    with pytest.raises(ValueError, match="length"):
        compute_metrics(np.zeros(3), np.zeros(2), PPY)
    with pytest.raises(ValueError, match="finite"):
        compute_metrics(np.array([0.1, np.nan]), np.zeros(2), PPY)
    with pytest.raises(ValueError, match="periods_per_year"):
        compute_metrics(np.zeros(3), np.zeros(3), 0.0)
