"""The section of the report on one sweep, as document blocks (:mod:`analysis.render`): its search,
the best trial beside the baselines and whether it holds on the unseen test segment, the trust
statistics, the re-run command, importance, the Pareto front, broken jobs, the plots; and, for a
population-based training sweep, its schedule and replay.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hpo_app import fmt as hfmt
from hpo_app.metrics import memorized

from . import confirmation, pbt, pbt_decision
from .importance import FEW_IMPORTANCE_PER_PARAM
from .job_files import as_float
from .render import Block, fmt
from .tables import (
    FEW_RANK_TRIALS,
    MIN_RANK_TRIALS,
    SweepSummary,
    cached_rerun,
    metrics_beside_baselines,
    objective_columns,
    objective_label,
    param_values,
    test_metric,
)

# --------------------------------------------------------------------------- formatting


def describe_distribution(dist: Any) -> str:
    """An Optuna distribution in words: ``choice of 32, 64`` or ``float in [1e-05, 0.003], log``."""
    if hasattr(dist, "choices"):
        return "choice of " + ", ".join(fmt(c) for c in dist.choices)
    kind = "int" if type(dist).__name__.startswith("Int") else "float"
    step = f", step {fmt(dist.step)}" if getattr(dist, "step", None) not in (None, 1) else ""
    return f"{kind} in [{fmt(dist.low)}, {fmt(dist.high)}], {'log' if dist.log else 'linear'}{step}"


# --------------------------------------------------------------------------- document model


LABELS = {
    "val/sharpe": "val Sharpe", "test/sharpe": "test Sharpe", "buy_and_hold/test/sharpe": "buy & hold test",
    "reference/test/sharpe": "reference test",
}


def _shown(value: Any, column: str) -> str:
    """A cell for people: a metric as ``hpo_app.fmt`` shows it (Sharpe 0.88, returns 12.3%),
    anything else by :func:`fmt`."""
    if isinstance(value, str):
        return value
    if hfmt.kind(column) != "number" and isinstance(value, (int, float, np.integer, np.floating)):
        return hfmt.metric(column, float(value))
    return fmt(value)


def table_block(df: pd.DataFrame, index: bool = False) -> Block:
    """A table block whose cells are already text (metric columns formatted by their name)."""
    if index:
        df = df.reset_index()
    shown = pd.DataFrame({LABELS.get(str(c), str(c)): [_shown(v, str(c)) for v in df[c]] for c in df.columns})
    return Block("table", table=shown)


def _metrics_table(best: pd.Series) -> pd.DataFrame | None:
    """The best trial's metrics beside the baselines, each row formatted as its metric."""
    mt = metrics_beside_baselines(best)
    if mt.empty:
        return None
    rows = {f"{seg} {who}": [hfmt.metric(name, v) for name, v in zip(mt.index, mt[(seg, who)])] for seg, who in mt.columns}
    return pd.DataFrame({"metric": list(mt.index), **rows})


def _rerun_of(s: SweepSummary, number: int) -> str | None:
    """The checked single-run command of search trial ``number`` (the best trial's is already known)."""
    if s.best is not None and int(s.best["trial"]) == number:
        return s.rerun
    rows = s.trials[s.trials["trial"] == number]
    job_dir = rows["job_dir"].iloc[0] if len(rows) else None
    rerun = cached_rerun(job_dir) if isinstance(job_dir, str) else None
    return None if rerun is None else rerun.command


