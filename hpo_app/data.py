"""Market data: a forgiving OHLCV CSV loader and the bar frequency of a series (the synthetic series
are :mod:`hpo_app.synthetic`; the source a run asks for is :mod:`hpo_app.market`).

Every loader returns the same frame: a tz-naive ``DatetimeIndex`` named ``timestamp``
(nanosecond unit, strictly increasing, unique) and float64 columns
``open, high, low, close, volume``. Bad input raises :class:`DataError`, whose message is one
line that starts with the file path (or ``synthetic data``) and names the fault.

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
converted to UTC, then made naive. A file without a header row whose first cell is a timestamp
and whose other cells are numbers is read as timestamp (or date, time), open, high, low, close
[, volume] (HistData's and MetaTrader's history exports).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from hpo_app.fmt import path as shown_path

log = logging.getLogger(__name__)

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
INDEX_NAME = "timestamp"
SYNTHETIC_WHERE = "synthetic data"

# Canonical column -> accepted names after _normalize (lower case; spaces, _ - . < > removed).
_ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date",),
    "timestamp": ("timestamp", "datetime", "gmttime", "localtime", "utctime", "timeutc", "timegmt", "datetimeutc"),
    "time": ("time",),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close", "close/last", "last", "price"),
    "adjclose": ("adjclose", "adjustedclose"),
    "volume": ("volume", "vol"),
}
_UNNAMED_FIRST = ("unnamed:0", "")

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
_SAMPLE_ROWS = 200
_MIN_EPOCH = 1e8  # 1973-03-03 in seconds; smaller numbers are not plausible timestamps


class DataError(ValueError):
    """Bad market data. str(err) is ONE line naming the file (or 'synthetic data') and the fault."""


def data_error(where: str, fault: str) -> DataError:
    """A DataError whose message is one line: ``<where>: <fault>``."""
    text = " ".join(f"{where}: {fault}".split())
    return DataError("".join(ch if ch.isprintable() else "?" for ch in text))


def _show(value: object, limit: int = 40) -> str:
    """A short repr of a bad cell for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def finish_frame(index: pd.DatetimeIndex, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Assemble the standard price frame (ns, tz-naive index named 'timestamp')."""
    index = pd.DatetimeIndex(index).as_unit("ns")
    index.name = INDEX_NAME
    data = {name: np.asarray(columns[name], dtype=np.float64) for name in PRICE_COLUMNS}
    return pd.DataFrame(data, index=index)


# ----------------------------------------------------------------------------------------------
# CSV loading
# ----------------------------------------------------------------------------------------------


def _normalize(name: object) -> str:
    """Column name key: lower case without spaces, underscores, dashes, dots, brackets."""
    return re.sub(r"[\s_\-.<>()]", "", str(name).lower())


def _sniff_separator(path: Path) -> str:
    """The most frequent of , ; TAB in the first non-empty line (comma when none)."""
    with path.open(encoding="utf-8-sig") as handle:
        header = next((line for line in handle if line.strip()), "")
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > 0 else ","


def _read_table(path: Path, where: str) -> tuple[pd.DataFrame, str]:
    """Every cell as a string; the index holds file line numbers (header is line 1)."""
    if not path.exists():
        raise data_error(where, "file not found")
    if path.is_dir():
        raise data_error(where, "is a directory, not a CSV file")
    try:
        sep = _sniff_separator(path)
        table = pd.read_csv(path, sep=sep, dtype=str, skip_blank_lines=False)
    except UnicodeDecodeError as exc:
        raise data_error(where, "not a UTF-8 text file") from exc
    except pd.errors.EmptyDataError as exc:
        raise data_error(where, "empty file") from exc
    except (pd.errors.ParserError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise data_error(where, f"not parseable as CSV ({first_line})") from exc
    except OSError as exc:
        raise data_error(where, f"cannot read file ({exc.strerror or exc})") from exc
    table.index = pd.RangeIndex(2, len(table) + 2)
    names = _headerless_names([str(c) for c in table.columns])
    if names:  # the first line is a bar, not a header
        table = pd.read_csv(path, sep=sep, dtype=str, skip_blank_lines=False, header=None, names=names)
        table.index = pd.RangeIndex(1, len(table) + 1)
    table = table.dropna(how="all")
    if table.empty:
        raise data_error(where, "no data rows")
    return table, sep


_NUMBER_CELL = re.compile(r"-?\d+(?:[.,]\d+)?(?:\.\d+)?")  # pandas adds ".1" to a repeated header name
_TIME_CELL = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?")


def _headerless_names(first: list[str]) -> list[str] | None:
    """Column names for a file whose first line is already a bar (timestamp or date and time,
    then open, high, low, close [, volume]); None when the first line is a header."""
    if len(first) not in (5, 6, 7) or not all(_NUMBER_CELL.fullmatch(c.strip()) for c in first[-4:]):
        return None
    if len(first) in (6, 7) and _TIME_CELL.fullmatch(first[1].strip()):
        names = ["date", "time", "open", "high", "low", "close", "volume"][: len(first)]
    elif len(first) == 7:
        return None
    else:
        names = ["timestamp", "open", "high", "low", "close", "volume"][: len(first)]
    stamp = pd.Series([" ".join(c.strip() for c in first[: 2 if names[1] == "time" else 1])])
    try:
        _parse_timestamps(stamp, names[0], "", warn=False)
    except DataError:
        return None
    return names


def _find_columns(table: pd.DataFrame) -> dict[str, str]:
    """Canonical name -> original column name, for the columns this file has."""
    by_key: dict[str, str] = {}
    for column in table.columns:
        by_key.setdefault(_normalize(column), column)
    found = {}
    for canonical, names in _ALIASES.items():
        match = next((by_key[n] for n in names if n in by_key), None)
        if match is not None:
            found[canonical] = match
    first = table.columns[0]
    if _normalize(first) in _UNNAMED_FIRST and not {"date", "timestamp", "time"} & found.keys():
        found["unnamed"] = first
    return found


def _timestamp_values(table: pd.DataFrame, columns: dict[str, str], where: str) -> tuple[pd.Series, str]:
    """The raw timestamp strings and a label of their column(s); Date + Time are joined."""
    if "date" in columns and "timestamp" in columns:
        head = table[columns["timestamp"]].iloc[:_SAMPLE_ROWS].str.strip()
        if head.str.fullmatch(_TIME_CELL.pattern).all():  # Date, Time (UTC): a time of day only
            columns = {**{k: v for k, v in columns.items() if k != "timestamp"}, "time": columns["timestamp"]}
    if "date" in columns and "time" in columns:
        joined = table[columns["date"]].str.strip() + " " + table[columns["time"]].str.strip()
        return joined, f"{columns['date']}+{columns['time']}"
    for key in ("date", "timestamp", "time", "unnamed"):
        if key in columns:
            return table[columns[key]].str.strip(), columns[key]
    names = ", ".join(str(c) for c in table.columns)
    expected = "Date, Timestamp, Datetime, Time or an unnamed first column"
    raise data_error(where, f"no date column (expected {expected}; columns: {names})")


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
    if not values.iloc[:_SAMPLE_ROWS].str.contains(_ZONE_ANY).all() or not values.str.contains(_ZONE_ANY).all():
        return values, None
    found = values.str.extract(_ZONE.pattern)
    sign = found[0].map({"+": 1, "-": -1}).fillna(0)
    minutes = found[1].fillna("0").astype(int) * 60 + found[2].fillna("0").astype(int)
    return values.str.replace(_ZONE.pattern, "", regex=True), pd.to_timedelta(sign * minutes, unit="min")


def _parse_timestamps(values: pd.Series, label: str, where: str, warn: bool = True) -> pd.Series:
    """Robustly parse timestamps; raise naming the first bad value and its line."""
    missing = values.isna() | (values == "")
    if missing.any():
        raise data_error(where, f"missing timestamp in column {label} at line {missing.idxmax()}")
    original = values
    if values.iloc[:_SAMPLE_ROWS].str.contains(r"\s\s|^\s|\s$").any() or values.str.contains("  ", regex=False).any():
        values = values.str.split().str.join(" ")
    if values.str.fullmatch(r"\d+(\.\d+)?").all():
        parsed = _parse_digits(values)
        if parsed is not None:
            return parsed
    values, offsets = _split_zone(values)
    formats = ("ISO8601",) + _EXPLICIT_FORMATS
    sample = values.iloc[:_SAMPLE_ROWS]
    for fmt in formats:
        if _try_format(sample, fmt).notna().all():
            parsed = _try_format(values, fmt)
            if parsed.notna().all():
                if warn:
                    _warn_if_ambiguous(values, fmt, where)
                return parsed if offsets is None else parsed - offsets
    best = max(formats, key=lambda fmt: int(_try_format(sample, fmt).notna().sum()))
    line = _try_format(values, best).isna().idxmax()
    raise data_error(where, f"unparsable timestamp {_show(original[line])} in column {label} at line {line}")


def _to_float(series: pd.Series, column: str, sep: str, where: str) -> pd.Series:
    """Numbers from strings ($ and spaces stripped; decimal comma for ; or TAB files)."""
    text = series.str.strip().str.replace("$", "", regex=False)
    numbers = pd.to_numeric(text, errors="coerce")
    if sep != "," and (numbers.isna() & text.notna()).any():
        numbers = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
    bad = (numbers.isna() & text.notna() & (text != "")) | np.isinf(numbers)
    if bad.any():
        line = bad.idxmax()
        raise data_error(where, f"non-numeric value {_show(series[line])} in column {column} at line {line}")
    return numbers.astype(np.float64)


def _check_missing(values: pd.Series, column: str, where: str) -> None:
    """Raise when a required price column has missing values."""
    missing = values.isna()
    if missing.any():
        count, line = int(missing.sum()), missing.idxmax()
        raise data_error(where, f"{count} rows with missing price in column {column} (first at line {line})")


def _check_positive(numbers: dict[str, pd.Series], columns: dict[str, str], where: str) -> None:
    """Raise on the first (by line) non-positive price or negative volume."""
    for key, fault in (("price", "non-positive price"), ("volume", "negative volume")):
        keys = ("open", "high", "low", "close", "adjclose") if key == "price" else ("volume",)
        firsts = []
        for name in (k for k in keys if k in numbers):
            values = numbers[name]
            bad = values < 0 if key == "volume" else values <= 0
            if bad.any():
                firsts.append((bad.idxmax(), name))
        if firsts:
            line, name = min(firsts)
            raise data_error(where, f"{fault} {numbers[name][line]:g} in column {columns[name]} at line {line}")


def _show_stamp(stamp: pd.Timestamp) -> str:
    """A timestamp as text; midnight shows as the date alone."""
    return str(stamp.date()) if stamp == stamp.normalize() else str(stamp)


def _check_duplicates(stamps: pd.Series, where: str) -> None:
    """Raise naming the first repeated timestamp and the lines where it occurs."""
    repeated = stamps.duplicated(keep="first")
    if repeated.any():
        second = repeated.idxmax()
        first = (stamps == stamps[second]).idxmax()
        raise data_error(where, f"duplicate timestamp {_show_stamp(stamps[second])} at lines {first} and {second}")


def _price_columns(
    numbers: dict[str, pd.Series], columns: dict[str, str], use_adjusted: bool, where: str
) -> dict[str, np.ndarray]:
    """open/high/low/close/volume arrays; adjusted when asked and available; gaps filled with close."""
    close = numbers["close"]
    ratio = pd.Series(1.0, index=close.index)
    if use_adjusted and "adjclose" in numbers:
        log.info("%s: using adjusted prices (%s); open/high/low scaled by adjusted/close", where, columns["adjclose"])
        ratio = numbers["adjclose"] / close
        close = numbers["adjclose"]
    out = {"close": close.to_numpy()}
    for name in ("open", "high", "low"):
        values = numbers[name] * ratio if name in numbers else close
        if name in numbers and values.isna().any():
            count = int(values.isna().sum())
            log.warning("%s: %d missing values in column %s filled with close", where, count, columns[name])
        out[name] = values.fillna(close).to_numpy()
    out["volume"] = numbers["volume"].to_numpy() if "volume" in numbers else np.full(len(close), np.nan)
    return out


def load_csv(path: str | os.PathLike, use_adjusted: bool = True) -> pd.DataFrame:
    """Load an OHLCV CSV (Yahoo, broker exports, ``DataFrame.to_csv``) into the standard frame.

    Error messages name file lines (the header is line 1). Only ``close`` is required.
    """
    where = shown_path(path)
    table, sep = _read_table(Path(path), where)
    columns = _find_columns(table)
    raw_stamps, label = _timestamp_values(table, columns, where)
    if "close" not in columns and not (use_adjusted and "adjclose" in columns):
        names = ", ".join(str(c) for c in table.columns)
        raise data_error(where, f"no close column (columns: {names})")
    if "close" not in columns:
        columns["close"] = columns["adjclose"]
    stamps = _parse_timestamps(raw_stamps, label, where)
    _check_duplicates(stamps, where)
    numeric = ("open", "high", "low", "close", "adjclose", "volume")
    numbers = {k: _to_float(table[columns[k]], columns[k], sep, where) for k in numeric if k in columns}
    _check_missing(numbers["close"], columns["close"], where)
    if use_adjusted and "adjclose" in numbers:
        _check_missing(numbers["adjclose"], columns["adjclose"], where)
    _check_positive(numbers, columns, where)
    if len(table) < 2:
        raise data_error(where, f"only {len(table)} data row; need at least 2")
    frame = finish_frame(pd.DatetimeIndex(stamps), _price_columns(numbers, columns, use_adjusted, where))
    if not frame.index.is_monotonic_increasing:
        log.warning("%s: rows were not in chronological order; sorted them by timestamp", where)
        frame = frame.sort_index(kind="stable")
    return frame


# ----------------------------------------------------------------------------------------------
# Frequency and entry point
# ----------------------------------------------------------------------------------------------

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

