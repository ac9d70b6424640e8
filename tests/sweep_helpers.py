"""Shared helpers for the sweep tests: run the real command and read what it left on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import yaml

from hpo_record import files

REPO = Path(__file__).resolve().parents[1]

# A tiny but real budget: A2C with short rollouts on 800 synthetic bars; no raced confirmation
# after the search (tests/test_sweep_confirm.py runs it).
TINY = [
    "model=a2c",
    "data.n_bars=800",
    "train.total_timesteps=600",
    "train.eval_every=200",
    "env.episode_length=128",
    "hydra.sweeper.confirm.top_k=0",
]


def run_app(args: list[str], sweep_dir: Path, timeout: float = 300, multirun: bool = True) -> subprocess.CompletedProcess[str]:
    """``python -m hpo_app [-m] args`` in the repository, outputs under ``sweep_dir``."""
    command = [sys.executable, "-m", "hpo_app"]
    if multirun:
        command += ["-m", f"hydra.sweep.dir={sweep_dir}"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        command + args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def load_study(sweep_dir: Path, name: str = "a2c") -> optuna.study.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{sweep_dir / files.STUDY_DB_FILE}")


def n_complete(sweep_dir: Path, name: str = "a2c") -> int:
    """Complete trials of a running sweep so far (0 before its study exists)."""
    # multirun.yaml is written once the driver has created the study: opening the database
    # before that would race the schema set-up of two processes.
    if not (sweep_dir / files.MULTIRUN_FILE).exists():
        return 0
    try:
        return len(load_study(sweep_dir, name).get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
    except Exception:  # noqa: BLE001 - the study may not be created yet
        return 0


def results(sweep_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((sweep_dir / files.RESULTS_FILE).read_text())


def job_metrics(job_dir: Path) -> dict[str, Any]:
    return json.loads((job_dir / files.METRICS_FILE).read_text())


def job_overrides(job_dir: Path) -> dict[str, Any]:
    lines = yaml.safe_load((job_dir / files.HYDRA_DIR / "overrides.yaml").read_text())
    pairs = (line.split("=", 1) for line in lines)
    return {key.lstrip("+"): yaml.safe_load(value) for key, value in pairs}


def job_config(job_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((job_dir / files.HYDRA_DIR / "config.yaml").read_text())


def job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted((p for p in sweep_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
