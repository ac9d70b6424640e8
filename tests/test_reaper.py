"""What the next sweep stops of a killed driver's local Ray: processes that carry the mark of a
driver that no longer runs and look like Ray's, and nothing else (real processes, no Ray)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from hpo_record.trial import start_time
from hydra_plugins.hpo_sweeper import _procs
from hydra_plugins.hpo_sweeper._launchers import DRIVER_ENV, reap_left_behind

SLEEP = "import time; time.sleep(120)"


def _ended_driver() -> str:
    """The mark of a driver that ran and has ended (its pid and start time)."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    mark = f"{proc.pid}:{start_time(proc.pid)}"
    proc.communicate(b"", timeout=30)
    return mark


def _process(mark: str | None, name: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != DRIVER_ENV}
    if mark is not None:
        env[DRIVER_ENV] = mark
    return subprocess.Popen([sys.executable, "-c", SLEEP, name], env=env)


@pytest.mark.skipif(not _procs.PROC.is_dir(), reason="reads /proc (Linux)")
def test_only_ray_processes_of_an_ended_driver_are_stopped() -> None:
    ended, alive = _ended_driver(), f"{os.getpid()}:{start_time(os.getpid())}"
    procs = {
        "ray process of an ended driver": _process(ended, "ray::DashboardAgent"),
        "ray process of a live driver": _process(alive, "ray::DashboardAgent"),
        "other process that inherited an ended driver's mark": _process(ended, "postgres"),
        "ray process without a mark (ray start)": _process(None, "ray::raylet"),
    }
    try:
        assert all(p.poll() is None for p in procs.values())
        reap_left_behind()
        assert procs["ray process of an ended driver"].wait(timeout=30) == -9
        survivors = [name for name, p in procs.items() if p.poll() is None]
        assert survivors == list(procs)[1:]
    finally:
        for p in procs.values():
            p.kill()
            p.wait()


@pytest.mark.skipif(not _procs.PROC.is_dir(), reason="reads /proc (Linux)")
def test_a_zombie_driver_has_ended() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    started = start_time(proc.pid)
    assert _procs.running(proc.pid, started)
    proc.stdin.close()
    for _ in range(100):  # until it has exited; not waited for, it stays a zombie
        if (_procs.PROC / str(proc.pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.05)
    assert not _procs.running(proc.pid, started)
    proc.wait()
    assert not _procs.running(proc.pid, started)