def sweep_blocks(s: SweepSummary, plots: Sequence[Any]) -> list[Block]:
    info = s.sweep
    blocks = [Block("h2", f"{info.model or '?'} · {s.name}")]
    facts = [f"directory `{info.path}`", f"study `{info.study.study_name}`"]
    facts.append(
        "objective " + ", ".join(objective_label(info, i) for i in range(len(info.directions)))
    )
    facts.append(f"{len(info.params)} searched parameters")
    blocks.append(Block("p", "; ".join(facts) + "."))
    counts = ", ".join(f"{n} {state}" for state, n in s.counts.items() if n) or "no trial"
    blocks.append(Block("p", f"Trials in the study: {sum(s.counts.values())} ({counts})."))
    held = s.trials.loc[(s.trials["state"] == "complete") & (s.trials.get("policy", "") != ""), "policy"] \
        if "policy" in s.trials else pd.Series(dtype=str)
    if len(held):
        kinds = ", ".join(f"{n} {kind}" for kind, n in held.value_counts().items())
        blocks.append(Block("p", f"Complete trials whose validation policy is a baseline in disguise (in the market "
                                 f"on every bar, or never): {kinds}. They learned nothing but to hold."))

    blocks += confirmation.blocks(info.confirmation, info.objective_metrics[0], lambda n: _rerun_of(s, n),
                                  info.periods_per_year)
    blocks += pbt_decision.blocks(info.pbt_decision, info.objective_metrics[0], lambda n: _rerun_of(s, n),
                                  info.periods_per_year)
    if s.best is not None:
        b = s.best
        blocks.append(Block("h3", f"Best trial: #{int(b['trial'])} (job directory {int(b['job_num'])})"))
        values = ", ".join(
            f"{objective_label(info, i)} = {hfmt.metric(info.objective_metrics[i], as_float(b.get('objective' if i == 0 else f'objective_{i}')))}"
            for i in range(max(1, len(info.objective_metrics)))
        )
        policy = str(b.get("policy") or "")
        blocks.append(Block("p", values + (f". Its policy is **{policy}**: a baseline, not a learned policy." if policy else ".")))
        params = param_values(b, info)
        if params:
            dists = info.distributions
            rows = [
                {"parameter": k, "value": fmt(v), "searched": describe_distribution(dists[k])}
                for k, v in params.items()
            ]
            blocks.append(table_block(pd.DataFrame(rows)))
        mt = _metrics_table(b)
        if mt is not None:
            blocks.append(Block("p", "Its metrics (net of costs) beside the baselines on the same segments:"))
            blocks.append(table_block(mt))
        for line in (beats_line(s), _gap_line(s), _kept_line(s)):
            if line:
                blocks.append(Block("p", line))
        blocks += _pbt_blocks(s)
        if s.rerun and s.pbt_schedule is None:
            blocks.append(Block("p", "Re-run this trial (a single run, no sweep):"))
            blocks.append(Block("code", s.rerun))
            if s.rerun_status:
                blocks.append(Block("p", f"Check of this command: {s.rerun_status}."))
    if s.pareto is not None and not s.pareto.empty:
        cols = ["trial"] + [c for c in objective_columns(info) if c in s.pareto.columns]
        front = s.pareto[cols].rename(columns={c: info.objective_metrics[i] for i, c in enumerate(cols[1:])})
        for m in info.objective_metrics:
            if test_metric(m) != m and test_metric(m) in s.pareto.columns:
                front[test_metric(m)] = s.pareto[test_metric(m)]
        blocks.append(Block("h3", f"Pareto front ({len(front)} of {len(s.complete)} complete trials)"))
        blocks.append(
            Block(
                "p",
                "No other trial is better on every objective; the best trial above is the front's best on the first objective.",
            )
        )
        blocks.append(table_block(front.sort_values(front.columns[1], ascending=info.direction(0) == "minimize")))
    metric = info.objective_metrics[0]
    if not s.complete.empty:
        top = s.top(5)
        tcol = test_metric(metric)
        cols = {"trial": top["trial"], metric: top["objective"]}
        if tcol in top.columns and tcol != metric:
            cols[tcol] = top[tcol]
        if "policy" in top.columns and (top["policy"] != "").any():
            cols["policy"] = top["policy"]
        blocks.append(Block("h3", "How sure can we be"))
        blocks.append(Block("p", f"Top {len(top)} of {len(s.complete)} complete trials by validation, with their test value:"))
        blocks.append(table_block(pd.DataFrame(cols)))
        n = s.val_test_n
        if tcol != metric and math.isnan(s.val_test_spearman):
            blocks.append(Block("p", f"Rank correlation between validation and test not shown: {n} complete trial(s) "
                                     f"with both values, it needs {MIN_RANK_TRIALS}."))
        elif not math.isnan(s.val_test_spearman):
            few = (f" It rests on {n} trials: a rough indication (a reliable one needs {FEW_RANK_TRIALS} or more)."
                   if n < FEW_RANK_TRIALS else "")
            blocks.append(
                Block(
                    "p",
                    f"Rank correlation between validation and test {metric.split('/', 1)[-1]} over {n} complete trials: "
                    f"Spearman rho = {s.val_test_spearman:.2f} (1: the validation ranking holds on unseen data; "
                    f"near 0: the winner is largely luck).{few}",
                )
            )
    if s.importance is not None:
        imp = s.importance
        blocks.append(Block("h3", "Parameter importance"))
        if imp.ok:
            few = FEW_IMPORTANCE_PER_PARAM * len(info.params)
            rough = (f" {imp.n_trials} trials for {len(info.params)} parameters: a rough ranking (a firm one needs "
                     f"about {few})." if imp.n_trials < few else "")
            blocks.append(Block("p", f"Method: Optuna's {imp.method} evaluator, on {imp.n_trials} complete trials.{rough}"))
            blocks.append(
                table_block(
                    pd.DataFrame(
                        {"parameter": list(imp.importances), "importance": [f"{v:.2f}" for v in imp.importances.values()]}
                    )
                )
            )
        else:
            blocks.append(Block("p", imp.note[0].upper() + imp.note[1:] + "."))
    problems = list(info.problems) + list(s.notes)
    if problems:
        blocks.append(Block("h3", "Notes"))
        blocks.append(Block("list", items=problems))
    blocks.append(Block("h3", f"Broken or unfinished jobs ({len(s.broken)})"))
    if s.broken.empty:
        blocks.append(Block("p", "None: every trial is complete or pruned and its job directory is intact."))
    else:
        df = s.broken.copy()
        df["problem"] = [
            "; ".join(str(x) for x in (e, i) if isinstance(x, str) and x)
            for e, i in zip(df["error"], df["issue"])
        ]
        blocks.append(
            table_block(df[["job_num", "trial", "state", "problem", "job_dir"]].rename(columns={"job_num": "job"}))
        )
    for p in plots:
        if p.sweep == s.name:
            blocks.append(Block("img", p.title, image=p))
    return blocks


