"""Every configuration value is checked before training (hpo_app/checks.py) against the rule written
beside its key in the schema: a value out of the libraries' range is one line naming the key, the
value and what is allowed, for a run and for a sweep's search space; a value of the wrong type is
refused by Hydra when it composes the config, naming the key; a preset or other group option that
does not exist is refused."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from hpo_app.app import engine_from_config
from hpo_app.model_schema import MODEL_SCHEMAS
from hpo_app.rules import RULE
from hpo_app.schema import GROUP_SCHEMAS, AppConf
from hpo_app.specs import ConfigError
from tests.conftest import config_options
from tests.conftest import compose_config as compose
from tests.sweep_helpers import TINY, explain, run_app

BAD = [  # (overrides, the error's start): the values #12 found reaching the libraries, and more
    (["model.learning_rate=-1"], "model.learning_rate=-1.0: must be a number in (0, 1]"),
    (["model.learning_rate=1e300"], "model.learning_rate=1e+300: must be a number in (0, 1]"),
    (["model.gamma=1.5"], "model.gamma=1.5: must be a number in [0, 1]"),
    (["env.cost_bps=-1"], "env.cost_bps=-1.0: must be a number >= 0"),
    (["model=dqn", "model.buffer_size=-5"], "model.buffer_size=-5: must be an integer >= 1"),
    (["model=dqn", "model.exploration_final_eps=1.5"], "model.exploration_final_eps=1.5: must be a number in [0, 1]"),
    (["model=dqn", "model.tau=0"], "model.tau=0.0: must be a number in (0, 1]"),
    (["model=dqn", "model.train_freq=0"], "model.train_freq=0: must be an integer >= 1"),
    (["model=dqn", "model.gradient_steps=-2"], "model.gradient_steps=-2: must be an integer >= 0 (or -1)"),
    (["model=a2c", "model.gae_lambda=-0.1"], "model.gae_lambda=-0.1: must be a number in [0, 1]"),
    (["model=a2c", "model.rms_prop_eps=0"], "model.rms_prop_eps=0.0: must be a number > 0"),
    (["model=a2c", "model.n_steps=1"], "model.n_steps=1: must be an integer >= 2"),
    (["model=dqn", "model.train_freq=4.0"], "model.train_freq=4.0: must be an integer >= 1"),
    (["seed=4294967295", "train.n_seeds=2"], "seed=4294967295, train.n_seeds=2: the runs' seeds"),
    (["model.batch_size=1"], "model.batch_size=1: must be an integer >= 2"),
    (["model.clip_range=0"], "model.clip_range=0.0: must be a number > 0"),
    (["model.target_kl=-0.01"], "model.target_kl=-0.01: must be a number > 0 (or null)"),
    (["model.ent_coef=-0.01"], "model.ent_coef=-0.01: must be a number >= 0"),
    (["data=csv", "data.path=null"], "data.path: required with data=csv"),
    (["data.n_bars=null"], "data.n_bars=null: data=edge generates its bars, it needs a number"),
    (["validation.kind=kfold"], "validation.kind='kfold': must be one of holdout, walkforward"),
    (["validation=walkforward", "validation.folds=0"], "validation.folds=0: must be an integer >= 1"),
    (["train.init_from=/somewhere", "train.n_seeds=2"], "train.init_from=/somewhere with validation=holdout and "
                                                         "train.n_seeds=2: it continues one agent's saved model"),
    (["model.net_width=0"], "model.net_width=0: must be an integer in [1, 4096]"),
    (["train.device=tpu"], "train.device='tpu': must be cpu, cuda, cuda:<n>, mps or auto"),
    (["data.vol=1e10"], "data.vol=10000000000.0: must be a number in (0, 1]"),
    (["model.net_depth=100000"], "model.net_depth=100000: must be an integer in [0, 16]"),
    (["train.total_timesteps=0"], "train.total_timesteps=0: must be an integer >= 1"),
    (["train.eval_every=-5"], "train.eval_every=-5: must be an integer >= 1"),
    (["train.n_seeds=0"], "train.n_seeds=0: must be an integer >= 1"),
    (["seed=-1"], "seed=-1: must be an integer in [0, 4294967295]"),
    (["resources.cpus_per_trial=0"], "resources.cpus_per_trial=0: must be an integer >= 1"),
    (["env.window=0"], "env.window=0: must be an integer >= 1"),
    (["env.episode_length=1"], "env.episode_length=1: must be an integer >= 2 (or null)"),
    (["data.edge=1"], "data.edge=1.0: must be a number in (-1, 1)"),
    (["data.vol=0"], "data.vol=0.0: must be a number in (0, 1]"),
    (["data.train_frac=1.2"], "data.train_frac=1.2: must be a number in (0, 1)"),
    (["data.train_frac=0.7", "data.val_frac=0.3"], "data.train_frac=0.7, data.val_frac=0.3: their sum must be below 1"),
    (["env.cost_bps=nan"], "env.cost_bps=nan: must be a number >= 0"),
    (["env.obs_noise=-0.1"], "env.obs_noise=-0.1: must be a number >= 0"),
    (["env.reward_scale=0"], "env.reward_scale=0.0: must be a number > 0"),
    (["env.features=prices"], "env.features='prices': unknown feature set (choose from returns, returns_volatility"),
    (["env.features=[ret_1,ret_2]"], "env.features=['ret_1', 'ret_2']: unknown feature 'ret_2'"),
    (["env.features=[]"], "env.features=[]: empty"),
    (["train.keep=first"], "train.keep='first': must be one of last, best"),
    (["model.weight_decay=-1"], "model.weight_decay=-1.0: must be a number >= 0"),
]


def test_dqn_train_freq_as_a_pair() -> None:
    engine_from_config(compose(["model=dqn", "model.train_freq=[4,episode]"]), Path(os.devnull))
    with pytest.raises(ConfigError, match=r"^model.train_freq=\[0, 'step'\]: must be an integer >= 1"):
        engine_from_config(compose(["model=dqn", "model.train_freq=[0,step]"]), Path(os.devnull))


@pytest.mark.parametrize(("overrides", "expected"), BAD, ids=[" ".join(o) for o, _ in BAD])
def test_a_value_out_of_range_is_one_line_naming_key_value_and_range(overrides: list[str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        engine_from_config(compose(overrides), Path(os.devnull))
    message = str(caught.value)
    assert message.startswith(expected), message
    assert "\n" not in message


@pytest.mark.parametrize("model", ["ppo", "dqn", "a2c"])
@pytest.mark.parametrize("data", ["edge", "synthetic"])
def test_every_shipped_config_passes(model: str, data: str) -> None:
    engine_from_config(compose([f"model={model}", f"data={data}"]), Path(os.devnull))


@pytest.mark.parametrize("preset", [p for p in config_options("hpo")])
def test_every_preset_passes(preset: str) -> None:
    engine_from_config(compose([f"hpo={preset}"]), Path(os.devnull))


TYPED = [  # (override, key): a value of the wrong type for its key's type in the schema
    ("model.n_steps=2.5", "model.n_steps"),
    ("model.normalize_advantage=maybe", "model.normalize_advantage"),
    ("model.learning_rate=abc", "model.learning_rate"),
    ("data.n_bars=many", "data.n_bars"),
    ("env.allow_short=sometimes", "env.allow_short"),
]


@pytest.mark.parametrize(("override", "key"), TYPED)
def test_a_value_of_the_wrong_type_is_refused_when_hydra_composes_naming_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigCompositionException) as caught:
        compose([override])
    assert f"full_key: {key}" in str(caught.value.__cause__)


def _schemas() -> list[tuple[str, type]]:
    return [*GROUP_SCHEMAS.items(), *((f"model ({name})", schema) for name, schema in MODEL_SCHEMAS.items())]


@pytest.mark.parametrize(("where", "schema"), _schemas(), ids=[w for w, _ in _schemas()])
def test_every_key_of_the_schema_has_its_rule_and_meaning(where: str, schema: type) -> None:
    for f in dataclasses.fields(schema):
        if f.name == "name":
            continue
        rule = f.metadata.get(RULE)
        assert rule is not None, f"{where}.{f.name} has no rule"
        assert rule.what and "\n" not in rule.what, f"{where}.{f.name}"


@pytest.mark.parametrize("model", sorted(MODEL_SCHEMAS))
def test_every_key_the_run_reads_is_a_key_of_the_schema(model: str) -> None:
    config = compose([f"model={model}"])
    for group, schema in [*GROUP_SCHEMAS.items(), ("model", MODEL_SCHEMAS[model])]:
        assert set(config[group]) == {f.name for f in dataclasses.fields(schema)}, group
    assert set(OmegaConf.to_container(config)) == {f.name for f in dataclasses.fields(AppConf)}


def test_a_misspelt_preset_is_refused_with_the_options(tmp_path: Path) -> None:
    proc = run_app(["hpo=quikc_test"], tmp_path / "run", multirun=False, timeout=120)
    assert proc.returncode != 0, explain(proc)
    text = proc.stdout + proc.stderr
    assert "Could not find 'hpo/quikc_test'" in text and "quick_test" in text and "standard" in text


def test_a_bad_value_stops_a_run_with_one_line_and_exit_code_2(tmp_path: Path) -> None:
    proc = run_app(["model.gamma=1.5", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, multirun=False, timeout=120)
    assert proc.returncode == 2, explain(proc)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: model.gamma=1.5: must be a number in [0, 1] (the discount factor)")


def test_a_search_range_that_leaves_the_allowed_range_is_refused_before_any_trial(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    proc = run_app([*TINY, "hydra/launcher=basic", "hydra.sweeper.n_trials=2", "model.gamma=interval(0.9, 1.5)"],
                   sweep_dir, timeout=120)
    assert proc.returncode == 2, explain(proc)
    last = proc.stderr.strip().splitlines()[-1]
    assert last == ("error: model.gamma=1.5: must be a number in [0, 1] (the discount factor) "
                    "(a value of the search space: a choice or a range's high end)"), last
    assert not [p for p in sweep_dir.glob("*") if p.is_dir() and p.name.isdigit()]  # no trial ran
