"""The market a run trains on: ``data.source`` (``hpo_app.schema.DataConf``) to prices and their
bar frequency: the generated markets of :mod:`hpo_app.synthetic`, or a CSV file (:mod:`hpo_app.data`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hpo_app.data import load_csv
from hpo_app.timestamps import infer_periods_per_year
from hpo_app.fmt import path as shown_path
from hpo_app.schema import DataConf
from hpo_app.synthetic import edge_prices, synthetic_prices

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MarketData:
    """Prices plus where they came from and how many bars make a year."""

    prices: pd.DataFrame
    source: str
    periods_per_year: float


def load_market_data(data: DataConf) -> MarketData:
    """Prices from ``data.source`` (edge, synthetic or csv; checked by ``hpo_app.checks``)."""
    if data.source == "synthetic":
        prices = synthetic_prices(n_bars=data.n_bars, seed=data.seed)
        label = f"synthetic(n_bars={data.n_bars}, seed={data.seed})"
    elif data.source == "edge":
        prices = edge_prices(n_bars=data.n_bars, seed=data.seed, edge=data.edge, vol=data.vol, shape=data.shape,
                             lag=data.lag)
        shape = "" if data.shape == "momentum" else f", shape={data.shape}" + (f", lag={data.lag}" if data.shape == "lag" else "")
        label = f"edge(n_bars={data.n_bars}, seed={data.seed}, edge={data.edge}, vol={data.vol}{shape})"
    else:
        resolved = Path(str(data.path)).expanduser().resolve()
        prices = load_csv(resolved, use_adjusted=data.use_adjusted)
        label = shown_path(resolved)
    periods = infer_periods_per_year(prices.index)
    log.info("loaded %d bars from %s (%g periods per year)", len(prices), label, periods)
    return MarketData(prices=prices, source=label, periods_per_year=periods)
