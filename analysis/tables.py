"""From the trial table and the study to the answers: best trial, counts, broken jobs, Pareto front,
parameter importance (``analysis.importance``), the validation-to-test rank correlation, the re-run.

Pure functions of the table and the study; the only files read are the best trial's equity curve
and ``.hydra/`` (for the re-run command).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hpo_app import fmt
from hpo_app.metrics import METRIC_NAMES

from . import pbt
from .cache import Memo, frame_bytes
from .importance import MIN_IMPORTANCE_TRIALS, Importance, importance_minimum, param_importance
from .job_files import as_float, read_equity
from .load import STATES, Multirun, Sweep, param_column
from .rerun import Rerun, rerun_for_job, rerun_inputs
from .significance import Deflated, Overfitting, backtest_overfitting, deflated_sharpe, per_bar_sharpe, splits_for

# Sample sizes below which a statistic is not shown (MIN) or shown with a warning (FEW).
MIN_RANK_TRIALS, FEW_RANK_TRIALS = 5, 20  # the validation-to-test rank correlation
MIN_PBO_TRIALS, FEW_PBO_TRIALS = 4, 10
FEW_DSR_TRIALS = 10
HOLD_TOLERANCE = 0.05
"""A policy in the market on every validation bar, trading at most twice, whose Sharpe is within
this of buy-and-hold's (or of its negative) holds the market: it is buy-and-hold (short-and-hold)
whatever its size, not a learned policy."""


def policy_of(row: pd.Series) -> str:
    """``flat``, ``buy & hold`` or ``short & hold`` when the trial's validation policy is one of
    these in disguise; empty otherwise (or when the record lacks the metrics)."""
    exposure, trades = as_float(row.get("val/exposure")), as_float(row.get("val/n_trades"))
    if math.isnan(exposure) or math.isnan(trades):
        return ""
    if exposure <= 0.005:
        return "flat"
    if exposure >= 0.995 and trades <= 2:
        sharpe, bh = as_float(row.get("val/sharpe")), as_float(row.get("buy_and_hold/val/sharpe"))
        if abs(sharpe - bh) <= HOLD_TOLERANCE:
            return "buy & hold"
        if abs(sharpe + bh) <= HOLD_TOLERANCE:
            return "short & hold"
    return ""


def objective_columns(sweep: Sweep) -> list[str]:
    return ["objective"] + [f"objective_{i}" for i in range(1, len(sweep.directions))]


def objective_label(sweep: Sweep, i: int = 0) -> str:
    return f"{sweep.objective_metrics[i]} ({sweep.direction(i)})"


def test_metric(metric: str) -> str:
    """``val/sharpe`` -> ``test/sharpe`` (the objective's counterpart on the test segment)."""
    return "test/" + metric.split("/", 1)[1] if metric.startswith("val/") else metric


def broken_jobs(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials that failed, still run or wait, or whose job directory has a problem."""
    bad = ~trials["state"].isin(["complete", "pruned"]) | trials["issue"].notna()
    return trials.loc[bad, ["sweep", "trial", "job_num", "state", "error", "issue", "job_dir"]].reset_index(drop=True)


def metrics_beside_baselines(row: pd.Series, segments: tuple[str, ...] = ("val", "test")) -> pd.DataFrame:
    """Metric x (segment, agent / buy-and-hold / flat) for one trial."""
    names = [m for m in METRIC_NAMES if any(f"{s}/{m}" in row.index for s in segments)]
    who = [("agent", ""), ("buy & hold", "buy_and_hold/"), ("flat", "flat/")]
    if pd.notna(row.get("reference/val/sharpe")):  # the planted-edge market's reference policy
        who.append(("reference", "reference/"))
    data = {(seg, name): [as_float(row.get(f"{prefix}{seg}/{n}")) for n in names] for seg in segments for name, prefix in who}
    return pd.DataFrame(data, index=pd.Index(names, name="metric"))


@dataclass
class SweepSummary:
    """What the report says about one sweep."""

    sweep: Sweep
    trials: pd.DataFrame
    counts: dict[str, int]
    broken: pd.DataFrame
    best: pd.Series | None = None
    rerun: str | None = None
    rerun_status: str = ""
    importance: Importance | None = None
    pareto: pd.DataFrame | None = None
    equity: pd.DataFrame | None = None
    val_test_spearman: float = math.nan
    val_test_n: int = 0  # complete trials with both values
    notes: list[str] = field(default_factory=list)
    deflated: Deflated | None = None
    overfitting: Overfitting | None = None
    trust_notes: list[str] = field(default_factory=list)  # why a statistic was not computed
    pbt_schedule: pd.DataFrame | None = None  # population-based training: the best member's lineage
    pbt_replay: list[str] | None = None  # single runs that train it again, interval by interval
    data_key: str | None = None  # a hash of what the summary is computed from (with the report's cache)

    @property
    def name(self) -> str:
        return self.sweep.name

    @property
    def complete(self) -> pd.DataFrame:
        return self.trials[(self.trials["state"] == "complete") & self.trials["objective"].notna()]

    def top(self, k: int = 10) -> pd.DataFrame:
        """The k best complete trials by the first objective."""
        return self.complete.sort_values("objective", ascending=self.sweep.direction(0) == "minimize").head(k)


def summarize_sweep(sweep: Sweep, trials: pd.DataFrame, importance: str | None = "auto",
                    rerun: bool = True, memo: Memo | None = None) -> SweepSummary:
    counts = {s: int((trials["state"] == s).sum()) for s in STATES}
    summary = SweepSummary(sweep, trials, counts, broken_jobs(trials))
    done = summary.complete
    if done.empty:
        summary.notes.append("no complete trial with an objective value: no best trial")
    else:
        summary.best = summary.top(1).iloc[0]
        if pbt.is_pbt(trials):  # the best member at the end of its budget, not the best interval
            final = pbt.final_intervals(trials)
            if not final.empty:
                summary.best = final.sort_values("objective", ascending=sweep.direction(0) == "minimize").iloc[0]
                summary.pbt_schedule = pbt.lineage(trials, sweep.study, int(summary.best["trial"]))
            summary.notes.append(
                f"population-based training: {trials['pbt_member'].nunique()} members, {len(final)} at the end of "
                f"their budget ({int(trials['pbt_end'].max())} steps); each trial is one interval of a member, and the "
                "best trial is the best member at the end (not the best interval on the way). The deflated Sharpe "
                "ratio counts every evaluated interval as a trial tried.")
        job_dir = summary.best["job_dir"]
        if rerun:
            add_rerun(summary, memo)
        summary.equity = read_equity(job_dir) if isinstance(job_dir, str) else None
        if summary.equity is None:
            summary.notes.append(f"the best trial (#{int(summary.best['trial'])}) has no readable equity.csv")
    if sweep.multi_objective and not done.empty:
        front = {t.number for t in sweep.study.best_trials}
        summary.pareto = done[done["trial"].isin(front)]
    memo = memo or Memo(None)
    if memo.enabled:
        summary.data_key = memo.key("data", sweep.name, sweep.model, sweep.facts, sweep.directions,
                                    sweep.objective_metrics, sorted(map(repr, sweep.distributions.items())),
                                    frame_bytes(trials, alone=True), sorted((n, r.tobytes()) for n, r in sweep.returns.items()))
    key = memo.key("summary", summary.data_key, importance) if summary.data_key else None
    costly = memo.get(key)
    if costly is None:
        costly = _costly_parts(summary, importance)
        memo.put(key, costly)
    summary.importance, summary.deflated, summary.overfitting, summary.trust_notes = costly
    tcol = test_metric(sweep.objective_metrics[0])
    if tcol in done.columns and tcol != sweep.objective_metrics[0]:
        pair = done[["objective", tcol]].dropna()
        summary.val_test_n = len(pair)
        if len(pair) >= MIN_RANK_TRIALS:
            summary.val_test_spearman = float(pair.corr(method="spearman").iloc[0, 1])
    return summary


def _costly_parts(summary: SweepSummary, importance: str | None) -> tuple[Any, Any, Any, list[str]]:
    """Optuna's importance, the deflated Sharpe ratio, the probability of backtest overfitting and
    why one was not computed: the parts of a summary worth keeping in the report's cache."""
    sweep, done = summary.sweep, summary.complete
    found = None
    if importance:
        needed = importance_minimum(len(sweep.params))
        if len(done) < needed:
            found = Importance(None, {}, f"not shown: {len(done)} complete trial(s) for {len(sweep.params)} "
                               f"searched parameters; it needs {needed} (2 per parameter, at least "
                               f"{MIN_IMPORTANCE_TRIALS}) to mean anything", len(done))
        else:
            found = param_importance(sweep.study, importance)
    add_significance(summary)
    return found, summary.deflated, summary.overfitting, summary.trust_notes


def add_significance(summary: SweepSummary) -> None:
    """The deflated Sharpe ratio of the best trial and the probability of backtest overfitting,
    from the trials' per-bar validation returns (``analysis.significance``)."""
    sweep, t = summary.sweep, summary.trials
    tried = [n for n in t.loc[t["state"].isin(["complete", "pruned"]), "trial"] if n in sweep.returns]
    if summary.best is None or int(summary.best["trial"]) not in sweep.returns:
        summary.trust_notes.append("no deflated Sharpe ratio: no complete best trial with validation returns")
    elif len(tried) < 2:
        summary.trust_notes.append(f"no deflated Sharpe ratio: it needs at least 2 trials with validation returns, "
                                   f"there are {len(tried)}")
    else:
        sharpes = [per_bar_sharpe(sweep.returns[n]) for n in tried]
        summary.deflated = deflated_sharpe(sweep.returns[int(summary.best["trial"])], np.asarray(sharpes))
    complete = [int(n) for n in summary.complete["trial"] if int(n) in sweep.returns]
    lengths = {len(sweep.returns[n]) for n in complete}
    if len(complete) < MIN_PBO_TRIALS or len(lengths) != 1:
        why = "trials' validation returns differ in length" if len(lengths) > 1 else f"{len(complete)} complete trial(s)"
        summary.trust_notes.append(f"no probability of backtest overfitting: it needs {MIN_PBO_TRIALS} complete trials "
                                   f"or more with validation returns of the same length ({why})")
    else:
        matrix = np.column_stack([sweep.returns[n] for n in complete])
        summary.overfitting = backtest_overfitting(matrix, n_splits=splits_for(len(matrix)))


def cached_rerun(job_dir: str, memo: Memo | None = None) -> Rerun | None:
    """:func:`analysis.rerun.rerun_for_job`, kept in the report's cache."""
    memo = memo or Memo(None)
    inputs = rerun_inputs(job_dir) if memo.enabled else None
    key = memo.key("rerun", *inputs) if inputs is not None else None
    rerun = memo.get(key)
    if rerun is None:
        rerun = rerun_for_job(job_dir)
        memo.put(key, rerun)
    return rerun


def add_rerun(summary: SweepSummary, memo: Memo | None = None) -> None:
    """The command that re-runs the best trial, checked by composing it (Hydra's compose API)."""
    job_dir = summary.best["job_dir"] if summary.best is not None else None
    rerun = cached_rerun(job_dir, memo) if isinstance(job_dir, str) else None
    if rerun is None:
        if summary.best is not None:
            summary.notes.append("the best trial has no readable .hydra/overrides.yaml: no re-run command")
        return
    summary.rerun, summary.rerun_status = rerun.command, rerun.status
    if summary.pbt_schedule is not None:
        summary.pbt_replay = pbt.replay_commands(summary.pbt_schedule, lambda job: cached_rerun(job, memo))


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
        """One row per sweep: the best trial with its validation and test Sharpe beside
        buy-and-hold's (and the reference policy's, on the planted-edge market), and the objective
        when it is not the validation Sharpe."""
        rows = []
        for s in self.sweeps:
            b = s.best

            def get(column: str, best: pd.Series | None = b) -> float:
                return as_float(best.get(column)) if best is not None else math.nan

            metric = s.sweep.objective_metrics[0]
            rows.append({
                "sweep": s.name, "model": s.sweep.model or "?",
                "trials": sum(s.counts.values()), "complete": s.counts.get("complete", 0),
                "best trial": int(b["trial"]) if b is not None else None,
                "objective": "" if metric == "val/sharpe" else f"{metric} {fmt.metric(metric, get('objective'))}",
                "val/sharpe": get("val/sharpe"), "test/sharpe": get("test/sharpe"),
                "buy_and_hold/test/sharpe": get("buy_and_hold/test/sharpe"),
                "reference/test/sharpe": get("reference/test/sharpe"),
            })
        table = pd.DataFrame(rows)
        for column in ("objective", "reference/test/sharpe"):
            if column in table and (table[column].isna() | (table[column] == "")).all():
                table = table.drop(columns=[column])
        return table


def analyse(multirun: Multirun, importance: str | None = "auto", rerun: bool = True,
            memo: Memo | None = None) -> Analysis:
    """The tidy step: one :class:`SweepSummary` per sweep of the multirun (``rerun=False``: the
    re-run commands are left to :func:`add_rerun`, e.g. while the plots are drawn; ``memo``: the
    report's cache of importances, significance and re-run commands)."""
    trials = multirun.trials
    if "policy" not in trials.columns:
        trials["policy"] = [policy_of(row) for _, row in trials.iterrows()] if len(trials) else pd.Series(dtype=str)
    return Analysis(multirun, [summarize_sweep(s, trials[trials["sweep"] == s.name], importance, rerun, memo)
                               for s in multirun.sweeps])


def param_values(row: pd.Series, sweep: Sweep) -> dict[str, Any]:
    """The searched parameters of one trial row, by name (missing ones left out)."""
    out = {}
    for p in sweep.params:
        v = row.get(param_column(p))
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            out[p] = v.item() if isinstance(v, np.generic) else v
    return out
