"""Install anywhere: the built wheel, installed into a fresh virtual environment, runs from a
directory that is not the repository, with the configs it ships (``hpo_app.conf``). The wheel is
installed without extras (no psycopg, optuna-dashboard or pytest): a run, a sweep and its report
need none of them.

Slow: the fresh environment installs every dependency (from pip's cache when it has them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hpo_record import files
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

TINY = ["model=a2c", "data.n_bars=600", "train.total_timesteps=256", "train.eval_every=128", "env.episode_length=128"]


def _run(command: list[str | Path], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    proc = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{command}: exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(the wheel, the fresh venv's bin directory, a working directory outside the repository)."""
    root = tmp_path_factory.mktemp("install")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root / "dist", REPO_ROOT], cwd=root, timeout=600)
    (wheel,) = (root / "dist").glob("hpo_app-*.whl")
    _run([sys.executable, "-m", "venv", root / "venv"], cwd=root)
    bin_dir = root / "venv" / "bin"
    _run([bin_dir / "python", "-m", "pip", "install", "-q", wheel], cwd=root, timeout=1500)
    work = root / "elsewhere"
    work.mkdir()
    return wheel, bin_dir, work


def test_the_wheel_carries_every_config_file(installed):
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"hpo_app/conf/{p.relative_to(REPO_ROOT / 'conf').as_posix()}" for p in (REPO_ROOT / "conf").rglob("*.yaml")}
    assert shipped and shipped <= names, sorted(shipped - names)


def test_the_installed_app_is_the_wheels_not_the_repositorys(installed):
    _, bin_dir, work = installed
    where = _run([bin_dir / "python", "-c", "import hpo_app, hpo_app.conf; print(hpo_app.__file__, hpo_app.conf.__file__)"], work)
    assert str(REPO_ROOT) not in where.stdout and "site-packages" in where.stdout


def test_help_of_every_entry_point_from_another_directory(installed):
    _, bin_dir, work = installed
    for command in ([bin_dir / "python", "-m", "hpo_app", "--help"], [bin_dir / "hpo-app", "--help"]):
        text = _run(command, work).stdout
        assert text.startswith("hpo_app: train a reinforcement-learning trading agent") and "    * ppo " in text
    for command in ([bin_dir / "python", "-m", "analysis.report", "--help"], [bin_dir / "hpo-report", "--help"]):
        assert "multirun" in _run(command, work).stdout


def test_a_run_a_sweep_and_its_report_from_another_directory(installed):
    _, bin_dir, work = installed
    _run([bin_dir / "hpo-app", *TINY, "hydra.run.dir=run"], work)
    record = json.loads((work / "run" / files.METRICS_FILE).read_text())
    assert record["state"] == files.STATE_COMPLETE and record["timesteps"] == 256
    sweep = _run([bin_dir / "hpo-app", "-m", *TINY, "hydra/launcher=basic", "hydra.sweeper.n_trials=2",
                  "hydra.sweep.dir=sweep"], work, timeout=600)
    assert "  report:  python -m analysis.report sweep" in sweep.stdout + sweep.stderr
    _run([bin_dir / "hpo-report", "sweep"], work, timeout=600)
    assert (work / "sweep" / "report" / "report.html").is_file()
