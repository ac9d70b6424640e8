"""From the tidy trial table to the answers: best trial, counts, broken jobs, Pareto front, re-run.

Pure functions of DataFrames (no file is written here; reading the best trial's equity curve is
the only file access, through :func:`analysis.load.read_equity`).
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hpo_app.artifacts import STATE_COMPLETE, STATE_PRUNED
from hpo_app.metrics import METRIC_NAMES

from .importance import ImportanceResult, param_importance
from .load import PARAM_PREFIX, STATES, Multirun, SweepInfo, read_equity, rerun_overrides
from .rerun import RERUN_PREFIX, rerun_for_job


def objective_columns(info: SweepInfo) -> list[str]:
    """Trial-table columns holding the sweep's objective values, first objective first."""
    n = max(1, len(info.objective_metrics))
    return ["objective"] + [f"objective_{i}" for i in range(1, n)]


def objective_label(info: SweepInfo, i: int = 0) -> str:
    metric = info.objective_metrics[i] if i < len(info.objective_metrics) else f"objective {i}"
    return f"{metric} ({info.direction(i)})"


def test_metric(metric: str) -> str:
    """``val/sharpe`` -> ``test/sharpe`` (the objective's counterpart on the test segment)."""
    return "test/" + metric.split("/", 1)[1] if metric.startswith("val/") else metric


def best_index(trials: pd.DataFrame, info: SweepInfo) -> Any | None:
    """Index of the best complete trial by the first objective and its direction (None if none)."""
    done = trials[(trials["state"] == STATE_COMPLETE) & trials["objective"].notna()]
    if done.empty:
        return None
    values = done["objective"]
    return values.idxmin() if info.direction(0) == "minimize" else values.idxmax()


def best_so_far(values: np.ndarray, direction: str) -> np.ndarray:
    """Running best of a sequence (NaN-aware), in the objective's direction."""
    v = np.where(np.isnan(values), -np.inf if direction == "maximize" else np.inf, values)
    out = np.maximum.accumulate(v) if direction == "maximize" else np.minimum.accumulate(v)
    return np.where(np.isinf(out), np.nan, out)


