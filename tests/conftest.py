"""Shared helpers: where the config tree is, composing it with Hydra, a small real trading env."""

from __future__ import annotations

import copy
import functools
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from hpo_app.schema import DataConf  # importing it registers the schemas the configs start from
from hpo_app.market import load_market_data
from hpo_app.features import prepare_data
from hpo_app.trading_env import TradingEnv

REPO_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = REPO_ROOT / "conf"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SPY_SAMPLE = FIXTURES / "spy_daily_sample.csv"

# The smallest synthetic series that leaves every segment its minimum (see features.split_segments).
SMALL_DATA = ("data.n_bars=600",)
# Per-algorithm overrides that make a training of a few hundred steps do real updates (one env, so
# that the steps the tests count are whole rollouts; tests/test_vec.py trains vectorized).
TINY_MODEL = {
    "ppo": ("model=ppo", "model.n_steps=64", "model.batch_size=32", "model.n_epochs=2", "env.n_envs=1"),
    "dqn": ("model=dqn", "model.learning_starts=64", "model.buffer_size=1000", "model.target_update_interval=100",
            "model.train_freq=4", "env.n_envs=1"),
    "a2c": ("model=a2c", "model.n_steps=16", "env.n_envs=1"),
}


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread, as a trial runs (resources.cpus_per_trial=1); two contend on 2 shared cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def compose_config(overrides: Sequence[str] = (), *, return_hydra_config: bool = False) -> DictConfig:
    """The application's config composed by Hydra from ``conf/`` with ``overrides`` (a fresh copy)."""
    return copy.deepcopy(_compose(tuple(overrides), return_hydra_config))


@functools.lru_cache(maxsize=None)
def _compose(overrides: tuple[str, ...], return_hydra_config: bool) -> DictConfig:
    # A composition costs ~0.2 s here and is deterministic: each distinct one is done once.
    with initialize_config_dir(config_dir=str(CONF_DIR)):
        return compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)


def config_options(group: str) -> list[str]:
    """The options of config group ``group``: the YAML files in ``conf/<group>/``."""
    return sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml"))


def small_trading_env(*, n_bars: int = 600, window: int = 10, episode_length: int = 64) -> TradingEnv:
    """A real TradingEnv on the train segment of seeded synthetic data, as the engine builds it."""
    market = load_market_data(DataConf(source="synthetic", n_bars=n_bars, seed=0))
    prepared = prepare_data(market.prices, window=window, train_frac=0.6, val_frac=0.2,
                            periods_per_year=market.periods_per_year, source=market.source)
    start, end = prepared.segments["train"]
    return TradingEnv(prepared.features, prepared.close, start, end, window=window, cost_bps=5.0,
                      episode_length=episode_length, seed=0)


@pytest.fixture(scope="session")
def real_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A day of three real sweeps, made once per test run by the real app and sweeper on tiny
    budgets (basic launcher): ``<date>/10-00-00`` A2C with median pruning, ``11-00-00`` DQN on a
    grid where half the trials read a missing file (failed), ``12-00-00`` A2C multi-objective keeping
    each agent's best validation checkpoint (``train.keep=best``)."""
    from hpo_app.synthetic import synthetic_prices
    from tests.sweep_helpers import TINY, explain, run_app

    root = tmp_path_factory.mktemp("multirun") / "2026-11-28"
    good = root.parent / "prices.csv"
    synthetic_prices(800, seed=1).to_csv(good)
    base = [a for a in TINY if not a.startswith("model=")] + ["hydra/launcher=basic"]
    sweeps = {
        "10-00-00": ["model=a2c", "scheduler=median", "hydra.sweeper.pruner.n_startup_trials=2",
                     "hydra.sweeper.pruner.n_warmup_steps=0", "hydra.sweeper.n_trials=6"],
        "11-00-00": [*TINY_MODEL["dqn"], "sampler=grid", "search_space=none", "data=csv",
                     f"data.path=choice({good},{root.parent / 'missing.csv'})", "model.learning_rate=choice(0.001,0.0003)",
                     "hydra.sweeper.n_trials=4", "hydra.sweeper.max_failure_rate=0.5"],
        "12-00-00": ["model=a2c", "objective=sharpe_drawdown", "hydra.sweeper.n_trials=4", "train.keep=best"],
    }
    for time_, args in sweeps.items():
        proc = run_app([*base, *args], root / time_)
        assert proc.returncode == 0, explain(proc)
    return root


@pytest.fixture
def postgres() -> Iterator[str]:
    """A PostgreSQL server of its own on 127.0.0.1 (tests/servers.py); its URL."""
    from tests.servers import PG_BIN, postgres_server

    if not PG_BIN:
        pytest.skip("PostgreSQL is not installed (/usr/lib/postgresql/*/bin)")
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def sb3_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests that call SB3's learn() directly get its default logger, which makes a directory per
    call under SB3_LOGDIR (else under /tmp, never removed): keep those in the test's temp dir."""
    import os

    before = os.environ.get("SB3_LOGDIR")
    os.environ["SB3_LOGDIR"] = str(tmp_path_factory.mktemp("sb3_logs"))
    yield
    if before is None:
        os.environ.pop("SB3_LOGDIR", None)
    else:
        os.environ["SB3_LOGDIR"] = before


@pytest.fixture
def tiny_fs() -> Iterator[Path]:
    """A 64 KiB tmpfs (needs the right to mount, as root on the project's machines)."""
    where = Path(tempfile.mkdtemp(prefix="hpo-fs-"))
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True, check=False).returncode:
        where.rmdir()
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)
        where.rmdir()
