"""The job record: how one job ended, in its directory's ``metrics.json``. Written and read here only.

The TrainingEngine writes it when a run completes, is pruned or fails; ``sweep_hooks`` writes a
failed one for a trial whose job never wrote its own (interrupted, stale, config not composed,
worker died); ``analysis`` reads it. Schema 2 (this one) adds ``folds``, ``val_returns`` and ``lineage`` to schema 1,
whose records still load::

    {
      "schema": 2,
      "state": "complete" | "pruned" | "failed",
      "model": "ppo",
      "objective": {"metrics": ["val/sharpe"], "directions": ["maximize"], "values": [1.23]},
      "metrics": {"train/sharpe": ..., "val/sharpe": ..., "test/sharpe": ..., ...},
      "baselines": {"buy_and_hold": {"val/sharpe": ..., ...}, "flat": {...}},
      "timesteps": 20000, "seconds": 12.3, "seed": 0,
      "periods_per_year": 252.0, "data_source": "synthetic(n_bars=3000, seed=0)",
      "segments": {"train": {"start": "2010-02-01", "end": "...", "bars": 1400}, ...},
      "error": null,                           # one line when the job failed
      "trial": {"number": 3, "study": "ppo"},  # when run by the sweeper
      "folds": [],                             # per run (walk-forward, seeds): fold, seed, bounds, metrics
      "val_returns": [0.001, -0.002, ...],     # the agent's net return per validation bar (first seed;
                                               # walk-forward: the folds' blocks in order): for the report's
                                               # deflated Sharpe ratio and probability of overfitting
      "lineage": null,                         # train.init_from: {"init_from": <job dir>, "from_timesteps": N}
                                               # (the sweeper's population-based training keeps member,
                                               # parent and schedule in the study)
      "kept": {"rule": "best", "timesteps": [9000]}  # train.keep=best: the step of each run's kept policy
    }

Metric keys are ``<segment>/<metric>`` with segment in ``hpo_record.files.SEGMENTS`` and metric in
``hpo_app.metrics.METRIC_NAMES``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from hpo_record.files import METRICS_FILE, STATE_COMPLETE, STATE_FAILED, STATE_PRUNED

SCHEMA = 2
STATES = (STATE_COMPLETE, STATE_PRUNED, STATE_FAILED)


class RecordError(ValueError):
    """A job record that cannot be read; the message is one line naming the file."""


@dataclass(frozen=True)
class Objective:
    metrics: tuple[str, ...]
    directions: tuple[str, ...]
    values: tuple[float, ...] | None = None


@dataclass(frozen=True)
class JobRecord:
    state: str
    model: str | None = None
    objective: Objective | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    timesteps: int | None = None
    seconds: float | None = None
    seed: int | None = None
    periods_per_year: float | None = None
    data_source: str | None = None
    segments: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    trial: dict[str, Any] | None = None
    folds: list[dict[str, Any]] = field(default_factory=list)
    val_returns: list[float] = field(default_factory=list)
    lineage: dict[str, Any] | None = None
    kept: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise RecordError(f"state {self.state!r}: one of {', '.join(STATES)}")

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobRecord:
        """A record from its JSON form (schema 1 or 2); unknown keys are ignored."""
        if not isinstance(data, Mapping) or "state" not in data:
            raise RecordError("not a job record (no 'state')")
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data and data[f.name] is not None}
        objective = values.get("objective")
        if isinstance(objective, Mapping):
            raw = objective.get("values")
            values["objective"] = Objective(
                metrics=tuple(_as_list(objective.get("metrics"))),
                directions=tuple(_as_list(objective.get("directions"))),
                values=None if raw is None else tuple(float(v) for v in _as_list(raw)),
            )
        return cls(**values)


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


def write(job_dir: Path, record: JobRecord) -> Path:
    """Write ``metrics.json`` atomically (a reader never sees half a record)."""
    job_dir.mkdir(parents=True, exist_ok=True)
    path = job_dir / METRICS_FILE
    tmp = path.with_suffix(f".json.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(record.to_json(), indent=2))
        tmp.replace(path)
    except OSError:  # a full disk: no half-written temporary file left beside the record
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    return path


def read(job_dir: Path) -> JobRecord:
    """The job's record; RecordError (one line) when it is missing or cannot be read."""
    path = Path(job_dir) / METRICS_FILE
    try:
        return JobRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise RecordError(f"{path}: no job record") from None
    except (OSError, ValueError, TypeError) as err:  # JSONDecodeError is a ValueError
        raise RecordError(f"{path}: unreadable ({one_line(err)})") from None


def one_line(err: BaseException) -> str:
    """``Type: first line of the message``: how a failure is named in a record, the study (a
    trial's ``error``), a log or a report."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".strip()


def failed(error: str, *, trial: dict[str, Any] | None = None, model: str | None = None,
           seed: int | None = None) -> JobRecord:
    """The record of a job that ended without results."""
    return JobRecord(state=STATE_FAILED, model=model, seed=seed, error=error, trial=trial)
