"""Market data: a forgiving OHLCV CSV loader and the bar frequency of a series (the synthetic series
are :mod:`hpo_app.synthetic`; the source a run asks for is :mod:`hpo_app.market`).

Every loader returns the same frame: a tz-naive ``DatetimeIndex`` named ``timestamp``
(nanosecond unit, strictly increasing, unique) and float64 columns
``open, high, low, close, volume``. Bad input raises :class:`DataError`, whose message is one
line that starts with the file path (or ``synthetic data``) and names the fault.

A file without a header row whose first cell is a timestamp and whose other cells are numbers is
read as timestamp (or date, time), open, high, low, close [, volume] (HistData's and MetaTrader's
history exports). Timestamps and the bar frequency: :mod:`hpo_app.timestamps`.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from hpo_app.data_errors import DataError, data_error, show_cell
from hpo_app.fmt import path as shown_path
from hpo_app.timestamps import SAMPLE_ROWS, check_duplicates, parse_timestamps

__all__ = ["DataError", "PRICE_COLUMNS", "data_error", "finish_frame", "load_csv"]

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
    if not path.is_file():  # a device, a pipe, a socket: read, it might never end
        raise data_error(where, "not a regular file (a device or a pipe?), not a CSV file")
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
        parse_timestamps(stamp, names[0], "", warn=False)
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
        head = table[columns["timestamp"]].iloc[:SAMPLE_ROWS].str.strip()
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


def _to_float(series: pd.Series, column: str, sep: str, where: str) -> pd.Series:
    """Numbers from strings ($ and spaces stripped; decimal comma for ; or TAB files)."""
    text = series.str.strip().str.replace("$", "", regex=False)
    numbers = pd.to_numeric(text, errors="coerce")
    if sep != "," and (numbers.isna() & text.notna()).any():
        numbers = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
    bad = (numbers.isna() & text.notna() & (text != "")) | np.isinf(numbers)
    if bad.any():
        line = bad.idxmax()
        raise data_error(where, f"non-numeric value {show_cell(series[line])} in column {column} at line {line}")
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
    stamps = parse_timestamps(raw_stamps, label, where)
    check_duplicates(stamps, where)
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
