"""Causal features, the chronological train / validation / test split, and train-only scaling.

Every feature at bar t uses close, high, low and volume up to bar t only (pandas rolling windows
and backward differences). The first ``warmup_bars()`` rows are NaN for every feature.

Segments: ``(start, end)`` means decisions at bars ``start .. end-1``, each realizing the return
``close[t+1] / close[t]``; consecutive segments share their boundary bar. They do not depend on the
observation window (up to ``warmup_bars() + 1`` bars): the first decisions of the training segment
see the warm-up rows as zeros, the scaled features' mean. So runs with different windows are
scored on the same bars, which comparing a sweep's trials bar by bar (the report's PBO) needs.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hpo_app.data import DataError
from hpo_app.specs import ConfigError

log = logging.getLogger(__name__)

FEATURE_NAMES: tuple[str, ...] = (
    "ret_1",        # log return over 1 bar
    "ret_5",        # log return over 5 bars
    "ret_20",       # log return over 20 bars
    "vol_10",       # std of 1-bar log returns over 10 bars
    "vol_30",       # std of 1-bar log returns over 30 bars
    "zscore_20",    # (close - 20-bar mean) / 20-bar std
    "dist_ma_50",   # log(close / 50-bar mean)
    "rsi_14",       # RSI(14) (simple averages) rescaled to [-1, 1]
    "range_hl",     # (high - low) / close
    "volume_z_20",  # z-score of log(1 + volume) over 20 bars; 0 when volume is missing
)
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "returns": ("ret_1", "ret_5", "ret_20"),
    "volatility": ("vol_10", "vol_30", "range_hl"),
    "trend": ("zscore_20", "dist_ma_50", "rsi_14"),
    "volume": ("volume_z_20",),
}
# Named feature sets, each adding a group to the one before: the values of ``env.features``.
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "returns": FEATURE_GROUPS["returns"],
    "returns_volatility": FEATURE_GROUPS["returns"] + FEATURE_GROUPS["volatility"],
    "price": FEATURE_GROUPS["returns"] + FEATURE_GROUPS["volatility"] + FEATURE_GROUPS["trend"],
    "all": FEATURE_NAMES,
}
_WARMUP = 50  # the longest lookback: the 50-bar mean (vol_30 needs 31 closes)
_CLIP = 10.0
_STD_FLOOR = 1e-8
_SEGMENT_NAMES = ("train", "val", "test")


def warmup_bars() -> int:
    """Rows at the start of ``compute_features`` output whose features are NaN."""
    return _WARMUP


def _safe_ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator, 0 where the denominator is (numerically) zero; NaN stays NaN."""
    tiny = denominator.abs() <= 1e-12
    return (numerator / denominator.where(~tiny)).mask(tiny & numerator.notna(), 0.0)


def _zscore(values: pd.Series, window: int) -> pd.Series:
    """(x - rolling mean) / rolling std over ``window`` bars ending at t."""
    rolling = values.rolling(window)
    std = rolling.std()
    scale = values.abs().rolling(window).mean()
    return _safe_ratio(values - rolling.mean(), std.where(std > 1e-10 * scale, 0.0))


def _rsi(close: pd.Series, window: int) -> pd.Series:
    """RSI with simple moving averages, rescaled: (gain - loss) / (gain + loss) in [-1, 1]."""
    change = close.diff()
    gain = change.clip(lower=0.0).rolling(window).mean().clip(lower=0.0)
    loss = (-change).clip(lower=0.0).rolling(window).mean().clip(lower=0.0)
    return _safe_ratio(gain - loss, gain + loss).clip(-1.0, 1.0)


def _volume_z(volume: pd.Series, window: int) -> pd.Series:
    """Z-score of log(1 + volume), gaps carried forward; 0 where volume is unknown."""
    log_volume = np.log1p(volume.clip(lower=0.0)).ffill()
    return _zscore(log_volume, window).fillna(0.0)


