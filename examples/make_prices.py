"""Write ``examples/prices.csv``: the example's price file, in Yahoo Finance's download layout.

It is NOT real market data (this project's machines have no internet): 2,000 business days of the
planted-edge market (``hpo_app.synthetic.edge_prices``: AR(1) daily log returns, coefficient 0.15, 1 %
volatility, seed 11), so that the example has something real to find and a known answer. Replace
it with your own file; any CSV with a date column and OHLC(V) columns works (docs/guide.md, Market data).

    python examples/make_prices.py
"""

from __future__ import annotations

from pathlib import Path

from hpo_app.synthetic import edge_prices

OUT = Path(__file__).with_name("prices.csv")


def main() -> None:
    prices = edge_prices(2000, seed=11, edge=0.15, vol=0.01)
    table = prices.rename(columns=str.title).rename_axis("Date")
    table.insert(4, "Adj Close", table["Close"])
    table["Volume"] = table["Volume"].round().astype("int64")
    table.to_csv(OUT, float_format="%.4f", date_format="%Y-%m-%d")
    print(f"wrote {len(table)} rows to {OUT}")


if __name__ == "__main__":
    main()
