"""Sweeps into one tidy table of trials. The Optuna study is the sweep's record: trials, states,
parameters with their distributions, values, user attributes. Job directories add only what they
alone hold: each job's record (metrics per segment beside the baselines, timesteps, seed), its
learning curve, its equity curve.

Sweep directories are found by :mod:`analysis.find`. One row of the table is one trial.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from hpo_record.files import (
    BASELINES,
    MULTIRUN_FILE,
)
from hpo_record.job import one_line
from hpo_record.study import ATTR_ERROR, ATTR_JOB_NUM, ATTR_PBT_DECISION, job_dir

from . import confirmation, pbt
from .cache import Memo, tree_stats
from .find import NoSweepError, find_sweep_dirs, storage_of, sweep_labels
from .job_files import add_record, curves_table, validation_returns
from .workers import fork_pool

PARAM_PREFIX = "params_"
"""Prefix of parameter columns (Optuna's ``trials_dataframe`` naming)."""

STATES: tuple[str, ...] = ("complete", "pruned", "failed", "running", "waiting")
"""Every state a trial can have (Optuna's, in words), in display order."""

@dataclass
class Sweep:
    """One study of one sweep directory."""

    name: str  # <date>/<time>, with ":<study>" when the storage holds several studies
    path: Path
    study: Any  # optuna.study.Study
    model: str | None = None
    problems: list[str] = field(default_factory=list)
    returns: dict[int, np.ndarray] = field(default_factory=dict)  # trial -> per-bar validation returns
    periods_per_year: float | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # model, data, edge, validation, n_trials
    confirmation: dict[str, Any] | None = None  # the raced confirmation's decision (analysis.confirmation)
    pbt_decision: dict[str, Any] | None = None  # population-based training's (analysis.pbt_decision)

    @property
    def objective_metrics(self) -> tuple[str, ...]:
        names = self.study.metric_names
        return tuple(names) if names else tuple(f"objective {i}" for i in range(len(self.study.directions)))

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(d.name.lower() for d in self.study.directions)

    @property
    def multi_objective(self) -> bool:
        return len(self.directions) > 1

    def direction(self, i: int = 0) -> str:
        return self.directions[i]

    @property
    def distributions(self) -> dict[str, Any]:
        """Every searched parameter and its distribution (the last trial's, if they changed)."""
        out: dict[str, Any] = {}
        for t in self.study.get_trials(deepcopy=False):
            out.update(t.distributions)
        return out

    @property
    def params(self) -> list[str]:
        return list(self.distributions)


@dataclass
class Multirun:
    sweeps: list[Sweep]
    trials: pd.DataFrame
    curves: pd.DataFrame


def param_column(name: str) -> str:
    """``params_<key>``; an added key (``+model.target_kl``) is named by the key itself."""
    return PARAM_PREFIX + name.lstrip("+")


def open_studies(path: Path, label: str) -> tuple[list[Sweep], list[str]]:
    """The studies of a sweep directory (and what made one unreadable)."""
    from hpo_record.storage import open_storage

    try:
        url = storage_of(path)
        if url is None:
            return [], [f"{label}: no study (the sweep stopped before creating it, or its storage is not named)"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            storage = open_storage(url)
            names = [n for n in optuna.study.get_all_study_names(storage) if not confirmation.is_confirmation(n)]
            loaded = [optuna.load_study(study_name=n, storage=storage) for n in names]
            pbt_decisions = {s.study_name: s.user_attrs.get(ATTR_PBT_DECISION) for s in loaded}
            studies = [_snapshot(s) for s in loaded]
            decisions = {n: confirmation.read(storage, n) for n in names}
    except Exception as err:  # noqa: BLE001 - one unreadable sweep must not stop the report
        return [], [f"{label}: study unreadable ({one_line(err)})"]
    facts = _facts_of(path)
    return [Sweep(label if len(studies) == 1 else f"{label}:{s.study_name}", path, s,
                  facts.get("model") or s.study_name, facts=facts, confirmation=decisions[s.study_name],
                  pbt_decision=pbt_decisions[s.study_name])
            for s in studies], []


class ReadOnlyCopy(optuna.storages.InMemoryStorage):
    """Optuna's in-memory storage whose trials are handed out without copies."""

    def get_all_trials(self, study_id: int, deepcopy: bool = True, states: Any = None) -> list[Any]:
        return super().get_all_trials(study_id, deepcopy=False, states=states)


def _snapshot(study: Any) -> Any:
    """An in-memory copy of a study: read once from its storage, then safe to use in forked plot
    workers and unchanged by trials that finish while the report is made. Its trials are read
    without copies (the report never changes them; Optuna's history plot asks for copies of all)."""
    copy = optuna.create_study(storage=ReadOnlyCopy(), study_name=study.study_name, directions=study.directions)
    copy.add_trials(study.get_trials(deepcopy=False))
    if study.metric_names:
        copy.set_metric_names(study.metric_names)
    return copy


def _facts_of(path: Path) -> dict[str, Any]:
    """What the sweep's ``multirun.yaml`` says about it: model, market, validation, trials asked
    for (empty for another app's sweep, or without the file)."""
    try:
        import yaml

        config = yaml.safe_load((path / MULTIRUN_FILE).read_text()) or {}
    except Exception:  # noqa: BLE001 - no multirun.yaml, or unreadable
        return {}
    facts: dict[str, Any] = {}
    model, data = config.get("model") or {}, config.get("data") or {}
    if isinstance(model, dict) and model.get("name"):
        facts["model"] = str(model["name"])
    if isinstance(data, dict) and data.get("source"):
        facts["data"] = str(data["source"])
        if data.get("source") == "edge" and isinstance(data.get("edge"), (int, float)):
            facts["edge"] = float(data["edge"])
    if isinstance(data, dict):  # the market, as far as the config says: same string, same bars
        facts["market"] = ", ".join(f"{k}={data[k]}" for k in sorted(data) if data[k] is not None)
    validation = config.get("validation") or {}
    if isinstance(validation, dict) and validation.get("kind"):
        facts["validation"] = str(validation["kind"])
    n_trials = (((config.get("hydra") or {}).get("sweeper") or {}).get("n_trials"))
    if isinstance(n_trials, int):
        facts["n_trials"] = n_trials
    return facts


# --------------------------------------------------------------------------- the table


def trial_rows(sweep: Sweep) -> list[dict[str, Any]]:
    """One row per trial: the study's view, then the job record's metrics."""
    rows = []
    known_jobs: set[str] = set()
    for t in sweep.study.get_trials(deepcopy=False):
        attrs = t.user_attrs
        row: dict[str, Any] = {
            "sweep": sweep.name, "model": sweep.model, "trial": t.number, "study": sweep.study.study_name,
            "job_num": attrs.get(ATTR_JOB_NUM), "state": _STATE_NAMES.get(t.state.name, t.state.name.lower()),
            "error": attrs.get(ATTR_ERROR), "job_dir": _job_dir(sweep.path, t.number, attrs),
        }
        for i, v in enumerate(t.values or []):
            row["objective" if i == 0 else f"objective_{i}"] = float(v)
        for name, value in t.params.items():
            row[param_column(name)] = value
        row.update(pbt.row_values(attrs))
        if row["job_dir"]:
            known_jobs.add(str(Path(row["job_dir"]).name))
            rec = add_record(row, Path(row["job_dir"]), finished=t.state.is_finished())
            if rec is not None:
                sweep.periods_per_year = sweep.periods_per_year or rec.periods_per_year
                returns = validation_returns(rec, Path(row["job_dir"]))
                if returns is not None:
                    sweep.returns[t.number] = returns
        rows.append(row)
    orphans = sorted((p.name for p in sweep.path.iterdir() if p.name.isdigit() and p.is_dir()
                      and p.name not in known_jobs), key=int)
    if orphans:
        sweep.problems.append(f"job directories with no trial in the study: {', '.join(orphans[:20])}")
    return rows


def _job_dir(sweep_dir: Path, number: int, attrs: dict[str, Any]) -> str | None:
    found = job_dir(sweep_dir, number, attrs)  # where it is now, if the sweep was moved or copied
    return None if found is None else str(found)


_STATE_NAMES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
                "WAITING": "waiting"}


FIRST = ("sweep", "model", "trial", "job_num", "state", "objective")
LAST = ("timesteps", "kept_step", "seconds", "seed", "n_evals", "study", "error", "issue", "job_dir")


def tidy(rows: list[dict[str, Any]], sweeps: Sequence[Sweep]) -> pd.DataFrame:
    """Rows -> one DataFrame: identity and state, objectives, parameters, metrics by segment
    (validation, test, train), baselines, bookkeeping."""
    df = pd.DataFrame.from_records(rows)
    for c in FIRST + LAST:
        if c not in df.columns:
            df[c] = pd.Series([None] * len(df), dtype=object) if c in ("error", "issue", "study", "model") else math.nan
    objectives = sorted((c for c in df.columns if c.startswith("objective_")), key=lambda c: int(c.split("_")[1]))
    params = list(dict.fromkeys(param_column(p) for s in sweeps for p in s.params if param_column(p) in df.columns))
    segments = [c for seg in ("val", "test", "train") for c in sorted(df.columns) if c.startswith(seg + "/")]
    baselines = [c for b in BASELINES for c in sorted(df.columns) if c.startswith(b + "/")]
    population = [c for c in pbt.COLUMNS if c in df.columns]  # population-based training's intervals
    df = df[list(FIRST) + objectives + params + segments + baselines + list(LAST) + population]
    df["state"] = pd.Categorical(df["state"], categories=list(STATES))
    df["n_evals"] = df["n_evals"].fillna(0).astype("int64")
    df["job_num"] = df["job_num"].astype("Int64")
    return df.sort_values(["sweep", "trial"], kind="stable").reset_index(drop=True)


def load_sweep_dir(path: Path, label: str) -> tuple[list[Sweep], list[str], list[dict[str, Any]], pd.DataFrame]:
    """One sweep directory: its studies, what made one unreadable, the trial rows, the curves."""
    found, problems = open_studies(path, label)
    rows = [row for s in found for row in trial_rows(s)]
    return found, problems, rows, curves_table(rows)


def _load_key(memo: Memo, path: Path, label: str, skip: Path | None) -> str | None:
    """The cache key of a sweep directory's load: every file under it, when its study is one of
    them (None: read it every time)."""
    try:
        url = storage_of(path)
        file = url.split(":///", 1)[-1] if url and url.startswith("sqlite:///") else (
            url.split(":", 1)[1] if url and url.startswith("journal:") else None)
        if file is None or not Path(file).resolve().is_relative_to(path.resolve()):
            return None  # a study on a server, or in a file other sweeps share
        return memo.key("load", str(path.resolve()), label, tree_stats(path, skip))
    except Exception:  # noqa: BLE001 - a file being written, a link, an unreadable multirun.yaml: not cached
        return None


def load_multirun(paths: Iterable[str | os.PathLike[str]], memo: Memo | None = None,
                  skip: Path | None = None, jobs: int = 1, meanwhile: Callable[[], None] = lambda: None) -> Multirun:
    """Find the sweeps in ``paths`` and read them (raises NoSweepError). With ``memo``, a sweep
    directory whose files are unchanged since the last report is taken from the cache (``skip``:
    a directory under a sweep that is not part of it, the report's own output). With ``jobs > 1``
    and fork, the directories to read are read in worker processes while this one does
    ``meanwhile`` (when there is at least one to read)."""
    memo = memo or Memo(None)
    dirs = find_sweep_dirs(paths)
    labels = sweep_labels(dirs)
    keys = [_load_key(memo, path, label, skip) if memo.enabled else None for path, label in zip(dirs, labels)]
    loaded = [memo.get(key) for key in keys]
    todo = [i for i, found in enumerate(loaded) if found is None]
    pool = fork_pool(min(jobs, len(todo)))
    if pool is not None:
        with pool:
            futures = {i: pool.submit(load_sweep_dir, dirs[i], labels[i]) for i in todo}
            meanwhile()
            loaded = [futures[i].result() if i in futures else found for i, found in enumerate(loaded)]
    else:
        if todo:
            meanwhile()
        loaded = [load_sweep_dir(dirs[i], labels[i]) if i in todo else found for i, found in enumerate(loaded)]
    for i in todo:
        if not loaded[i][1]:  # an unreadable study is tried again next time
            memo.put(keys[i], loaded[i])
    sweeps: list[Sweep] = [s for found in loaded for s in found[0]]
    unreadable: list[str] = [p for found in loaded for p in found[1]]
    if not sweeps:
        raise NoSweepError("; ".join(unreadable) or "no study found")
    if unreadable:
        sweeps[0].problems.extend(unreadable)
    rows = [row for found in loaded for row in found[2]]
    return Multirun(sweeps, tidy(rows, sweeps), _concat([found[3] for found in loaded]))


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty] or frames[:1]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