def _column(prices: pd.DataFrame, name: str, default: pd.Series) -> pd.Series:
    """A float column of ``prices``, or ``default`` when absent."""
    return prices[name].astype(np.float64) if name in prices.columns else default


def compute_features(prices: pd.DataFrame) -> pd.DataFrame:
    """The causal features ``FEATURE_NAMES`` on the index of ``prices`` (NaN during warm-up)."""
    if "close" not in prices.columns:
        raise ValueError(f"prices need a 'close' column (got {list(prices.columns)})")
    close = prices["close"].astype(np.float64)
    if (close <= 0).any():
        raise ValueError("close prices must be positive")
    high, low = _column(prices, "high", close), _column(prices, "low", close)
    volume = _column(prices, "volume", pd.Series(np.nan, index=close.index))
    log_close = np.log(close)
    step = log_close.diff()
    mean_50 = close.rolling(50).mean()
    features = pd.DataFrame({
        "ret_1": step,
        "ret_5": log_close.diff(5),
        "ret_20": log_close.diff(20),
        "vol_10": step.rolling(10).std(),
        "vol_30": step.rolling(30).std(),
        "zscore_20": _zscore(close, 20),
        "dist_ma_50": np.log(close / mean_50),
        "rsi_14": _rsi(close, 14),
        "range_hl": (high - low) / close,
        "volume_z_20": _volume_z(volume, 20),
    }, index=prices.index)
    features.iloc[:_WARMUP] = np.nan
    return features[list(FEATURE_NAMES)]


@dataclass(frozen=True)
class PreparedData:
    """Scaled features, closes and segment bounds, ready for the trading environment."""

    features: np.ndarray
    close: np.ndarray
    index: pd.DatetimeIndex
    feature_names: tuple[str, ...]
    segments: dict[str, tuple[int, int]]
    periods_per_year: float
    source: str
    scaler_mean: np.ndarray
    scaler_std: np.ndarray
    raw: np.ndarray  # unscaled features (NaN during warm-up), for fold_view

def _check_arguments(
    window: int, train_frac: float, val_frac: float, periods_per_year: float, min_segment_bars: int
) -> None:
    """Raise DataError on out-of-range split / window arguments."""
    if int(window) != window or window < 1:
        raise DataError(f"window must be an integer >= 1 (got {window})")
    for name, frac in (("train_frac", train_frac), ("val_frac", val_frac)):
        if not 0.0 < frac < 1.0:
            raise DataError(f"{name} must be in (0, 1) (got {frac})")
    if train_frac + val_frac >= 1.0:
        raise DataError(f"train_frac + val_frac must be < 1 to leave a test segment (got {train_frac} + {val_frac})")
    if not periods_per_year > 0:
        raise DataError(f"periods_per_year must be > 0 (got {periods_per_year})")
    if min_segment_bars < 1:
        raise DataError(f"min_segment_bars must be >= 1 (got {min_segment_bars})")


def split_segments(
    n_bars: int, *, window: int, train_frac: float, val_frac: float, min_segment_bars: int = 50
) -> dict[str, tuple[int, int]]:
    """Chronological (start, end) bar bounds of train, val and test; neighbours share a bar."""
    first = max(_WARMUP, window - 1)  # the first bar with features; a longer window needs window - 1 bars before
    usable = max(n_bars - 1 - first, 0)
    n_train = int(round(usable * train_frac))
    n_val = int(round(usable * val_frac))
    sizes = {"train": n_train, "val": n_val, "test": usable - n_train - n_val}
    for name in _SEGMENT_NAMES:
        if sizes[name] < min_segment_bars:
            raise DataError(
                f"too few rows: {n_bars} bars leave {max(sizes[name], 0)} decisions for {name} "
                f"(need {min_segment_bars}); window={window}, warm-up={_WARMUP}"
            )
    a, b = first + n_train, first + n_train + n_val
    return {"train": (first, a), "val": (a, b), "test": (b, n_bars - 1)}


