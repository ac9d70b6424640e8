"""Running one sweep command of the sweep-machinery benchmark (``bench/bench_sweep.py``): the setups
that sweep the trivial app, a command's wall time and its trials' timings, and a warning when the
sources change while it runs."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.sweep_markdown import SEED
from bench.trivial_app import TIMING_FILE

REPO = Path(__file__).resolve().parents[1]
TRIVIAL = ["bench/trivial_app.py", "-m"]

# The ways of sweeping the trivial app; `{dir}` is the sweep directory.
SETUPS: dict[str, tuple[str, list[str]]] = {
    "ours_ray": ("project sweeper + Ray launcher (`hpo_optuna` + `hpo_ray`), queue 1 (default)",
                 ["hydra/sweeper=hpo_optuna", "hydra/launcher=hpo_ray"]),
    "ours_ray_q0": ("project sweeper + Ray launcher, `hydra.sweeper.queue=0`",
                    ["hydra/sweeper=hpo_optuna", "hydra/launcher=hpo_ray", "hydra.sweeper.queue=0"]),
    "ours_basic": ("project sweeper + basic launcher (`hpo_optuna` + `basic`)",
                   ["hydra/sweeper=hpo_optuna", "hydra/launcher=basic"]),
    "released_ray": ("released sweeper + released Ray launcher (`optuna` + `ray`)",
                     ["hydra/sweeper=optuna", "hydra/launcher=ray", f"hydra.sweeper.sampler.seed={SEED}",
                      "hydra.sweeper.direction=minimize", "hydra.sweeper.study_name=bench",
                      "hydra.sweeper.storage=sqlite:///{dir}/optuna.db"]),
}



@dataclass
class Run:
    """One subprocess: a multirun of the trivial app or of hpo_app."""

    name: str
    argv: list[str]
    sweep_dir: Path
    wall: float = 0.0
    launched: float = 0.0
    exited: float = 0.0
    returncode: int = 0
    timings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def command(self) -> str:
        return "python " + " ".join(shlex.quote(a) for a in self.argv)


# -- running ------------------------------------------------------------------------------------
def run(name: str, argv: list[str], sweep_dir: Path, log_dir: Path, timeout: float) -> Run:
    """Run ``python argv`` from the repository root; its output goes to ``log_dir/name.log``."""
    sweep_dir.mkdir(parents=True, exist_ok=True)  # the released sweeper opens its sqlite file first
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "HYDRA_FULL_ERROR": "1", "PYTHONUNBUFFERED": "1"}
    result = Run(name, argv, sweep_dir)
    log_path = log_dir / f"{name}.log"
    print(f"  {name}: {result.command}", flush=True)
    before = source_fingerprint()
    with log_path.open("w") as log:
        result.launched = time.time()
        proc = subprocess.Popen([sys.executable, *argv], cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            result.returncode = proc.wait(timeout=timeout)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            os.killpg(proc.pid, signal.SIGINT)  # our own process group: the sweep and its Ray
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            raise
        result.exited = time.time()
    result.wall = result.exited - result.launched
    if source_fingerprint() != before:
        CHANGED.append(name)
        print(f"    WARNING: hpo_app/, hydra_plugins/, conf/ or bench/ changed while {name} ran", flush=True)
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{name} exited {result.returncode} (log {log_path}):\n{tail}")
    result.timings = sorted(
        (json.loads(p.read_text()) for p in sweep_dir.glob(f"*/{TIMING_FILE}")), key=lambda t: t["start"]
    )
    print(f"    {result.wall:.1f} s", flush=True)
    return result


def trivial_argv(setup: str, sweep_dir: Path, extra: list[str]) -> list[str]:
    _, overrides = SETUPS[setup]
    return [*TRIVIAL, *[o.format(dir=sweep_dir) for o in overrides], f"hydra.sweep.dir={sweep_dir}", *extra]


def source_fingerprint() -> str:
    """A hash of the code and config a sweep runs (others may edit them while the benchmark runs)."""
    import hashlib

    digest = hashlib.sha256()
    for top in ("hpo_app", "hydra_plugins", "conf", "bench"):
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(REPO)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


CHANGED: list[str] = []  # commands during which the sources changed
