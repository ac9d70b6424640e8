"""The answers the report leads with: does a sweep's best trial have an edge that holds out of
sample (:func:`verdict`), which sweep of a day is best (:func:`best_sweep`), and what to try next
(:func:`next_steps`); from the per-sweep summaries of :mod:`analysis.tables`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hpo_app import fmt

from .job_files import as_float
from .tables import SweepSummary


@dataclass(frozen=True)
class Verdict:
    """One line on a sweep: a headline, the numbers behind it, and whether the edge holds."""

    headline: str
    detail: str
    holds: bool = False


def _best_value(s: SweepSummary, column: str) -> float:
    return as_float(s.best.get(column)) if s.best is not None else math.nan


def verdict(s: SweepSummary) -> Verdict:
    """Does the sweep's best trial have an edge that holds out of sample?

    Holds: its validation Sharpe survives the deflation for the number of trials (DSR >= 0.95)
    *and* it beats buy-and-hold on the test segment, which no trial was chosen on."""
    if s.best is None:
        return Verdict("no complete trial", "nothing to judge")
    metric = s.sweep.objective_metrics[0]
    name = metric.split("/", 1)[-1]
    sign = -1.0 if s.sweep.direction(0) == "minimize" else 1.0
    val, test = _best_value(s, f"val/{name}"), _best_value(s, f"test/{name}")
    bh_val, bh_test = _best_value(s, f"buy_and_hold/val/{name}"), _best_value(s, f"buy_and_hold/test/{name}")
    ref_test = _best_value(s, f"reference/test/{name}")
    shown = fmt.label(name)
    parts = [f"Best validation {shown} {fmt.metric(name, val)}",
             f"test {fmt.metric(name, test)} against buy-and-hold's {fmt.metric(name, bh_test)}"]
    if not math.isnan(ref_test):
        parts[-1] += f" (the reference policy: {fmt.metric(name, ref_test)})"
    if s.deflated is not None:
        parts.append(f"deflated Sharpe {s.deflated.dsr:.2f} over {s.deflated.n_trials} trials")
    if s.overfitting is not None:
        parts.append(f"PBO {s.overfitting.pbo:.2f}")
    detail = "; ".join(parts)
    beats_test = not (math.isnan(test) or math.isnan(bh_test)) and sign * (test - bh_test) > 0
    beats_val = not (math.isnan(val) or math.isnan(bh_val)) and sign * (val - bh_val) > 0
    policy = str(s.best.get("policy") or "")
    if policy:
        return Verdict(f"the best trial is {policy}, not a learned policy", detail)
    if s.deflated is None or math.isnan(s.deflated.dsr):
        return Verdict("too few trials to judge", detail)
    if s.deflated.significant and beats_test:
        return Verdict("the edge holds out of sample", detail, holds=True)
    if s.deflated.significant:
        return Verdict("significant on validation, not confirmed on test", detail)
    if not beats_val:
        return Verdict("no edge: the best trial does not beat buy-and-hold on validation", detail)
    if beats_test:
        return Verdict("not distinguishable from luck, though it beats buy-and-hold on test", detail)
    return Verdict("not distinguishable from luck", detail)


def best_sweep(sweeps: list[SweepSummary]) -> tuple[SweepSummary, str] | None:
    """The sweep whose best trial is best on validation, among those with the first sweep's
    objective, and a caveat when their markets differ (validation values are then not comparable)."""
    done = [s for s in sweeps if s.best is not None]
    if len(done) < 2:
        return None
    key = (done[0].sweep.objective_metrics[0], done[0].sweep.direction(0))
    same = [s for s in done if (s.sweep.objective_metrics[0], s.sweep.direction(0)) == key]
    sign = -1.0 if key[1] == "minimize" else 1.0
    best = max(same, key=lambda s: sign * as_float(s.best.get("objective")))  # type: ignore[union-attr]
    markets = {s.sweep.facts.get("market") for s in same}
    caveat = "; their markets differ, so compare each with its own buy-and-hold" if len(markets) > 1 else ""
    if len(same) < len(done):
        caveat += f"; {len(done) - len(same)} sweep(s) with another objective not compared"
    return best, caveat


def next_steps(sweeps: list[SweepSummary]) -> list[str]:
    """What to try next, when no sweep's edge holds out of sample (empty otherwise)."""
    if not sweeps or any(verdict(s).holds for s in sweeps):
        return []
    steps = []
    if any(s.sweep.facts.get("data") == "edge" and s.sweep.facts.get("edge") == 0 for s in sweeps):
        steps.append("A sweep ran on `data.edge=0`, a market with nothing to learn: finding no edge there is the "
                     "right answer (a control, not a failure).")
    largest = max(s.counts.get("complete", 0) + s.counts.get("pruned", 0) for s in sweeps)
    if largest < 30:
        steps.append(f"More trials: the largest sweep here has {largest} finished trial(s); `hpo=standard` runs 40 "
                     "with median pruning. The deflated Sharpe ratio raises the bar with every trial, so more trials "
                     "help only if they find better agents.")
    if all(s.sweep.facts.get("validation", "holdout") == "holdout" for s in sweeps):
        steps.append("Walk-forward validation (`validation=walkforward`): the objective averages 4 folds, so a trial "
                     "must be good on each of them, not on one validation block.")
    models = {s.sweep.model for s in sweeps}
    others = [m for m in ("ppo", "dqn", "a2c") if m not in models]
    if others:
        steps.append("Another model: " + ", ".join(f"`model={m}`" for m in others) + ".")
    memorizing = [s for s in sweeps if s.best is not None
                  and _best_value(s, "train/sharpe") - _best_value(s, "val/sharpe") > 1.0]
    if memorizing:
        s = memorizing[0]
        steps.append(f"Less memorization: {s.name}'s best trial has a training Sharpe of "
                     f"{fmt.metric('sharpe', _best_value(s, 'train/sharpe'))} against "
                     f"{fmt.metric('sharpe', _best_value(s, 'val/sharpe'))} on validation. A smaller observation "
                     "(`env.window=1 env.features=returns`) closed that gap on the planted-edge market where "
                     "smaller networks, shorter training and weight decay did not (docs/agents.md).")
    return steps