def _scale(raw: np.ndarray, train: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardize with statistics of the train decision bars; clip; warm-up NaN -> 0."""
    fit = raw[train[0]:train[1]]
    mean = fit.mean(axis=0)
    std = np.maximum(fit.std(axis=0), _STD_FLOOR)
    scaled = np.clip((raw - mean) / std, -_CLIP, _CLIP)
    return np.nan_to_num(scaled, nan=0.0).astype(np.float32), mean, std


def prepare_data(
    prices: pd.DataFrame,
    *,
    window: int,
    train_frac: float,
    val_frac: float,
    periods_per_year: float,
    source: str,
    min_segment_bars: int = 50,
) -> PreparedData:
    """Features, split and train-only scaling for ``prices`` (the standard price frame)."""
    _check_arguments(window, train_frac, val_frac, periods_per_year, min_segment_bars)
    try:
        segments = split_segments(len(prices), window=int(window), train_frac=train_frac,
                                  val_frac=val_frac, min_segment_bars=min_segment_bars)
    except DataError as err:
        raise DataError(f"{source}: {err}") from None
    raw = compute_features(prices)
    late_nan = raw.iloc[_WARMUP:].isna().any(axis=1)
    if late_nan.any():
        raise DataError(f"{source}: features are NaN after warm-up at {late_nan.idxmax()} (missing prices?)")
    features, mean, std = _scale(raw.to_numpy(dtype=np.float64), segments["train"])
    log.debug("prepared %d bars from %s: segments %s", len(prices), source, segments)
    return PreparedData(
        features=features,
        close=prices["close"].to_numpy(dtype=np.float64, copy=True),
        index=pd.DatetimeIndex(prices.index),
        feature_names=FEATURE_NAMES,
        segments=segments,
        periods_per_year=float(periods_per_year),
        source=source,
        scaler_mean=mean,
        scaler_std=std,
        raw=raw.to_numpy(dtype=np.float64),
    )


def feature_columns(features: str | Sequence[str]) -> tuple[str, ...]:
    """The feature names of ``env.features``: a set's name (``FEATURE_SETS``) or a list of names."""
    if isinstance(features, str):
        if features not in FEATURE_SETS:
            raise ConfigError(f"env.features={features!r}: unknown feature set (choose from "
                            f"{', '.join(FEATURE_SETS)}, or a list of names from {', '.join(FEATURE_NAMES)})")
        return FEATURE_SETS[features]
    if not isinstance(features, (list, tuple)):
        raise ConfigError(f"env.features={features!r}: a feature set's name ({', '.join(FEATURE_SETS)}) "
                          "or a list of feature names")
    names = tuple(features)
    unknown = [n for n in names if n not in FEATURE_NAMES]
    if unknown or not names or len(set(names)) != len(names):
        what = f"unknown feature {unknown[0]!r}" if unknown else "empty" if not names else "a name repeated"
        raise ConfigError(f"env.features={list(names)}: {what} (names: {', '.join(FEATURE_NAMES)})")
    return names


def select_features(prepared: PreparedData, names: Sequence[str]) -> PreparedData:
    """The data with only the feature columns ``names`` (in that order)."""
    cols = [prepared.feature_names.index(n) for n in names]
    return dataclasses.replace(prepared, features=prepared.features[:, cols], feature_names=tuple(names),
                               scaler_mean=prepared.scaler_mean[cols], scaler_std=prepared.scaler_std[cols],
                               raw=prepared.raw[:, cols])


def fold_view(prepared: PreparedData, train: tuple[int, int], val: tuple[int, int]) -> PreparedData:
    """The data as one fold sees it: segments ``train``, ``val`` and the shared ``test``, features
    scaled with the statistics of the fold's own training decisions only."""
    features, mean, std = _scale(prepared.raw, train)
    segments = {"train": train, "val": val, "test": prepared.segments["test"]}
    return dataclasses.replace(prepared, features=features, segments=segments, scaler_mean=mean, scaler_std=std)
