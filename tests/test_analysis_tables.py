"""The report's judgements on real inputs: which policies are baselines in disguise (from the
metrics hpo_app computes for real positions on a real price series), and when parameter
importance is shown (Optuna's evaluator on a real study)."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from analysis.importance import importance_minimum, param_importance
from analysis.tables import policy_of
from hpo_app.metrics import compute_metrics
from hpo_app.reference import reference_positions
from hpo_app.synthetic import edge_prices
from hpo_app.trading_env import positions_record

N = 500
COST_BPS = 5.0


def _row(positions: np.ndarray) -> pd.Series:
    """A trial row as the report's table has it: the policy's validation metrics and buy-and-hold's."""
    close = edge_prices(N + 2, seed=3, edge=0.15, vol=0.01)["close"].to_numpy()
    row = {}
    for prefix, pos in (("", positions), ("buy_and_hold/", np.ones(N))):
        rec = positions_record(close, 1, N + 1, pos, COST_BPS)
        row.update({f"{prefix}val/{k}": v for k, v in compute_metrics(rec.net_returns, rec.positions, 252).items()})
    row["reference"] = reference_positions(close, 1, N + 1)
    return pd.Series(row)


@pytest.mark.parametrize(("positions", "policy"), [
    (np.ones(N), "buy & hold"),
    (np.full(N, 0.5), "buy & hold"),  # half the size: the same Sharpe, the same policy
    (-np.ones(N), "short & hold"),
    (np.zeros(N), "flat"),
])
def test_baselines_in_disguise_are_recognised(positions, policy):
    assert policy_of(_row(positions)) == policy


def test_a_policy_that_trades_is_not_a_baseline():
    close = edge_prices(N + 2, seed=3, edge=0.15, vol=0.01)["close"].to_numpy()
    assert policy_of(_row(reference_positions(close, 1, N + 1))) == ""
    almost = np.ones(N)
    almost[N // 2] = 0.0  # out of the market for one bar: trades twice, but is not always in
    assert policy_of(_row(almost)) == ""


def test_a_row_without_position_metrics_is_not_judged():
    assert policy_of(pd.Series({"val/sharpe": 1.0})) == ""


def test_importance_is_shown_only_with_enough_trials_and_finds_the_parameter_that_matters():
    assert importance_minimum(2) == 8 and importance_minimum(11) == 22
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: 10 * t.suggest_float("x", -1, 1) ** 2 + 0.01 * t.suggest_float("y", -1, 1),
                   n_trials=30)  # 5 per parameter and more: the report shows it without a warning
    imp = param_importance(study)
    assert imp.ok and imp.method == "fANOVA" and list(imp.importances)[0] == "x"
    assert imp.importances["x"] > 0.8


def test_pbt_explored_parameters_leave_out_columns_only_other_sweeps_fill():
    from analysis.pbt import mutable_params

    # member 0's intervals 0 -> 2 (lr explored), member 1: 1 -> 3 (nothing changed); params_model.n_steps
    # belongs to another sweep of the day (NaN here, as in the day's combined table)
    trials = pd.DataFrame({"trial": [0, 1, 2, 3], "pbt_parent": [np.nan, np.nan, 0, 1],
                           "params_model.learning_rate": [1e-3, 3e-4, 8e-4, 3e-4],
                           "params_model.gamma": [0.99, 0.95, 0.99, 0.95],
                           "params_model.n_steps": [np.nan] * 4})
    assert mutable_params(trials, [c for c in trials.columns if c.startswith("params_")]) == [
        "params_model.learning_rate"]
