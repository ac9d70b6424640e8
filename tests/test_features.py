"""Tests of hpo_app.features: causality, warm-up, chronological split, train-only scaling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hpo_app.data import DataError
from hpo_app.features import (
    FEATURE_NAMES,
    PreparedData,
    compute_features,
    prepare_data,
    split_segments,
    warmup_bars,
)
from hpo_app.synthetic import synthetic_prices

N_BARS = 600


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return synthetic_prices(n_bars=N_BARS, seed=11)


def _prepare(frame: pd.DataFrame, **overrides: object) -> PreparedData:
    kwargs: dict[str, object] = dict(window=10, train_frac=0.6, val_frac=0.2, periods_per_year=252.0, source="test")
    kwargs.update(overrides)
    return prepare_data(frame, **kwargs)  # type: ignore[arg-type]


def _perturb_from(frame: pd.DataFrame, k: int, only_k: bool, seed: int = 0) -> pd.DataFrame:
    """A copy whose close, high, low and volume differ at bar k (or at every bar from k on)."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    rows = slice(k, k + 1) if only_k else slice(k, None)
    n = len(out.iloc[rows])
    factor = np.exp(rng.normal(0.0, 0.05, n))
    for column in ("close", "high", "low"):
        out.iloc[rows, out.columns.get_loc(column)] = out[column].iloc[rows].to_numpy() * factor
    out.iloc[rows, out.columns.get_loc("high")] = out["high"].iloc[rows].to_numpy() * 1.03
    out.iloc[rows, out.columns.get_loc("volume")] = out["volume"].iloc[rows].to_numpy() * rng.uniform(2, 5, n)
    return out


# --------------------------------------------------------------------------------------------
# features
# --------------------------------------------------------------------------------------------


def test_feature_frame_shape_and_warmup(prices: pd.DataFrame) -> None:
    features = compute_features(prices)
    assert list(features.columns) == list(FEATURE_NAMES) and len(FEATURE_NAMES) == 10
    assert features.index.equals(prices.index)
    warmup = warmup_bars()
    assert features.iloc[:warmup].isna().all().all()
    assert not features.iloc[warmup:].isna().any().any()
    assert features["rsi_14"].iloc[warmup:].between(-1, 1).all()
    assert (features["range_hl"].iloc[warmup:] >= 0).all()


def test_feature_values_match_definitions(prices: pd.DataFrame) -> None:
    features = compute_features(prices)
    close = prices["close"]
    t = 300
    np.testing.assert_allclose(features["ret_5"].iloc[t], np.log(close.iloc[t] / close.iloc[t - 5]))
    window = close.iloc[t - 19 : t + 1]
    np.testing.assert_allclose(features["zscore_20"].iloc[t], (close.iloc[t] - window.mean()) / window.std())
    np.testing.assert_allclose(features["dist_ma_50"].iloc[t], np.log(close.iloc[t] / close.iloc[t - 49 : t + 1].mean()))
    returns = np.diff(np.log(close.iloc[t - 10 : t + 1].to_numpy()))
    np.testing.assert_allclose(features["vol_10"].iloc[t], returns.std(ddof=1))


@pytest.mark.parametrize("k", [55, 120, 333, N_BARS - 1])
@pytest.mark.parametrize("only_k", [True, False])
def test_features_are_causal(prices: pd.DataFrame, k: int, only_k: bool) -> None:
    original = compute_features(prices)
    changed = compute_features(_perturb_from(prices, k, only_k))
    pd.testing.assert_frame_equal(changed.iloc[:k], original.iloc[:k], check_exact=True)
    assert not np.allclose(changed.iloc[k].to_numpy(), original.iloc[k].to_numpy())


def test_features_of_a_prefix_equal_the_prefix_of_features(prices: pd.DataFrame) -> None:
    full = compute_features(prices)
    for end in (70, 251, 480):
        pd.testing.assert_frame_equal(compute_features(prices.iloc[:end]), full.iloc[:end], check_exact=True)


def test_missing_volume_and_constant_prices_give_no_nan_after_warmup() -> None:
    index = pd.bdate_range("2020-01-01", periods=120, name="timestamp")
    flat = pd.DataFrame({"open": 5.0, "high": 5.0, "low": 5.0, "close": 5.0, "volume": np.nan}, index=index)
    features = compute_features(flat)
    assert not features.iloc[warmup_bars():].isna().any().any()
    assert (features.iloc[warmup_bars():] == 0).all().all()


# --------------------------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------------------------


def test_segments_share_boundaries_and_follow_fractions(prices: pd.DataFrame) -> None:
    window, train_frac, val_frac = 30, 0.6, 0.2
    data = _prepare(prices, window=window, train_frac=train_frac, val_frac=val_frac)
    first = warmup_bars()  # whatever the window (see test_segments_do_not_depend_on_the_window)
    usable = N_BARS - 1 - first
    n_train, n_val = round(usable * train_frac), round(usable * val_frac)
    assert data.segments == {
        "train": (first, first + n_train),
        "val": (first + n_train, first + n_train + n_val),
        "test": (first + n_train + n_val, N_BARS - 1),
    }
    sizes = [end - start for start, end in data.segments.values()]
    assert sum(sizes) == usable
    assert data.segments["train"][1] == data.segments["val"][0]
    assert data.segments["val"][1] == data.segments["test"][0]


