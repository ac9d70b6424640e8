"""The product from Python (a notebook, a script):

    from hpo_app.api import load_agent, sweep, train

    result = train(["model=a2c", "data.seed=3"])       # one run, composed as the command line composes it
    result.record.metrics["test/sharpe"], result.model  # its job record and its SB3 model
    sweep_dir = sweep(["model=ppo", "hpo=quick_test"])   # a sweep: runs the command line, returns its directory
    agent = load_agent("agent/")                         # a bundle (python -m hpo_app.export)
    applied = agent.run(prices)                          # a DataFrame of OHLCV prices, time-indexed
    applied.frame, applied.metrics                       # positions and equity; metrics beside the baselines

``train`` composes the shipped configs with Hydra's compose API and calls the same function as the
command line; ``sweep`` is a thin call of ``python -m hpo_app -m`` in a subprocess (a sweep starts
Ray and installs signal handlers, which a notebook's process should not host); read its results
with ``analysis.load.load_multirun([sweep_dir])`` (docs/analysis.md, "Python API") or ``optuna.load_study``.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo_app.agent import Agent
from hpo_record import files
from hpo_record import job as job_record


@dataclass(frozen=True)
class TrainResult:
    output_dir: Path
    record: job_record.JobRecord  # the run's metrics.json
    objective: float | list[float]
    model: Any  # the trained stable-baselines3 model (None when train.save_model=false)


def train(overrides: Sequence[str] = (), output_dir: str | Path | None = None) -> TrainResult:
    """One run of ``python -m hpo_app <overrides>``, in this process."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    import hpo_app.schema  # noqa: F401 - registers the schemas the configs start from
    from hpo_app.app import run
    from hpo_app.models import algorithm_class

    out = Path(output_dir) if output_dir is not None else Path("outputs") / datetime.datetime.now().strftime(
        "%Y-%m-%d/%H-%M-%S-%f")
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="hpo_app.conf"):
        cfg = compose("config", overrides=list(overrides))
    (out / files.HYDRA_DIR).mkdir(parents=True, exist_ok=True)  # as a command-line run keeps them
    OmegaConf.save(cfg, out / files.HYDRA_DIR / "config.yaml")
    OmegaConf.save(OmegaConf.create(list(overrides)), out / files.HYDRA_DIR / "overrides.yaml")
    objective = run(cfg, out)
    record = job_record.read(out)
    model = algorithm_class(str(record.model)).load(out / files.MODEL_FILE) if (out / files.MODEL_FILE).is_file() else None
    return TrainResult(out, record, objective, model)


def sweep(overrides: Sequence[str] = (), sweep_dir: str | Path | None = None, cwd: str | Path | None = None) -> Path:
    """``python -m hpo_app -m <overrides>`` in a subprocess; its sweep directory. Raises
    ``subprocess.CalledProcessError`` (with the driver's output) when it fails."""
    out = Path(sweep_dir) if sweep_dir is not None else Path("multirun") / datetime.datetime.now().strftime(
        "%Y-%m-%d/%H-%M-%S")
    subprocess.run([sys.executable, "-m", "hpo_app", "-m", *overrides, f"hydra.sweep.dir={out}"], cwd=cwd,
                   check=True, capture_output=True, text=True)
    return out


def load_agent(path: str | Path) -> Agent:
    """A bundle written by ``python -m hpo_app.export``: ``agent.run(prices, start=None)``."""
    return Agent.load(path)
