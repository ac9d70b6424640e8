"""What a job directory holds, read for the trial table: its record (metrics beside the baselines,
timesteps, seed, validation returns), its learning curve and its equity curve. Unreadable files
give None (or an ``issue`` on the trial's row), never an exception."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpo_record import job as job_record
from hpo_record.files import BASELINES, EQUITY_FILE, EVAL_CURVE_FILE


def add_record(row: dict[str, Any], job_dir: Path, finished: bool) -> job_record.JobRecord | None:
    try:
        rec = job_record.read(job_dir)
    except job_record.RecordError as err:
        if finished:
            row["issue"] = str(err).replace(str(job_dir) + "/", "")
        return None
    if "objective" not in row and rec.objective and rec.objective.values:  # pruned: its last evaluation
        for i, v in enumerate(rec.objective.values):
            row["objective" if i == 0 else f"objective_{i}"] = v
    row.update(rec.metrics)
    for name in BASELINES:
        row.update({f"{name}/{k}": v for k, v in rec.baselines.get(name, {}).items()})
    row.update(timesteps=rec.timesteps, seconds=rec.seconds, seed=rec.seed)
    if rec.kept:  # train.keep=best: the step of the (first run's) kept policy
        row["kept_step"] = rec.kept["timesteps"][0]
    if rec.error and not row.get("error"):
        row["error"] = rec.error
    return rec


def validation_returns(rec: job_record.JobRecord, job_dir: Path) -> np.ndarray | None:
    """The agent's per-bar validation returns: from its record, or (records written before they
    held them) from the ``val`` segment of its ``equity.csv``."""
    if rec.val_returns:
        return np.asarray(rec.val_returns, dtype=np.float64)
    if rec.state == "failed":
        return None
    equity = read_equity(job_dir)
    if equity is None or not (equity["segment"] == "val").any():
        return None
    values = equity.loc[equity["segment"] == "val", "agent"].to_numpy(dtype=np.float64)
    return values[1:] / values[:-1] - 1.0


def read_curve(job_dir: Path) -> tuple[list[str], list[list[float]]] | None:
    """Header and rows of a job's ``eval_curve.csv``; None when missing or unreadable."""
    try:
        with open(job_dir / EVAL_CURVE_FILE, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)
            return header, [[as_float(x) for x in r] for r in reader if len(r) == len(header)]
    except (OSError, StopIteration, csv.Error, UnicodeDecodeError):
        return None


def read_equity(job_dir: str | os.PathLike[str]) -> pd.DataFrame | None:
    """A job's ``equity.csv``, or None when missing or unreadable."""
    try:
        df = pd.read_csv(Path(job_dir) / EQUITY_FILE)
    except (OSError, ValueError):
        return None
    if not {"segment", "agent", "buy_and_hold"} <= set(df.columns):
        return None
    if "timestamp" in df.columns:
        df["timestamp"] = pd.to_datetime(df["timestamp"], errors="coerce")
    return df


def as_float(value: Any) -> float:
    """A number, or NaN for anything that is not one."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def curves_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Learning curves in long format (sweep, trial, state, then the CSV's columns), built column
    by column: thousands of small files stay fast."""
    columns: dict[str, list[Any]] = {"sweep": [], "trial": [], "state": []}
    n = 0
    for r in rows:
        curve = read_curve(Path(r["job_dir"])) if r.get("job_dir") else None
        r["n_evals"] = 0 if curve is None else len(curve[1])
        if not r["n_evals"]:
            continue
        header, values = curve  # type: ignore[misc]
        for key in ("sweep", "trial", "state"):
            columns[key] += [r[key]] * len(values)
        for j, name in enumerate(header):
            columns.setdefault(name, [math.nan] * n).extend(v[j] for v in values)
        n += len(values)
        for column in columns.values():
            column.extend([math.nan] * (n - len(column)))
    return pd.DataFrame(columns)
