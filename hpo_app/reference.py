"""The reference policy of each planted-edge market (``hpo_app.synthetic``): the best causal rule
the market's construction allows, what a tuned agent is measured against."""

from __future__ import annotations

import numpy as np

from hpo_app.trading_env import check_segment


def reference_positions(close: np.ndarray, start: int, end: int, allow_short: bool = True,
                        shape: str = "momentum", lag: int = 5, edge: float = 0.0, vol: float = 0.0,
                        switch: float = 0.0) -> np.ndarray:
    """The reference policy of a planted-edge market of ``shape`` (``synthetic.edge_prices``), causal
    (the decision at ``t`` uses closes up to ``t`` only): ``momentum`` holds the sign of the last
    bar's return, ``reversal`` its opposite, ``lag`` the sign of the return that moves the next bar
    (``lag - 1`` bars before the last one), ``regimes`` the sign of the drift its hidden regime most
    likely has (a two-state filter of the returns with the market's own ``edge``, ``vol`` and
    ``switch`` probability: the best causal guess). Flat instead of short when shorting is not allowed."""
    close = np.asarray(close, dtype=np.float64)
    back = lag if shape == "lag" else 1
    check_segment(start, end, len(close), min_start=back)
    log_close = np.log(close)
    if shape == "regimes":
        signal = _regime_belief(np.diff(log_close), edge * vol, vol * (1.0 - edge * edge) ** 0.5, switch)
        signal = signal[start - 1:end - 1] - 0.5  # belief after the return into bar t
    else:  # the return into bar t - back + 1, i.e. close[t-back+1] / close[t-back]
        signal = log_close[start - back + 1:end - back + 1] - log_close[start - back:end - back]
    positions = np.sign(-signal if shape == "reversal" else signal)
    return positions if allow_short else np.maximum(positions, 0.0)


def _regime_belief(returns: np.ndarray, drift: float, noise: float, switch: float) -> np.ndarray:
    """P(drift is +drift | returns so far), after each return (a hidden Markov model's forward filter)."""
    belief, out = 0.5, np.empty(len(returns))
    up = np.exp(-0.5 * ((returns - drift) / noise) ** 2)
    down = np.exp(-0.5 * ((returns + drift) / noise) ** 2)
    for i in range(len(returns)):
        prior = belief * (1.0 - switch) + (1.0 - belief) * switch
        belief = prior * up[i] / (prior * up[i] + (1.0 - prior) * down[i])
        out[i] = belief
    return out
