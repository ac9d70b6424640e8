"""The chosen agent's tearsheet (analysis/tearsheet.py): empyrical's statistics agree with the run's own
metrics (hpo_app.metrics) on a real run's returns, and the figure is drawn for a real run."""

from __future__ import annotations

from pathlib import Path

import empyrical as ep
import numpy as np
import pandas as pd
import pytest

from analysis.job_files import read_equity
from analysis.tearsheet import ROLLING_BARS, panels, returns
from hpo_app.api import train
from hpo_app.metrics import compute_metrics, equity_curve
from tests.conftest import SMALL_DATA, TINY_MODEL

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    train([*SMALL_DATA, *TINY_MODEL["a2c"], "train.total_timesteps=512", "train.eval_every=256"], out)
    return out


def test_empyricals_statistics_are_the_runs_metrics(run_dir: Path) -> None:
    frame = read_equity(run_dir)
    record = pd.read_json(run_dir / "metrics.json", typ="series")
    for segment in ("val", "test"):
        r = returns(frame, segment, "agent")
        mine = compute_metrics(r.to_numpy(), np.zeros(len(r)), 252.0)
        assert ep.sharpe_ratio(r, annualization=252.0) == pytest.approx(mine["sharpe"], rel=1e-9)
        assert -ep.max_drawdown(r) == pytest.approx(mine["max_drawdown"], rel=1e-9)
        assert mine["sharpe"] == pytest.approx(record["metrics"][f"{segment}/sharpe"], rel=1e-6)
        np.testing.assert_allclose(ep.cum_returns(r, starting_value=1.0).to_numpy(), equity_curve(r.to_numpy())[1:])


def test_the_panels_are_drawn_from_those_returns(run_dir: Path) -> None:
    frame = read_equity(run_dir)
    data = panels(frame, "val", 252.0)
    r = returns(frame, "val", "agent")
    underwater = data["underwater"]["agent"]
    assert underwater.max() <= 0 and underwater.min() == pytest.approx(-compute_metrics(r.to_numpy(), np.zeros(len(r)), 252.0)["max_drawdown"])
    rolling = data["rolling"]["agent"]
    window = r.iloc[:ROLLING_BARS]
    assert rolling.iloc[0] == pytest.approx(window.mean() / window.std() * np.sqrt(252.0), rel=1e-9)
    assert data["monthly"]["agent"].sum() != 0
