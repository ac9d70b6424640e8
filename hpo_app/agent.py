"""A bundled agent (``hpo_app.bundle``) run over prices it may never have seen: causal, with the
bundle's own scaler, from flat at the first decision, net of the bundle's costs, beside buy-and-hold
and staying flat. ``python -m hpo_app.apply`` and :func:`hpo_app.api.load_agent` use it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpo_app.bundle import Bundle, BundleError, read
from hpo_app.timestamps import infer_periods_per_year
from hpo_app.metrics import compute_metrics, equity_curve
from hpo_app.trading_env import TradingEnv, constant_position_record, model_actions, run_deterministic
from hpo_record import files


@dataclass(frozen=True)
class Applied:
    """What the agent did: per decision bar, its position and equity beside the baselines; metrics."""

    frame: pd.DataFrame  # timestamp, position, agent, buy_and_hold, flat (equity from 1.0)
    metrics: dict[str, dict[str, float]]  # agent / buy_and_hold / flat -> metric -> value


class Agent:
    def __init__(self, bundle: Bundle) -> None:
        from hpo_app.models import algorithm_class

        self.bundle = bundle
        path = bundle.path / files.MODEL_FILE
        try:
            self.model = algorithm_class(bundle.spec["model"]).load(path, device="cpu")
        except (AssertionError, AttributeError, EOFError, KeyError, RuntimeError, ValueError) as err:  # SB3, torch, zipfile
            raise BundleError(f"{path}: cannot be loaded as the bundle's {str(bundle.spec['model']).upper()} model "
                              f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}): "
                              "cut short, or not this bundle's model? export it again") from None

    @classmethod
    def load(cls, path: str | Path) -> Agent:
        return cls(read(path))

    def check(self, prices: pd.DataFrame, where: str, start: int) -> None:
        """Refuse, in one line, prices whose columns, spacing or length do not fit the bundle."""
        if "close" not in prices.columns or not isinstance(prices.index, pd.DatetimeIndex):
            raise BundleError(f"{where}: prices need a close column on a time index (got columns {list(prices.columns)})")
        wanted = float(self.bundle.spec["periods_per_year"])
        got = infer_periods_per_year(prices.index)
        if got != wanted:
            raise BundleError(f"{where}: its bars come {got:g} to a year, the agent's {wanted:g}: it was trained on "
                              "another bar spacing")
        if len(prices) - 1 - start < 2:
            raise BundleError(f"{where}: {len(prices)} bars leave {max(len(prices) - 1 - start, 0)} decisions after the "
                              f"{start} bars the features and the window need first")

    def run(self, prices: pd.DataFrame, start: Any = None, where: str = "prices") -> Applied:
        """Decisions from ``start`` (a timestamp; default: the first bar with features) to the last
        bar but one; the bars before ``start`` only feed the features."""
        first = max(self.bundle.spec["features"]["warmup_bars"], self.bundle.window - 1)
        if start is not None:
            try:
                at = int(prices.index.searchsorted(pd.Timestamp(start)))
            except (ValueError, TypeError):
                raise BundleError(f"--start {start}: not a date (e.g. 2024-01-31)") from None
            if at < first:
                raise BundleError(f"{where}: --start {start} leaves {at} bars before it; the features need {first}")
            first = at
        self.check(prices, where, first)
        close = prices["close"].to_numpy(dtype=np.float64)
        env_spec = self.bundle.spec["env"]
        env = TradingEnv(self.bundle.scale(prices), close, first, len(prices) - 1, window=self.bundle.window,
                         cost_bps=env_spec["cost_bps"], allow_short=env_spec["allow_short"])
        episode = run_deterministic(env, model_actions(self.model))
        ppy = float(self.bundle.spec["periods_per_year"])
        baselines = {name: constant_position_record(close, first, len(prices) - 1, p, env_spec["cost_bps"])
                     for name, p in (("buy_and_hold", 1.0), ("flat", 0.0))}
        metrics = {"agent": compute_metrics(episode.net_returns, episode.positions, ppy)}
        metrics.update({name: compute_metrics(r.net_returns, r.positions, ppy) for name, r in baselines.items()})
        frame = pd.DataFrame({
            "timestamp": prices.index[first:].astype(str),
            "position": np.append(episode.positions, np.nan),
            "agent": equity_curve(episode.net_returns),
            **{name: equity_curve(r.net_returns) for name, r in baselines.items()},
        })
        return Applied(frame, {k: {m: float(v) for m, v in d.items()} for k, d in metrics.items()})