def pareto_mask(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Non-dominated rows of ``values`` (n x k) under the given directions."""
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    p = np.asarray(values, dtype=float) * signs  # now every objective is minimized
    keep = np.ones(len(p), dtype=bool)
    for i in range(len(p)):
        if keep[i]:
            dominated = np.all(p[i] <= p, axis=1) & np.any(p[i] < p, axis=1)
            keep &= ~dominated
    return keep


def state_counts(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials per sweep and state (every state a column, zeros included) plus a total."""
    counts = trials.groupby(["sweep", "state"], observed=False).size().unstack("state", fill_value=0)
    counts = counts.reindex(columns=list(STATES), fill_value=0)
    counts["total"] = counts.sum(axis=1)
    return counts


def broken_jobs(trials: pd.DataFrame) -> pd.DataFrame:
    """Jobs that are failed, running, incomplete or corrupt, or that have any problem noted."""
    bad = ~trials["state"].isin([STATE_COMPLETE, STATE_PRUNED]) | trials["issue"].notna()
    out = trials.loc[bad, ["sweep", "trial", "job_num", "state", "error", "issue", "job_dir"]]
    return out.reset_index(drop=True)


def rerun_command(job_overrides: Sequence[str]) -> str:
    """The single-run command that reproduces a trial's configuration (no ``-m``, no sweep groups)."""
    return " ".join([RERUN_PREFIX, *(shlex.quote(o) for o in rerun_overrides(job_overrides))])


def metrics_beside_baselines(row: pd.Series, segments: Sequence[str] = ("val", "test")) -> pd.DataFrame:
    """Metric x (segment, agent / buy-and-hold / flat) for one trial."""
    found: list[str] = []
    for c in row.index:
        if isinstance(c, str) and c.startswith(tuple(f"{s}/" for s in segments)):
            name = c.split("/", 1)[1]
            if name not in found:
                found.append(name)
    names = [m for m in METRIC_NAMES if m in found] + [m for m in found if m not in METRIC_NAMES]
    data: dict[tuple[str, str], list[float]] = {}
    for seg in segments:
        for who, prefix in (("agent", ""), ("buy & hold", "buy_and_hold/"), ("flat", "flat/")):
            data[(seg, who)] = [_num(row.get(f"{prefix}{seg}/{n}")) for n in names]
    df = pd.DataFrame(data, index=pd.Index(names, name="metric"))
    return df


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


@dataclass
class SweepSummary:
    """What the report says about one sweep."""

    info: SweepInfo
    trials: pd.DataFrame
    counts: dict[str, int]
    broken: pd.DataFrame
    best: pd.Series | None = None
    rerun: str | None = None
    rerun_overrides: list[str] = field(default_factory=list)
    rerun_status: str = ""
    importance: ImportanceResult | None = None
    pareto: pd.DataFrame | None = None
    equity: pd.DataFrame | None = None
    val_test_spearman: float = math.nan
    notes: list[str] = field(default_factory=list)
    db_verdict: str = ""
    db_problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def complete(self) -> pd.DataFrame:
        return self.trials[(self.trials["state"] == STATE_COMPLETE) & self.trials["objective"].notna()]

    def top(self, k: int = 10) -> pd.DataFrame:
        """The k best complete trials by the first objective."""
        done = self.complete
        return done.sort_values("objective", ascending=self.info.direction(0) == "minimize").head(k)


@dataclass
class Analysis:
    """The tidy step's output: the trial table and one summary per sweep."""

    multirun: Multirun
    sweeps: list[SweepSummary]

    @property
    def trials(self) -> pd.DataFrame:
        return self.multirun.trials

    @property
    def curves(self) -> pd.DataFrame:
        return self.multirun.curves

    def best_table(self) -> pd.DataFrame:
        """One row per sweep: the best trial with its val/test metric beside buy-and-hold."""
        rows = []
        for s in self.sweeps:
            metric = s.info.objective_metrics[0] if s.info.objective_metrics else "objective"
            b = s.best

            def get(column: str, best: pd.Series | None = b) -> float:
                return _num(best.get(column)) if best is not None else math.nan

            rows.append(
                {
                    "sweep": s.name,
                    "model": s.info.model or "?",
                    "trial": int(b["trial"]) if b is not None else None,
                    "objective": get("objective"),
                    "metric": metric,
                    "val sharpe": get("val/sharpe"),
                    "test sharpe": get("test/sharpe"),
                    "b&h val sharpe": get("buy_and_hold/val/sharpe"),
                    "b&h test sharpe": get("buy_and_hold/test/sharpe"),
                    "complete": s.counts.get(STATE_COMPLETE, 0),
                    "trials": sum(s.counts.values()),
                }
            )
        return pd.DataFrame(rows)


def cross_check_study(trials: pd.DataFrame, db: pd.DataFrame) -> tuple[str, list[str]]:
    """Compare the persisted study with the job directories: a verdict and one line per mismatch.

    Trials are matched by the ``job_num`` user attribute (by trial number when it is missing).
    """
    problems: list[str] = []
    by_job = {int(j): r for j, r in zip(trials["job_num"], trials.itertuples(index=False))}
    by_trial = {int(t): r for t, r in zip(trials["trial"], trials.itertuples(index=False))}
    seen: set[int] = set()
    for d in db.itertuples(index=False):
        has_job = d.job_num is not None and not (isinstance(d.job_num, float) and math.isnan(d.job_num))
        row = by_job.get(int(d.job_num)) if has_job else by_trial.get(int(d.trial))
        where = f"trial #{d.trial}" + (f" (job {int(d.job_num)})" if has_job else "")
        if row is None:
            problems.append(f"optuna.db has {where} ({d.db_state}) but there is no such job directory")
            continue
        seen.add(int(row.job_num))
        state = str(row.state)
        if state in (STATE_COMPLETE, STATE_PRUNED, "failed") and d.db_state != state:
            problems.append(f"optuna.db says {where} is {d.db_state}, its metrics.json says {state}")
        elif state == STATE_COMPLETE and d.db_state == STATE_COMPLETE:
            value = float(row.objective)
            if not (
                math.isclose(value, d.db_value, rel_tol=1e-9, abs_tol=1e-12)
                or (math.isnan(value) and math.isnan(d.db_value))
            ):
                problems.append(
                    f"optuna.db has value {d.db_value:.6g} for {where}, its metrics.json {value:.6g}"
                )
    finished = trials[trials["state"].isin([STATE_COMPLETE, STATE_PRUNED, "failed"])]
    for job in finished["job_num"]:
        if int(job) not in seen:
            problems.append(f"job {int(job)} has a metrics.json but no trial in optuna.db")
    if problems:
        return (
            f"optuna.db ({len(db)} trials) disagrees with the job directories in {len(problems)} place(s)",
            problems,
        )
    return (
        f"optuna.db ({len(db)} trials) agrees with the job directories on every trial's state and value",
        problems,
    )


def summarize_sweep(
    info: SweepInfo, trials: pd.DataFrame, importance: bool = True, verify_rerun: bool = True
) -> SweepSummary:
    """Best trial, counts, broken jobs, importance, Pareto front and equity of one sweep."""
    counts = {s: int((trials["state"] == s).sum()) for s in STATES}
    summary = SweepSummary(info=info, trials=trials, counts=counts, broken=broken_jobs(trials))
    idx = best_index(trials, info)
    if idx is not None:
        best = trials.loc[idx]
        summary.best = best
        overrides = list(best["overrides"]) if isinstance(best["overrides"], (list, tuple)) else []
        if overrides:
            rerun = rerun_for_job(best["job_dir"], overrides, verify=verify_rerun)
            summary.rerun_overrides = rerun.overrides + rerun.pins
            summary.rerun = rerun.command
            summary.rerun_status = rerun.status
        else:
            summary.notes.append("the best trial has no .hydra/overrides.yaml: no re-run command")
        summary.equity = read_equity(best["job_dir"])
        if summary.equity is None:
            summary.notes.append(f"the best trial (#{int(best['trial'])}) has no readable equity.csv")
    else:
        summary.notes.append("no complete trial with an objective value: no best trial")
    reported = info.reported.get("best_trial")
    if summary.best is not None and isinstance(reported, dict) and reported.get("number") is not None:
        if int(reported["number"]) != int(summary.best["trial"]):
            summary.notes.append(
                f"optimization_results.yaml names trial #{reported['number']} as best; the metrics files say "
                f"#{int(summary.best['trial'])} (trials may have finished after the sweeper wrote its file)"
            )
    if info.study_db is not None:
        summary.db_verdict, summary.db_problems = cross_check_study(trials, info.study_db)
    if importance:
        summary.importance = param_importance(trials, info.search_space, info.direction(0))
    done = summary.complete
    if info.multi_objective:
        cols = objective_columns(info)
        done_mo = done.dropna(subset=[c for c in cols if c in done.columns])
        if (
            len(cols) <= len(done_mo.columns)
            and all(c in done_mo.columns for c in cols)
            and not done_mo.empty
        ):
            mask = pareto_mask(done_mo[cols].to_numpy(float), info.directions)
            summary.pareto = done_mo.loc[mask]
    metric = info.objective_metrics[0] if info.objective_metrics else None
    if metric and test_metric(metric) in done.columns and len(done) >= 3:
        pair = done[["objective", test_metric(metric)]].dropna()
        if len(pair) >= 3:
            summary.val_test_spearman = float(pair.corr(method="spearman").iloc[0, 1])
    return summary


def analyse(multirun: Multirun, importance: bool = True, verify_rerun: bool = True) -> Analysis:
    """The tidy step: one :class:`SweepSummary` per sweep of the multirun."""
    summaries = []
    for info in multirun.sweeps:
        trials = multirun.trials[multirun.trials["sweep"] == info.name]
        summaries.append(summarize_sweep(info, trials, importance=importance, verify_rerun=verify_rerun))
    return Analysis(multirun=multirun, sweeps=summaries)


def param_values(row: pd.Series, info: SweepInfo) -> dict[str, Any]:
    """The searched parameters of one trial row, by name (missing ones left out)."""
    out = {}
    for p in info.search_space:
        v = row.get(PARAM_PREFIX + p)
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            out[p] = v.item() if isinstance(v, np.generic) else v
    return out
