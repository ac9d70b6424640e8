"""Numbers for people (hpo_app.fmt): one rule for the run's log, the sweep's lines and the report."""

from __future__ import annotations

import math

import pytest

from hpo_app import fmt


@pytest.mark.parametrize(("name", "value", "shown"), [
    ("val/sharpe", 0.87604, "0.88"),
    ("buy_and_hold/test/sortino", -1.2, "-1.20"),
    ("test/total_return", 0.29345, "29.3%"),
    ("val/max_drawdown", 0.1, "10.0%"),
    ("exposure", 1.0, "100.0%"),
    ("val/n_trades", 771.0, "771"),
    ("val/turnover", 72.918, "72.9"),
    ("objective", 0.00123456, "0.001235"),
    ("val/sharpe", math.nan, "–"),
    ("val/sharpe", None, "–"),
])
def test_each_kind_of_metric_has_one_format(name, value, shown):
    assert fmt.metric(name, value) == shown


def test_labels():
    assert fmt.label("val/sharpe") == "Sharpe" and fmt.label("test/hit_rate") == "hit rate"
