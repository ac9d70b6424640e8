"""Tests of hpo_app.data: synthetic prices, CSV loading in real-world layouts, bar frequency."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpo_app.data import (
    PRICE_COLUMNS,
    DataError,
    load_csv,
)
from hpo_app.timestamps import infer_periods_per_year
from hpo_app.market import MarketData, load_market_data
from hpo_app.schema import DataConf
from hpo_app.synthetic import synthetic_prices

FIXTURES = Path(__file__).parent / "fixtures"

# Five bars written to every layout test: (timestamp, open, high, low, close, volume).
BARS = [
    ("2020-01-27", 10.0, 11.0, 9.5, 10.5, 1000.0),
    ("2020-01-28", 10.5, 11.5, 10.0, 11.0, 1100.0),
    ("2020-01-29", 11.0, 11.25, 10.25, 10.75, 900.0),
    ("2020-01-30", 10.75, 12.0, 10.5, 11.5, 1500.0),
    ("2020-01-31", 11.5, 11.75, 11.0, 11.25, 1200.0),
]
STAMPS = pd.DatetimeIndex([b[0] for b in BARS])


def _write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _csv(header: str, stamps: list[str], fields: str = "ohlcv") -> str:
    """CSV text of BARS with the given header, timestamp strings and value fields."""
    pick = {"o": 1, "h": 2, "l": 3, "c": 4, "v": 5}
    rows = [",".join([s] + [f"{bar[pick[f]]:g}" for f in fields]) for s, bar in zip(stamps, BARS)]
    return "\n".join([header] + rows) + "\n"


def _assert_bars(frame: pd.DataFrame, stamps: pd.DatetimeIndex = STAMPS, volume: bool = True) -> None:
    assert list(frame.columns) == list(PRICE_COLUMNS)
    assert (frame.dtypes == np.float64).all()
    assert frame.index.name == "timestamp" and frame.index.tz is None
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    pd.testing.assert_index_equal(frame.index, pd.DatetimeIndex(stamps, name="timestamp").as_unit("ns"))
    expected = np.array([bar[1:] for bar in BARS])
    np.testing.assert_allclose(frame[["open", "high", "low", "close"]].to_numpy(), expected[:, :4])
    if volume:
        np.testing.assert_allclose(frame["volume"].to_numpy(), expected[:, 4])


# --------------------------------------------------------------------------------------------
# synthetic
# --------------------------------------------------------------------------------------------


def test_synthetic_is_reproducible_and_seeded() -> None:
    a, b, c = (synthetic_prices(n_bars=3000, seed=s) for s in (3, 3, 4))
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["close"].to_numpy(), c["close"].to_numpy())


def test_synthetic_shape_and_consistency() -> None:
    frame = synthetic_prices(n_bars=1234, seed=1, start="2015-06-01")
    assert len(frame) == 1234
    assert list(frame.columns) == list(PRICE_COLUMNS) and (frame.dtypes == np.float64).all()
    assert frame.index.name == "timestamp" and frame.index[0] == pd.Timestamp("2015-06-01")
    assert (frame.index.day_of_week < 5).all() and frame.index.is_monotonic_increasing
    assert (frame[["open", "high", "low", "close", "volume"]] > 0).all().all()
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()


def test_synthetic_is_fast() -> None:
    synthetic_prices(n_bars=3000, seed=0)
    start = time.perf_counter()
    synthetic_prices(n_bars=3000, seed=7)
    assert time.perf_counter() - start < 0.1


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_synthetic_has_regimes(seed: int) -> None:
    frame = synthetic_prices(n_bars=3000, seed=seed)
    log_close = np.log(frame["close"])
    returns = log_close.diff()
    daily_vol = returns.std()
    assert 0.006 < daily_vol < 0.02  # 10% .. 32% annualized
    rolling_vol = returns.rolling(60).std().dropna()
    assert rolling_vol.max() >= 2 * rolling_vol.min()
    drift = log_close.diff(120).dropna()
    assert drift.max() > 0.05 and drift.min() < -0.05
    # volume is higher when volatility is high
    high_vol = rolling_vol > rolling_vol.median()
    volume = frame["volume"].loc[rolling_vol.index]
    assert volume[high_vol].mean() > volume[~high_vol].mean()


def test_synthetic_rejects_too_few_bars() -> None:
    with pytest.raises(DataError, match="^synthetic data: n_bars"):
        synthetic_prices(n_bars=1, seed=0)


# --------------------------------------------------------------------------------------------
# CSV layouts
# --------------------------------------------------------------------------------------------


def test_yahoo_layout_uses_adjusted_close(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [f"{s},{o},{h},{lo},{c},{c / 2},{v:.0f}" for s, o, h, lo, c, v in BARS]
    path = _write(tmp_path, "Date,Open,High,Low,Close,Adj Close,Volume\n" + "\n".join(rows) + "\n")
    with caplog.at_level(logging.INFO, logger="hpo_app.data"):
        adjusted = load_csv(path)
    assert any("adjusted" in r.getMessage() for r in caplog.records)
    raw = np.array([bar[1:5] for bar in BARS])
    np.testing.assert_allclose(adjusted[["open", "high", "low", "close"]].to_numpy(), raw / 2)
    _assert_bars(load_csv(path, use_adjusted=False))


@pytest.mark.parametrize("header", [
    "date,open,high,low,close,volume",
    "timestamp,open,high,low,close,volume",
    " Datetime , OPEN , High , Low , Close , Volume ",
    "time,open,high,low,close,vol",
    "<DATE>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>",
])
def test_column_names_case_and_spacing(tmp_path: Path, header: str) -> None:
    _assert_bars(load_csv(_write(tmp_path, _csv(header, [b[0] for b in BARS]))))


def test_adj_close_name_variants(tmp_path: Path) -> None:
    for header in ("date,close,adj_close", "Date,Close,adjclose", "Date,Close,Adj. Close"):
        rows = "\n".join(f"{b[0]},{b[4]},{b[4] * 2}" for b in BARS)
        frame = load_csv(_write(tmp_path, f"{header}\n{rows}\n"))
        np.testing.assert_allclose(frame["close"].to_numpy(), [b[4] * 2 for b in BARS])


def test_pandas_to_csv_output_with_unnamed_index(tmp_path: Path) -> None:
    original = pd.DataFrame(
        {"Open": [b[1] for b in BARS], "High": [b[2] for b in BARS], "Low": [b[3] for b in BARS],
         "Close": [b[4] for b in BARS], "Volume": [b[5] for b in BARS]},
        index=STAMPS,
    )
    path = tmp_path / "frame.csv"
    original.to_csv(path)
    assert path.read_text().startswith(",Open")
    _assert_bars(load_csv(path))


def test_close_only_fills_open_high_low_and_volume_is_nan(tmp_path: Path) -> None:
    frame = load_csv(_write(tmp_path, _csv("Date,Close", [b[0] for b in BARS], "c")))
    assert list(frame.columns) == list(PRICE_COLUMNS)
    for column in ("open", "high", "low"):
        np.testing.assert_array_equal(frame[column].to_numpy(), frame["close"].to_numpy())
    assert frame["volume"].isna().all()


DATE_FORMATS = [
    ("%Y-%m-%d", "2020-01-27"),
    ("%m/%d/%Y", "01/27/2020"),
    ("%d.%m.%Y", "27.01.2020"),
    ("%Y%m%d", "20200127"),
    ("%d/%m/%Y", "27/01/2020"),
    ("%Y/%m/%d", "2020/01/27"),
]


@pytest.mark.parametrize(("fmt", "example"), DATE_FORMATS)
def test_date_formats(tmp_path: Path, fmt: str, example: str) -> None:
    stamps = [STAMPS[i].strftime(fmt) for i in range(len(BARS))]
    assert stamps[0] == example
    _assert_bars(load_csv(_write(tmp_path, _csv("Date,Open,High,Low,Close,Volume", stamps))))


def test_ambiguous_day_month_prefers_month_first(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stamps = ["01/02/2020", "01/03/2020", "01/06/2020", "01/07/2020", "01/08/2020"]
    with caplog.at_level(logging.WARNING, logger="hpo_app.data"):
        frame = load_csv(_write(tmp_path, _csv("Date,Open,High,Low,Close,Volume", stamps)))
    assert frame.index[0] == pd.Timestamp("2020-01-02") and frame.index[-1] == pd.Timestamp("2020-01-08")
    assert any("ambiguous" in r.getMessage() for r in caplog.records)


def test_day_first_when_only_it_parses_every_row(tmp_path: Path) -> None:
    stamps = ["10/01/2020", "11/01/2020", "12/01/2020", "13/01/2020", "14/01/2020"]
    frame = load_csv(_write(tmp_path, _csv("Date,Open,High,Low,Close,Volume", stamps)))
    assert list(frame.index.day) == [10, 11, 12, 13, 14] and (frame.index.month == 1).all()


def test_intraday_with_seconds_and_iso_t(tmp_path: Path) -> None:
    stamps = [f"2020-01-31 09:{30 + 5 * i}:00" for i in range(5)]
    frame = load_csv(_write(tmp_path, _csv("Datetime,Open,High,Low,Close,Volume", stamps)))
    _assert_bars(frame, pd.DatetimeIndex(stamps))
    iso_t = [s.replace(" ", "T") for s in stamps]
    _assert_bars(load_csv(_write(tmp_path, _csv("Datetime,Open,High,Low,Close,Volume", iso_t))), pd.DatetimeIndex(stamps))


def test_timezone_aware_iso_is_converted_to_naive_utc(tmp_path: Path) -> None:
    stamps = [f"2020-01-31 09:{30 + 5 * i}:00-05:00" for i in range(5)]
    frame = load_csv(_write(tmp_path, _csv("Datetime,Open,High,Low,Close,Volume", stamps)))
    expected = pd.DatetimeIndex([f"2020-01-31 14:{30 + 5 * i}:00" for i in range(5)])
    _assert_bars(frame, expected)


def test_unix_epoch_seconds_and_milliseconds(tmp_path: Path) -> None:
    seconds = [str(int(ts.timestamp())) for ts in STAMPS]
    _assert_bars(load_csv(_write(tmp_path, _csv("timestamp,open,high,low,close,volume", seconds))))
    millis = [s + "000" for s in seconds]
    _assert_bars(load_csv(_write(tmp_path, _csv("timestamp,open,high,low,close,volume", millis))))


def test_separate_date_and_time_columns(tmp_path: Path) -> None:
    rows = "\n".join(f"2020-01-31,09:{30 + 5 * i}:00,{b[4]}" for i, b in enumerate(BARS))
    frame = load_csv(_write(tmp_path, f"Date,Time,Close\n{rows}\n"))
    assert frame.index[1] == pd.Timestamp("2020-01-31 09:35:00")


def test_semicolon_file_with_decimal_comma(tmp_path: Path) -> None:
    rows = "\n".join(f"{STAMPS[i]:%d.%m.%Y};{str(b[4]).replace('.', ',')}" for i, b in enumerate(BARS))
    frame = load_csv(_write(tmp_path, f"Datum;Close\n{rows}\n".replace("Datum", "Date")))
    np.testing.assert_allclose(frame["close"].to_numpy(), [b[4] for b in BARS])


# Broker and exchange exports: hourly forex bars as their tools write them (13 January 2020, 00:00 UTC on:
# a day above 12, so that day-first layouts are not ambiguous).
HOURS = pd.date_range("2020-01-13 00:00", periods=len(BARS), freq="h")


def _rows(stamps: list[str], sep: str = ",", fields: str = "ohlcv") -> list[str]:
    pick = {"o": 1, "h": 2, "l": 3, "c": 4, "v": 5}
    return [sep.join([s] + [f"{bar[pick[f]]:g}" for f in fields]) for s, bar in zip(stamps, BARS)]


@pytest.mark.parametrize(("header", "fmt"), [
    ("Gmt time,Open,High,Low,Close,Volume", "%d.%m.%Y %H:%M:%S.000"),  # Dukascopy
    ("Time (UTC),Open,High,Low,Close,Volume", "%Y.%m.%d %H:%M:%S"),  # MetaTrader-style, Dukascopy JForex
    ("Date,Open,High,Low,Close,Volume", "%m/%d/%Y %I:%M:%S %p"),  # US spreadsheet export: 01/13/2020 12:00:00 AM
    ("Date,Open,High,Low,Close,Volume", "%d/%m/%Y %H:%M:%S.%f"),  # day/month/year with microseconds
    ("DateTime,Open,High,Low,Close,Volume", "%Y%m%d  %H:%M:%S"),  # Interactive Brokers: two spaces
])
def test_forex_timestamps_with_time_of_day_and_fractions(tmp_path: Path, header: str, fmt: str) -> None:
    stamps = [t.strftime(fmt) for t in HOURS]
    frame = load_csv(_write(tmp_path, "\n".join([header, *_rows(stamps)]) + "\n"))
    _assert_bars(frame, HOURS)
    assert infer_periods_per_year(frame.index) > 252  # intraday, not daily


def test_dukascopy_local_time_with_its_gmt_offset_is_converted_to_utc(tmp_path: Path) -> None:
    stamps = [(t + pd.Timedelta(hours=1)).strftime("%d.%m.%Y %H:%M:%S.000 GMT+0100") for t in HOURS]
    assert stamps[0] == "13.01.2020 01:00:00.000 GMT+0100"
    _assert_bars(load_csv(_write(tmp_path, "\n".join(["Local time,Open,High,Low,Close,Volume", *_rows(stamps)]) + "\n")), HOURS)
    west = [(t - pd.Timedelta(hours=5)).strftime("%d.%m.%Y %H:%M:%S.000 GMT-0500") for t in HOURS]
    _assert_bars(load_csv(_write(tmp_path, "\n".join(["Local time,Open,High,Low,Close,Volume", *_rows(west)]) + "\n")), HOURS)


def test_histdata_file_without_header_semicolons(tmp_path: Path) -> None:
    stamps = [t.strftime("%Y%m%d %H%M%S") for t in HOURS]
    assert stamps[0] == "20200113 000000"
    frame = load_csv(_write(tmp_path, "\n".join(_rows(stamps, sep=";")) + "\n"))
    _assert_bars(frame, HOURS)


def test_metatrader_history_without_header_date_and_time_columns(tmp_path: Path) -> None:
    rows = [f"{t:%Y.%m.%d},{t:%H:%M},{r.split(',', 1)[1]}" for t, r in zip(HOURS, _rows(["x"] * len(BARS)))]
    assert rows[0].startswith("2020.01.13,00:00,10,11,9.5,10.5,1000")
    _assert_bars(load_csv(_write(tmp_path, "\n".join(rows) + "\n")), HOURS)


def test_metatrader5_export_with_angle_bracket_header_and_tabs(tmp_path: Path) -> None:
    header = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>"
    rows = [f"{t:%Y.%m.%d}\t{t:%H:%M:%S}\t" + "\t".join(f"{x:g}" for x in b[1:5]) + f"\t{b[5]:g}\t0\t12"
            for t, b in zip(HOURS, BARS)]
    frame = load_csv(_write(tmp_path, "\n".join([header, *rows]) + "\n"))
    pd.testing.assert_index_equal(frame.index, pd.DatetimeIndex(HOURS, name="timestamp").as_unit("ns"))
    np.testing.assert_allclose(frame["close"].to_numpy(), [b[4] for b in BARS])


def test_header_less_date_and_time_columns_without_volume(tmp_path: Path) -> None:
    rows = [f"{t:%Y.%m.%d},{t:%H:%M}," + ",".join(f"{x:g}" for x in b[1:5]) for t, b in zip(HOURS, BARS)]
    _assert_bars(load_csv(_write(tmp_path, "\n".join(rows) + "\n")), HOURS, volume=False)


def test_date_column_with_a_time_of_day_column_named_time_utc(tmp_path: Path) -> None:
    rows = [f"{t:%Y-%m-%d},{t:%H:%M},{r.split(',', 1)[1]}" for t, r in zip(HOURS, _rows(["x"] * len(BARS)))]
    _assert_bars(load_csv(_write(tmp_path, "\n".join(["Date,Time (UTC),Open,High,Low,Close,Volume", *rows]) + "\n")), HOURS)


def test_header_less_check_does_not_warn_about_its_one_cell(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stamps = ["01/02/2020", "13/02/2020", "14/02/2020", "17/02/2020", "18/02/2020"]  # day-first: 13 is a day
    with caplog.at_level(logging.WARNING, logger="hpo_app.data"):
        frame = load_csv(_write(tmp_path, "\n".join(_rows(stamps)) + "\n"))
    assert frame.index[0] == pd.Timestamp("2020-02-01")
    assert not [r for r in caplog.records if "ambiguous" in r.getMessage()]


def test_a_bad_stamp_among_fractional_ones_is_named_with_its_line(tmp_path: Path) -> None:
    stamps = [t.strftime("%d.%m.%Y %H:%M:%S.000") for t in HOURS]
    stamps[3] = "13.01.2020 25:00:00.000"
    with pytest.raises(DataError, match=r"unparsable timestamp '13.01.2020 25:00:00.000' in column Gmt time at line 5$"):
        load_csv(_write(tmp_path, "\n".join(["Gmt time,Open,High,Low,Close,Volume", *_rows(stamps)]) + "\n"))


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    text = _csv("Date,Open,High,Low,Close,Volume", [b[0] for b in BARS]).replace("\n2020-01-29", "\n\n2020-01-29")
    _assert_bars(load_csv(_write(tmp_path, text)))


def test_fixture_yahoo_sample() -> None:
    path = FIXTURES / "spy_daily_sample.csv"
    frame = load_csv(path)
    raw = pd.read_csv(path)
    assert len(frame) == len(raw) == 400
    np.testing.assert_allclose(frame["close"].to_numpy(), raw["Adj Close"].to_numpy())
    ratio = (raw["Adj Close"] / raw["Close"]).to_numpy()
    np.testing.assert_allclose(frame["high"].to_numpy(), raw["High"].to_numpy() * ratio)
    np.testing.assert_allclose(frame["volume"].to_numpy(), raw["Volume"].to_numpy())
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1) - 1e-9).all()
    assert infer_periods_per_year(frame.index) == 252


def test_unsorted_rows_are_sorted_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    order = [3, 0, 4, 1, 2]
    rows = _csv("Date,Open,High,Low,Close,Volume", [b[0] for b in BARS]).splitlines()
    path = _write(tmp_path, "\n".join([rows[0]] + [rows[1 + i] for i in order]) + "\n", "unsorted.csv")
    with caplog.at_level(logging.WARNING, logger="hpo_app.data"):
        frame = load_csv(path)
    _assert_bars(frame)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("unsorted.csv" in r.getMessage() and "sorted" in r.getMessage() for r in warnings)


# --------------------------------------------------------------------------------------------
# bad input: one-line DataError naming the file and the fault
# --------------------------------------------------------------------------------------------

HEADER = "Date,Open,High,Low,Close,Volume\n"
GOOD = "2020-01-02,1,2,0.5,1.5,100\n2020-01-03,1.5,2,1,1.8,200\n"

BAD_FILES = [
    ("empty", "", "empty file"),
    ("blank lines only", "\n\n\n", "empty file"),
    ("header only", HEADER, "no data rows"),
    ("ragged rows", HEADER + "2020-01-02,1,2,0.5,1.5,100\n2020-01-03,1,2,3,4,5,6,7\n", "not parseable as CSV"),
    ("no date column", "Open,Close\n1,2\n3,4\n", "no date column"),
    ("no close column", "Date,Open,Volume\n2020-01-02,1,100\n2020-01-03,2,100\n",
     "no close column (columns: Date, Open, Volume)"),
    ("unparsable timestamp", HEADER + GOOD + "yesterday,1,2,0.5,1.5,100\n",
     "unparsable timestamp 'yesterday' in column Date at line 4"),
    ("missing timestamp", HEADER + GOOD + ",1,2,0.5,1.5,100\n", "missing timestamp in column Date at line 4"),
    ("duplicate timestamp", HEADER + GOOD + "2020-01-02,1,2,0.5,1.5,100\n",
     "duplicate timestamp 2020-01-02 at lines 2 and 4"),
    ("missing close", HEADER + GOOD + "2020-01-06,1,2,0.5,,100\n2020-01-07,1,2,0.5,null,100\n",
     "2 rows with missing price in column Close (first at line 4)"),
    ("zero close", HEADER + GOOD + "2020-01-06,1,2,0.5,0,100\n", "non-positive price 0 in column Close at line 4"),
    ("negative low", HEADER + "2020-01-02,1,2,-0.5,1.5,100\n" + "2020-01-03,1,2,0.5,1.5,100\n",
     "non-positive price -0.5 in column Low at line 2"),
    ("negative volume", HEADER + GOOD + "2020-01-06,1,2,0.5,1.5,-7\n", "negative volume -7 in column Volume at line 4"),
    ("non-numeric price", HEADER + GOOD + "2020-01-06,1,2,0.5,abc,100\n", "non-numeric value 'abc' in column Close at line 4"),
    ("single row", HEADER + "2020-01-02,1,2,0.5,1.5,100\n", "only 1 data row"),
]


@pytest.mark.parametrize(("content", "expected"), [(c, e) for _, c, e in BAD_FILES], ids=[i for i, _, _ in BAD_FILES])
def test_bad_files_raise_one_line_error(tmp_path: Path, content: str, expected: str) -> None:
    path = _write(tmp_path, content, "bad_prices.csv")
    with pytest.raises(DataError) as info:
        load_csv(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path) + ": ")
    assert expected in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError, match="nope.csv: file not found$"):
        load_csv(path)


def test_a_pipe_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """A FIFO (or /dev/zero) read as a CSV file would wait, or read, for ever."""
    fifo = tmp_path / "prices.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match=r"prices.csv: not a regular file \(a device or a pipe\?\)"):
        load_csv(fifo)


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "blob.csv"
    path.write_bytes(b"\xff\xfe\x00\x81\x92" * 50)
    with pytest.raises(DataError) as info:
        load_csv(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------
# bar frequency and the entry point
# --------------------------------------------------------------------------------------------


def _intraday_index(bars_per_day: int, days: int = 5) -> pd.DatetimeIndex:
    sessions = pd.bdate_range("2020-01-06", periods=days)
    return pd.DatetimeIndex([
        day + pd.Timedelta(hours=9, minutes=30) + pd.Timedelta(minutes=5 * i)
        for day in sessions for i in range(bars_per_day)
    ])


@pytest.mark.parametrize(("index", "expected"), [
    (pd.bdate_range("2020-01-01", periods=300), 252.0),
    (pd.date_range("2020-01-03", periods=100, freq="W-FRI"), 52.0),
    (pd.date_range("2020-01-31", periods=48, freq="ME"), 12.0),
    (pd.date_range("2020-01-01", periods=400, freq="D"), 365.0),
    (_intraday_index(78), 252.0 * 78),
])
def test_infer_periods_per_year(index: pd.DatetimeIndex, expected: float) -> None:
    assert infer_periods_per_year(index) == expected


def test_intraday_five_minute_csv(tmp_path: Path) -> None:
    index = _intraday_index(78, days=3)
    rows = "\n".join(f"{ts:%Y-%m-%d %H:%M:%S},{100 + i * 0.01:.2f},{1000 + i}" for i, ts in enumerate(index))
    frame = load_csv(_write(tmp_path, f"Datetime,Close,Volume\n{rows}\n"))
    assert len(frame) == 78 * 3
    assert frame.index[1] - frame.index[0] == pd.Timedelta(minutes=5)
    assert infer_periods_per_year(frame.index) == 252 * 78


def test_load_market_data_synthetic() -> None:
    data = load_market_data(DataConf(source="synthetic", n_bars=500, seed=2))
    assert isinstance(data, MarketData)
    assert data.source == "synthetic(n_bars=500, seed=2)"
    assert data.periods_per_year == 252.0
    pd.testing.assert_frame_equal(data.prices, synthetic_prices(n_bars=500, seed=2))


def test_load_market_data_csv(tmp_path: Path) -> None:
    path = _write(tmp_path, _csv("Date,Open,High,Low,Close,Volume", [b[0] for b in BARS]))
    data = load_market_data(DataConf(source="csv", path=str(path)))
    assert data.source == str(path.resolve())
    _assert_bars(data.prices)
