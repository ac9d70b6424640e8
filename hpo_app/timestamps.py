"""Timestamps of a price file, and the bar frequency of a series.

Timestamp parsing (``load_csv``), in this order:

1. all-digit values: ``YYYYMMDD`` (also ``YYYYMMDDHHMM[SS]``), else unix epoch (seconds,
   milliseconds, microseconds or nanoseconds, chosen by magnitude; values must be >= 1e8);
2. ISO 8601 (with or without time, ``T`` separator, timezone offsets);
3. explicit formats (``_EXPLICIT_FORMATS``: the date layouts of broker and exchange exports,
   each with no time, ``HH:MM``, ``HH:MM:SS``, ``HH:MM:SS.fff`` or a 12-hour clock with AM/PM),
   accepted only if EVERY row parses. When both month-first and day-first parse every row (e.g.
   ``01/02/2020``), month-first (US) wins and a warning says so.

Runs of spaces count as one. A zone suffix ``GMT+0100``, ``UTC-05:00``, ``GMT`` or ``UTC`` (as in
Dukascopy's "Local time" column) and ISO offsets are applied: timezone-aware timestamps are
converted to UTC, then made naive.
"""

from __future__ import annotations

import logging
import re

import pandas as pd

from hpo_app.data_errors import DataError, data_error, show_cell

log = logging.getLogger("hpo_app.data")  # the loader's messages, under the loader's name

SAMPLE_ROWS = 200  # rows looked at first, to choose a format (every row is checked after)
_DATE_LAYOUTS: tuple[str, ...] = (
    "%m/%d/%Y", "%d/%m/%Y", "%m/%d/%y", "%d/%m/%y",
    "%d.%m.%Y", "%d.%m.%y",
    "%m-%d-%Y", "%d-%m-%Y",
    "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d",
    "%d-%b-%Y", "%d-%b-%y", "%d %b %Y", "%b %d, %Y", "%b %d %Y",
)
_TIME_LAYOUTS: tuple[str, ...] = ("", " %H:%M", " %H:%M:%S", " %H:%M:%S.%f", " %I:%M %p", " %I:%M:%S %p")
_EXPLICIT_FORMATS: tuple[str, ...] = tuple(
    date + time for date in _DATE_LAYOUTS for time in _TIME_LAYOUTS if (date, time) != ("%Y%m%d", "")
) + ("%Y%m%d %H%M%S", "%Y%m%d %H%M")  # HistData's "20200102 170000"
_ZONE = re.compile(r"\s*(?:GMT|UTC)(?:([+-])(\d{1,2}):?(\d{2})?)?$")
_ZONE_ANY = re.sub(r"\((?!\?)", "(?:", _ZONE.pattern)  # the same, without groups (for str.contains)
_DAY_FIRST_TWIN = {f: f.replace("%m/%d", "%d/%m").replace("%m-%d", "%d-%m")
                   for f in _EXPLICIT_FORMATS if f.startswith(("%m/%d", "%m-%d"))}
_MIN_EPOCH = 1e8  # 1973-03-03 in seconds; smaller numbers are not plausible timestamps


def _try_format(values: pd.Series, fmt: str) -> pd.Series:
    """Parse with one format (``ISO8601`` is timezone-aware); unparsable values become NaT."""
    if fmt == "ISO8601":
        parsed = pd.to_datetime(values, format=fmt, utc=True, errors="coerce")
        return parsed.dt.tz_convert(None)
    return pd.to_datetime(values, format=fmt, errors="coerce")


def _parse_epoch(values: pd.Series) -> pd.Series | None:
    """Unix epoch numbers, unit chosen by magnitude; None when implausible."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any() or (numbers < _MIN_EPOCH).any():
        return None
    magnitude = float(numbers.median())
    unit = "s" if magnitude < 1e11 else "ms" if magnitude < 1e14 else "us" if magnitude < 1e17 else "ns"
    try:
        return pd.to_datetime(numbers, unit=unit)
    except (ValueError, OverflowError):
        return None


def _parse_digits(values: pd.Series) -> pd.Series | None:
    """All-digit timestamps: YYYYMMDD[HHMM[SS]] when every row parses, else epoch numbers."""
    lengths = set(values.str.len())
    compact = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
    if len(lengths) == 1 and lengths <= compact.keys() and values.str.fullmatch(r"\d+").all():
        parsed = _try_format(values, compact[lengths.pop()])
        if parsed.notna().all():
            return parsed
    return _parse_epoch(values)


def _warn_if_ambiguous(values: pd.Series, fmt: str, where: str) -> None:
    """Warn when the day-first twin of the chosen month-first format also parses every row."""
    twin = _DAY_FIRST_TWIN.get(fmt)
    if twin is not None and _try_format(values, twin).notna().all():
        log.warning("%s: dates are ambiguous (day/month); read them month-first (%s)", where, fmt)


def _split_zone(values: pd.Series) -> tuple[pd.Series, pd.Series | None]:
    """Timestamps without a trailing ``GMT+0100``-style zone, and each row's offset (None: no zone)."""
    if not values.iloc[:SAMPLE_ROWS].str.contains(_ZONE_ANY).all() or not values.str.contains(_ZONE_ANY).all():
        return values, None
    found = values.str.extract(_ZONE.pattern)
    sign = found[0].map({"+": 1, "-": -1}).fillna(0)
    minutes = found[1].fillna("0").astype(int) * 60 + found[2].fillna("0").astype(int)
    return values.str.replace(_ZONE.pattern, "", regex=True), pd.to_timedelta(sign * minutes, unit="min")