def _pbt_blocks(s: SweepSummary) -> list[Block]:
    """A population-based training sweep's result: the schedule it was trained with, and its replay."""
    chain = s.pbt_schedule
    if chain is None:
        return []
    metric = s.sweep.objective_metrics[0]
    explored = pbt.mutable_params(s.trials, [c for c in s.trials.columns if c.startswith("params_")])
    table = pbt.schedule_table(chain, explored, metric)
    table[metric] = [hfmt.metric(metric, as_float(v)) for v in table[metric]]
    blocks = [Block("p", f"Population-based training: the best member at the end of its budget, trained in "
                         f"{len(chain)} interval(s); the explored hyperparameters in force in each (start: how the "
                         "interval began: first, continue its own model, exploit or replace: a clone of another "
                         "member's model):"), table_block(table)]
    if s.pbt_replay:
        blocks.append(Block("p", "Train it again, interval by interval (single runs, each continuing the previous "
                                 "one's saved model with that interval's hyperparameters and seed):"))
        blocks.append(Block("code", "\n".join(s.pbt_replay)))
    return blocks


def beats_line(s: SweepSummary) -> str:
    """One sentence: does the best trial beat buy-and-hold on validation and on the unseen test?"""
    metric = s.sweep.objective_metrics[0]
    if s.best is None or not metric.startswith("val/"):
        return ""
    name = metric.split("/", 1)[1]
    sign = 1.0 if s.sweep.direction(0) == "maximize" else -1.0
    parts = []
    for seg, label in (("val", "validation"), ("test", "test (unseen)")):
        agent, bh = as_float(s.best.get(f"{seg}/{name}")), as_float(s.best.get(f"buy_and_hold/{seg}/{name}"))
        if math.isnan(agent) or math.isnan(bh):
            continue
        word = "beats" if sign * (agent - bh) > 0 else "does not beat"
        ref = as_float(s.best.get(f"reference/{seg}/{name}"))
        known = f"; the reference policy, the market's planted edge, earns {hfmt.metric(name, ref)}" if not math.isnan(ref) else ""
        parts.append(f"on {label} it {word} buy-and-hold ({hfmt.label(name)} {hfmt.metric(name, agent)} vs {hfmt.metric(name, bh)}{known})")
    return ("The best trial: " + "; ".join(parts) + ".") if parts else ""


def _gap_line(s: SweepSummary) -> str:
    """The best trial's train - validation Sharpe gap, beside the reference policy's (the market's
    own gap on the planted-edge market), and whether it beats on its training bars what is knowable."""
    if s.best is None:
        return ""
    train, val = as_float(s.best.get("train/sharpe")), as_float(s.best.get("val/sharpe"))
    if math.isnan(train) or math.isnan(val):
        return ""
    gap = train - val
    if gap > 0:
        head = "Training against validation: it does better on the bars it trained on"
    else:
        head = "Training against validation: it does no better on the bars it trained on than on validation (no sign of memorization)"
    line = (f"{head}. Its training Sharpe is {hfmt.metric('sharpe', train)}, validation {hfmt.metric('sharpe', val)}: "
            f"a gap of {hfmt.metric('sharpe', gap)}")
    ref_train, ref_val = as_float(s.best.get("reference/train/sharpe")), as_float(s.best.get("reference/val/sharpe"))
    if math.isnan(ref_train) or math.isnan(ref_val):
        return line + "."
    line += (f" (the reference policy's, the market's own: {hfmt.metric('sharpe', ref_train - ref_val)})")
    if memorized({"train/sharpe": train, "val/sharpe": val}, {"train/sharpe": ref_train, "val/sharpe": ref_val}):
        line += (f". On its training bars it beats the reference's {hfmt.metric('sharpe', ref_train)}, the rule the "
                 f"planted edge rewards, and loses {hfmt.metric('sharpe', gap - (ref_train - ref_val))} more to "
                 "validation than the reference does: it memorized its training path")
    return line + "."


def _kept_line(s: SweepSummary) -> str:
    """With train.keep=best, validation also chose each agent's checkpoint: say so."""
    if "kept_step" not in s.trials or not s.trials["kept_step"].notna().any():
        return ""
    step = as_float(s.best.get("kept_step")) if s.best is not None else math.nan
    where = f" (the best trial's: step {int(step):,} of {int(as_float(s.best.get('timesteps'))):,})" if not math.isnan(step) else ""
    return ("`train.keep=best`: each agent is the checkpoint of its best validation evaluation" + where + ", one "
            "more selection on the validation segment, so its validation figures flatter it more than the last "
            "policy's would; the test segment stays untouched.")
