"""A trivial Hydra task app for ``bench/bench_sweep.py``: the sweep machinery, without training.

It is launched like the real app (``python bench/trivial_app.py -m ...`` from the repository
root), with the sweeper and launcher chosen by overrides:

    python bench/trivial_app.py -m hydra.sweeper.n_trials=20                  # ours + hpo_ray
    python bench/trivial_app.py -m hydra/launcher=basic                       # ours + basic
    python bench/trivial_app.py -m hydra/sweeper=optuna hydra/launcher=ray    # released + released

Each job returns ``x**2`` at once (``mode=instant``) or after sleeping a duration drawn from a
seeded generator keyed by its job number (``mode=sleep``: the same durations for every sweeper),
and writes ``timing.json`` (wall-clock start and end, pid, duration) to its job directory.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

# `python bench/trivial_app.py` puts bench/ on sys.path, not the repository root: put the
# root first so that `hydra_plugins.hpo_sweeper` (the project's sweeper) registers from this
# checkout (the editable install also maps it, but possibly to another checkout).
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

TIMING_FILE = "timing.json"


def duration_for(job_num: int, seed: int, low: float, high: float) -> float:
    """The sleep of job ``job_num``: a seeded draw, identical whichever sweeper numbers the job."""
    return round(random.Random(seed * 1_000_003 + job_num).uniform(low, high), 3)


@hydra.main(config_path="conf", config_name="trivial")
def main(cfg: DictConfig) -> float:
    started = time.time()
    hydra_cfg = HydraConfig.get()
    job_num = int(hydra_cfg.job.num) if hydra_cfg.job.get("num") is not None else 0
    seconds = 0.0
    if cfg.mode == "sleep":
        seconds = duration_for(job_num, int(cfg.seed), float(cfg.sleep.low), float(cfg.sleep.high))
        time.sleep(seconds)
    elif cfg.mode != "instant":
        raise ValueError(f"mode={cfg.mode}: instant or sleep")
    value = float(cfg.x) ** 2
    ended = time.time()
    out = Path(hydra_cfg.runtime.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / TIMING_FILE).write_text(json.dumps(
        {"job_num": job_num, "start": started, "end": ended, "sleep": seconds, "pid": os.getpid(), "value": value}
    ))
    return value


if __name__ == "__main__":
    main()
