"""optuna-dashboard serves a running sweep's study: read over HTTP while trials are still being added."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import optuna
import pytest

from hpo_record import files
from tests.sweep_helpers import REPO, TINY

pytestmark = pytest.mark.slow
DASHBOARD = Path(sys.executable).parent / "optuna-dashboard"  # the console script pip installed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def test_the_dashboard_shows_the_trials_of_a_sweep_as_they_finish(tmp_path):
    sweep = tmp_path / "sweep"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    driver = subprocess.Popen(
        [sys.executable, "-m", "hpo_app", "-m", f"hydra.sweep.dir={sweep}", *TINY, "hydra/launcher=basic",
         "train.total_timesteps=1200", "hydra.sweeper.n_trials=6"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dashboard = None
    try:
        deadline = time.monotonic() + 120
        while not (sweep / files.MULTIRUN_FILE).exists():  # written once the study exists
            assert time.monotonic() < deadline and driver.poll() is None, "the sweep did not start"
            time.sleep(0.2)
        port = _free_port()
        dashboard = subprocess.Popen(
            [str(DASHBOARD), f"sqlite:///{sweep / files.STUDY_DB_FILE}", "--host", "127.0.0.1",
             "--port", str(port), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}/api/studies"
        studies = None
        while studies is None:
            assert time.monotonic() < deadline and dashboard.poll() is None, "the dashboard did not start"
            studies = _get(base)
            time.sleep(0.2)
        (study,) = studies["study_summaries"]
        assert study["study_name"] == "a2c"
        seen: list[int] = []  # finished trials the dashboard showed, while the sweep still ran
        while driver.poll() is None:
            detail = _get(f"{base}/{study['study_id']}")
            if detail is not None:
                seen.append(sum(t["state"] == "Complete" for t in detail["trials"]))
            time.sleep(0.3)
        assert driver.returncode == 0
        assert len(set(seen)) >= 2 and seen == sorted(seen), seen  # it grew as trials finished
        truth = optuna.load_study(study_name="a2c", storage=f"sqlite:///{sweep / files.STUDY_DB_FILE}")
        expected = [(t.number, t.values) for t in truth.trials]
        # The dashboard refreshes its cache of unfinished trials on its own clock: a trial that
        # finished just before the driver exited may take a few seconds to show its value.
        settle = time.monotonic() + 30
        while True:
            final = _get(f"{base}/{study['study_id']}")
            shown = [(t["number"], t.get("values")) for t in final["trials"]] if final else None
            if shown == expected or time.monotonic() > settle:
                break
            time.sleep(0.5)
        assert shown == expected
    finally:
        for proc in (driver, dashboard):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
