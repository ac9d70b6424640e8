"""Walk-forward folds, seeds, aggregation and fold-wise pruning, on real (small) trainings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from hpo_record import files
from hpo_app.app import engine_from_config
from hpo_app.data import DataError
from hpo_app.features import fold_view
from hpo_app.synthetic import edge_prices
from hpo_app.training import AgentRun
from hpo_app.checks import check_node
from hpo_app.schema import ValidationConf as ValidationSpec
from hpo_app.specs import ConfigError
from hpo_app.validation import aggregate, make_folds
from tests.conftest import TINY_MODEL, compose_config

SEGMENTS = {"train": (79, 979), "val": (979, 1279), "test": (1279, 1579)}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("scheme, train_starts", [("expanding", [79, 79, 79]), ("rolling", [79, 79, 379])])
def test_folds_cut_the_span_before_test_in_order_with_a_gap(scheme, train_starts):
    spec = ValidationSpec(kind="walkforward", folds=3, scheme=scheme, train_blocks=2, gap=10)
    folds = make_folds(spec, SEGMENTS)
    edges = [79 + round(i * (1279 - 79) / 4) for i in range(5)]  # 4 blocks of 300 decisions
    assert [f.val for f in folds] == [(edges[k] + 10, edges[k + 1]) for k in (1, 2, 3)]
    assert [f.train for f in folds] == [(s, edges[k]) for s, k in zip(train_starts, (1, 2, 3))]
    for fold in folds:
        train, val = fold.train, fold.val
        # No training decision's reward uses a validation or test bar: the last one ends at close[train[1]].
        assert train[1] < val[0] and val[1] <= SEGMENTS["test"][0]
        assert val[0] - train[1] == 10


def test_holdout_is_one_fold_on_the_split():
    (fold,) = make_folds(ValidationSpec(), SEGMENTS)
    assert (fold.train, fold.val) == (SEGMENTS["train"], SEGMENTS["val"])


def test_too_many_folds_for_the_data_is_one_line_naming_the_fold():
    with pytest.raises(DataError, match=r"^walk-forward fold 1: \d+ training decisions \(need 50\)"):
        make_folds(ValidationSpec(kind="walkforward", folds=30, gap=0), SEGMENTS)


@pytest.mark.parametrize("field, value, message", [
    ("kind", "kfold", "validation.kind='kfold'"), ("folds", 0, "validation.folds=0"),
    ("scheme", "sliding", "validation.scheme='sliding'"), ("gap", -1, "validation.gap=-1"),
    ("aggregate", "median", "validation.aggregate='median'"), ("penalty", -0.5, "validation.penalty=-0.5"),
])
def test_bad_settings_are_one_line_naming_the_key(field, value, message):
    with pytest.raises(ConfigError, match=message):
        check_node(ValidationSpec(**{field: value}), "validation")


def test_aggregates_against_numpy():
    values = [0.3, -0.1, 0.8, 0.2]
    assert aggregate(values, ValidationSpec()) == pytest.approx(sum(values) / 4)
    mean = sum(values) / 4
    std = (sum((v - mean) ** 2 for v in values) / 3) ** 0.5  # sample standard deviation
    assert aggregate(values, ValidationSpec(aggregate="mean_minus_std", penalty=0.5)) == pytest.approx(mean - 0.5 * std)


def test_a_fold_scales_its_features_with_its_own_training_bars_only():
    cfg = compose_config(("data.n_bars=1600", "validation=walkforward", "validation.folds=3"))
    engine = engine_from_config(cfg, Path("/dev/null"))
    prepared = engine.prepare()
    for fold in make_folds(engine.validation, prepared.segments):
        view = fold_view(prepared, fold.train, fold.val)
        a, b = fold.train
        np.testing.assert_allclose(view.scaler_mean, prepared.raw[a:b].mean(axis=0))
        assert view.segments == {"train": fold.train, "val": fold.val, "test": prepared.segments["test"]}
        env = AgentRun(view, engine.env_spec, engine.model_spec, engine.train_spec, 0).segment_env("train", training=True)
        assert (env.start, env.end) == fold.train  # the agent trades the fold's training block only


WF = (*TINY_MODEL["a2c"], "data.n_bars=1600", "train.total_timesteps=256", "train.eval_every=128",
      "env.episode_length=64", "validation=walkforward", "validation.folds=3")


@pytest.fixture(scope="module")
def walkforward_run(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("walkforward")
    engine = engine_from_config(compose_config((*WF, "train.n_seeds=2")), out)
    seen = []
    engine.on_evaluation = seen.append
    engine.run()
    return out, seen


def test_walkforward_trains_every_fold_and_seed_and_aggregates_them(walkforward_run):
    out, seen = walkforward_run
    m = json.loads((out / files.METRICS_FILE).read_text())
    engine = engine_from_config(compose_config(WF), Path("/dev/null"))
    folds = make_folds(engine.validation, engine.prepare().segments)
    assert [(f["fold"], f["seed"]) for f in m["folds"]] == [(k, s) for k in (1, 2, 3) for s in (0, 1)]
    assert [(tuple(f["train"]), tuple(f["val"])) for f in m["folds"][::2]] == [(f.train, f.val) for f in folds]
    values = [f["metrics"]["val/sharpe"] for f in m["folds"]]
    assert m["objective"]["values"][0] == pytest.approx(np.mean(values), rel=1e-12)
    assert m["metrics"]["val/sharpe"] == pytest.approx(np.mean(values), rel=1e-12)
    # The pruner saw one point per finished run: the aggregate so far, step = the run's number.
    assert [p.step for p in seen] == [1, 2, 3, 4, 5, 6]
    assert [p.objective for p in seen] == pytest.approx([np.mean(values[:k]) for k in range(1, 7)])
    curve = pd.read_csv(out / files.EVAL_CURVE_FILE)
    assert sorted(set(zip(curve["fold"], curve["seed"]))) == [(k, s) for k in (1, 2, 3) for s in (0, 1)]
    equity = pd.read_csv(out / files.EQUITY_FILE)
    assert set(equity["segment"]) == {"train", "val", "test", "fold1", "fold2", "fold3"}


def test_a_trial_bad_on_its_first_fold_stops_there(tmp_path):
    engine = engine_from_config(compose_config(WF), tmp_path)

    def prune(point):
        raise optuna.TrialPruned(f"pruned at run {point.step}")

    engine.on_evaluation = prune
    with pytest.raises(optuna.TrialPruned, match="pruned at run 1"):
        engine.run()
    m = json.loads((tmp_path / files.METRICS_FILE).read_text())
    assert m["state"] == files.STATE_PRUNED and [f["fold"] for f in m["folds"]] == [1]
    assert m["objective"]["values"][0] == pytest.approx(m["folds"][0]["metrics"]["val/sharpe"], rel=1e-12)


def test_the_planted_edge_is_the_lag_one_autocorrelation():
    for edge in (0.0, 0.3):
        r = np.diff(np.log(edge_prices(20000, seed=1, edge=edge, vol=0.01)["close"].to_numpy()))
        assert np.corrcoef(r[:-1], r[1:])[0, 1] == pytest.approx(edge, abs=0.02)
        assert r.std() == pytest.approx(0.01, rel=0.03)