@pytest.mark.parametrize("window", [1, 2, 5, 30, warmup_bars() + 1])
def test_segments_do_not_depend_on_the_window(prices: pd.DataFrame, window: int) -> None:
    """A sweep that searches the window scores every trial on the same bars; the first training
    decisions see the warm-up rows as zeros, and a window longer than that moves the start."""
    assert _prepare(prices, window=window).segments == _prepare(prices, window=1).segments
    longer = warmup_bars() + 2
    assert _prepare(prices, window=longer).segments["train"][0] == longer - 1


def test_prepared_arrays(prices: pd.DataFrame) -> None:
    data = _prepare(prices)
    assert data.features.dtype == np.float32 and data.features.shape == (N_BARS, len(FEATURE_NAMES))
    assert data.close.dtype == np.float64
    np.testing.assert_array_equal(data.close, prices["close"].to_numpy())
    assert data.index.equals(prices.index) and data.feature_names == FEATURE_NAMES
    assert data.periods_per_year == 252.0 and data.source == "test"
    assert (data.features[: warmup_bars()] == 0).all()
    assert np.isfinite(data.features).all() and np.abs(data.features).max() <= 10.0


def test_too_few_rows_is_one_line_error() -> None:
    short = synthetic_prices(n_bars=300, seed=0)
    with pytest.raises(DataError) as info:
        _prepare(short, window=30, train_frac=0.7, val_frac=0.25)
    # prepare_data names the data source first (here the test's source name, "test").
    usable = 300 - 1 - warmup_bars()
    test_bars = usable - round(usable * 0.7) - round(usable * 0.25)
    assert str(info.value) == (f"test: too few rows: 300 bars leave {test_bars} decisions for test (need 50); "
                               "window=30, warm-up=50")
    with pytest.raises(DataError, match="^too few rows: 60 bars leave 5 decisions for train"):
        split_segments(60, window=30, train_frac=0.6, val_frac=0.2)


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"window": 0}, "window must be an integer >= 1"),
    ({"train_frac": 0.0}, r"train_frac must be in \(0, 1\)"),
    ({"val_frac": 1.5}, r"val_frac must be in \(0, 1\)"),
    ({"train_frac": 0.7, "val_frac": 0.3}, "train_frac \\+ val_frac must be < 1"),
    ({"periods_per_year": 0.0}, "periods_per_year must be > 0"),
])
def test_bad_arguments(prices: pd.DataFrame, overrides: dict[str, object], expected: str) -> None:
    with pytest.raises(DataError, match=expected):
        _prepare(prices, **overrides)


def test_nan_prices_after_warmup_are_rejected(prices: pd.DataFrame) -> None:
    broken = prices.copy()
    broken.iloc[200, broken.columns.get_loc("close")] = np.nan
    with pytest.raises(DataError, match="NaN after warm-up"):
        _prepare(broken)


# --------------------------------------------------------------------------------------------
# scaling
# --------------------------------------------------------------------------------------------


def test_scaler_uses_training_bars_only(prices: pd.DataFrame) -> None:
    data = _prepare(prices)
    start, end = data.segments["train"]
    raw = compute_features(prices).to_numpy()[start:end]
    np.testing.assert_allclose(data.scaler_mean, raw.mean(axis=0))
    np.testing.assert_allclose(data.scaler_std, np.maximum(raw.std(axis=0), 1e-8))
    expected = np.clip((compute_features(prices).to_numpy() - data.scaler_mean) / data.scaler_std, -10, 10)
    np.testing.assert_allclose(data.features[start:], expected[start:].astype(np.float32), rtol=1e-6)


def test_changing_test_prices_changes_neither_scaler_nor_earlier_features(prices: pd.DataFrame) -> None:
    data = _prepare(prices)
    test_start = data.segments["test"][0]
    changed = _prepare(_perturb_from(prices, test_start, only_k=False, seed=5))
    np.testing.assert_array_equal(changed.scaler_mean, data.scaler_mean)
    np.testing.assert_array_equal(changed.scaler_std, data.scaler_std)
    np.testing.assert_array_equal(changed.features[:test_start], data.features[:test_start])
    assert not np.array_equal(changed.features[test_start:], data.features[test_start:])


def test_changing_validation_prices_leaves_scaler_unchanged(prices: pd.DataFrame) -> None:
    data = _prepare(prices)
    val_start = data.segments["val"][0]
    changed = _prepare(_perturb_from(prices, val_start, only_k=False, seed=6))
    np.testing.assert_array_equal(changed.scaler_mean, data.scaler_mean)
    np.testing.assert_array_equal(changed.scaler_std, data.scaler_std)