def parse_timestamps(values: pd.Series, label: str, where: str, warn: bool = True) -> pd.Series:
    """Robustly parse timestamps; raise naming the first bad value and its line."""
    missing = values.isna() | (values == "")
    if missing.any():
        raise data_error(where, f"missing timestamp in column {label} at line {missing.idxmax()}")
    original = values
    if values.iloc[:SAMPLE_ROWS].str.contains(r"\s\s|^\s|\s$").any() or values.str.contains("  ", regex=False).any():
        values = values.str.split().str.join(" ")
    if values.str.fullmatch(r"\d+(\.\d+)?").all():
        parsed = _parse_digits(values)
        if parsed is not None:
            return parsed
    values, offsets = _split_zone(values)
    formats = ("ISO8601",) + _EXPLICIT_FORMATS
    sample = values.iloc[:SAMPLE_ROWS]
    for fmt in formats:
        if _try_format(sample, fmt).notna().all():
            parsed = _try_format(values, fmt)
            if parsed.notna().all():
                if warn:
                    _warn_if_ambiguous(values, fmt, where)
                return parsed if offsets is None else parsed - offsets
    best = max(formats, key=lambda fmt: int(_try_format(sample, fmt).notna().sum()))
    line = _try_format(values, best).isna().idxmax()
    raise data_error(where, f"unparsable timestamp {show_cell(original[line])} in column {label} at line {line}")


def _show_stamp(stamp: pd.Timestamp) -> str:
    """A timestamp as text; midnight shows as the date alone."""
    return str(stamp.date()) if stamp == stamp.normalize() else str(stamp)


def check_duplicates(stamps: pd.Series, where: str) -> None:
    """Raise naming the first repeated timestamp and the lines where it occurs."""
    repeated = stamps.duplicated(keep="first")
    if repeated.any():
        second = repeated.idxmax()
        first = (stamps == stamps[second]).idxmax()
        raise data_error(where, f"duplicate timestamp {_show_stamp(stamps[second])} at lines {first} and {second}")


# (minimum median spacing, periods per year), checked from the longest spacing down.
_SPACING_RULES: tuple[tuple[pd.Timedelta, float], ...] = (
    (pd.Timedelta(days=300), 1.0),
    (pd.Timedelta(days=80), 4.0),
    (pd.Timedelta(days=25), 12.0),
    (pd.Timedelta(days=5), 52.0),
)
_DAILY_MIN_SPACING = pd.Timedelta(hours=20)
_WEEKEND_SHARE_24_7 = 0.2  # weekend dates above this share -> 365 trading days (e.g. crypto)


def _trading_days_per_year(index: pd.DatetimeIndex) -> float:
    """252, or 365 when a sizable share of dates fall on weekends (markets open every day)."""
    dates = pd.DatetimeIndex(index.normalize().unique())
    weekend_share = float((dates.day_of_week >= 5).mean())
    return 365.0 if weekend_share > _WEEKEND_SHARE_24_7 else 252.0


def infer_periods_per_year(index: pd.DatetimeIndex) -> float:
    """Bars per year from the median bar spacing.

    >= 300 days: 1, >= 80 days: 4, >= 25 days: 12, >= 5 days: 52, >= 20 hours: trading days
    (252, or 365 for 7-day markets); shorter: trading days x median bars per calendar date.
    """
    if len(index) < 2:
        raise DataError(f"cannot infer the bar frequency from {len(index)} bar(s)")
    spacing = pd.Series(index).diff().median()
    for threshold, periods in _SPACING_RULES:
        if spacing >= threshold:
            return periods
    days = _trading_days_per_year(index)
    if spacing >= _DAILY_MIN_SPACING:
        return days
    bars_per_day = float(pd.Series(index.normalize()).value_counts().median())
    return days * bars_per_day
