"""The raced confirmation: the search's top candidates meet the control (the untuned default) on fresh
seeds, and the control stays the recommendation unless a candidate beats it beyond noise and the
number of candidates.

The rule, written once here (docs/sweeper.md quotes it):

1. **Keys.** Every candidate runs on the same confirmation seeds, in rounds (round r: seed r of
   ``confirm.seeds``), each run scored on the same observations as every other (the app's
   ``paired_scores`` hook: per-bar validation returns). A candidate is compared with the control
   only on the seeds both have finished (paired, blocked: SMAC's intensification, irace's race).
2. **Losers stop early.** From round ``min_rounds`` on, after each round but the last, a candidate whose mean
   per-observation difference to the control, or to the current leader (both averaged over their
   common seeds), is negative at one-sided level ``level`` (a paired t-test over the observations)
   runs no more seeds. A candidate whose run fails is out (its reason kept).
3. **The decision.** When the last round is done: Hansen's test of superior predictive ability
   (``arch.bootstrap.SPA``, stationary bootstrap, studentized) with the control as benchmark and
   every candidate (eliminated ones too, on the seeds they ran) as a model, losses = minus the
   scores averaged over seeds. If its consistent p-value is below ``level``, the recommendation is
   the candidate with the best confirmed objective (mean over its seeds) among those the SPA finds
   better than the control (``better_models``); otherwise the control.

4. **Resolution** (reported, not part of the rule): for the candidate with the best confirmed
   objective, its mean per-observation advantage over the control with its standard error, and the
   smallest mean advantage that a one-sided paired test at ``level`` would call 4 times in 5
   (power ``POWER``) on these observations, i.i.d. normal approximation: (z(1 - level) + z(POWER)) x
   its standard error. One candidate tested alone; the SPA, which allows for the others too, needs
   at least as much. Over one run's per-observation standard deviation (``run_sd``, pooled over the
   control's and the candidate's runs), both are per-observation Sharpe ratios: the report
   annualizes them.

Nothing here runs a job or touches a study: :class:`Race` holds the candidates and what each has
run, says which (candidate, seed) pairs to run next, and decides (``_confirm`` drives it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

CONTROL = "control"
POWER = 0.8


@dataclass(frozen=True)
class Candidate:
    label: str  # "control", or "trial <n>"
    params: dict[str, Any]  # the searched keys' values
    search_value: float | None  # its objective in the search (None: the control had no search trial)
    trial: int | None  # its search trial


@dataclass(frozen=True)
class Run:
    value: float | None  # the objective the run returned (None: it failed)
    scores: np.ndarray | None  # its per-observation scores, higher is better
    error: str | None = None


@dataclass
class Standing:
    """One candidate's confirmation: its runs by seed, and why it stopped, if it did."""

    candidate: Candidate
    runs: dict[int, Run] = field(default_factory=dict)
    out: str | None = None  # eliminated (or failed): the reason

    def scores(self, seeds: list[int]) -> np.ndarray:
        return np.mean([self.runs[s].scores for s in seeds], axis=0)

    @property
    def finished(self) -> list[int]:
        return [s for s, r in self.runs.items() if r.error is None]

    @property
    def confirmed_value(self) -> float | None:
        values = [r.value for r in self.runs.values() if r.error is None and r.value is not None]
        return float(np.mean(values)) if values else None


@dataclass(frozen=True)
class Decision:
    recommended: str  # a candidate's label; CONTROL when nothing beat it
    p_value: float | None  # the SPA's consistent p-value (None: no test could be made)
    better: tuple[str, ...]  # the candidates the SPA finds better than the control
    difference: float | None  # recommended - control, mean per-observation score (0 for the control)
    difference_se: float | None  # its standard error over the observations
    reason: str  # in words


class Race:
    def __init__(self, candidates: list[Candidate], seeds: list[int], *, level: float, min_rounds: int,
                 sign: float = 1.0, bootstrap_seed: int = 0) -> None:
        """``sign``: +1 when the objective is maximized, -1 when minimized (the scores are always
        higher-is-better)."""
        if not candidates or candidates[0].label != CONTROL:
            raise ValueError("a race starts with the control")
        self.standings = {c.label: Standing(c) for c in candidates}
        self.seeds, self.level, self.min_rounds, self.sign = list(seeds), level, min_rounds, sign
        self.bootstrap_seed = bootstrap_seed

    @property
    def control(self) -> Standing:
        return self.standings[CONTROL]

    def alive(self) -> list[Standing]:
        return [s for s in self.standings.values() if s.out is None]

    def round(self) -> int:
        """The first round some candidate still alive has not finished (len(seeds): all done)."""
        for r, seed in enumerate(self.seeds):
            if any(seed not in s.runs for s in self.alive()):
                return r
        return len(self.seeds)

    def pending(self) -> list[tuple[str, int]]:
        """The (candidate, seed) pairs of the current round that have not run."""
        r = self.round()
        if r >= len(self.seeds) or self.control.out is not None:
            return []
        return [(s.candidate.label, self.seeds[r]) for s in self.alive() if self.seeds[r] not in s.runs]

    @property
    def done(self) -> bool:
        return not self.pending()

    def record(self, label: str, seed: int, run: Run) -> None:
        standing = self.standings[label]
        standing.runs[seed] = run
        if run.error is not None:
            standing.out = f"its run on seed {seed} failed: {run.error}"
        elif run.scores is None or not np.all(np.isfinite(run.scores)):
            standing.out = f"its run on seed {seed} left no scores to compare"

    def close_round(self) -> list[str]:
        """After a round: stop the candidates that lose beyond noise; returns the lines that say so."""
        r = self.round()
        if r < self.min_rounds or r >= len(self.seeds) or self.control.out is not None:
            return []  # too early to judge, or every seed has run: the decision weighs them all
        lines = []
        contenders = [s for s in self.alive() if s.candidate.label != CONTROL]
        leader = max(contenders + [self.control], key=lambda s: self._mean(s, s.finished))
        for standing in contenders:
            for rival in (self.control, leader):
                if rival is standing:
                    continue
                common = sorted(set(standing.finished) & set(rival.finished))
                d = standing.scores(common) - rival.scores(common)
                t = _t_statistic(d)
                if t is not None and _normal_cdf(t) < self.level:
                    standing.out = (f"stopped after {len(common)} seed(s): worse than {rival.candidate.label} "
                                    f"(paired t = {t:.2f})")
                    lines.append(f"{standing.candidate.label}: {standing.out}")
                    break
        return lines

    def _mean(self, standing: Standing, seeds: list[int]) -> float:
        return float(np.mean(standing.scores(seeds))) if seeds else -math.inf

    def decide(self) -> Decision:
        """The rule of the module docstring, on what has run."""
        from arch.bootstrap import SPA

        control = self.control
        if not control.finished:
            return Decision(CONTROL, None, (), None, None, "the control's runs failed: nothing to compare with")
        models = [s for s in self.standings.values() if s.candidate.label != CONTROL and s.finished]
        if not models:
            return Decision(CONTROL, None, (), 0.0, None, "no candidate finished a confirmation run")
        bench = control.scores(control.finished)
        matrix = np.column_stack([s.scores(s.finished) for s in models])
        spa = SPA(-bench, -matrix, reps=1000, seed=self.bootstrap_seed)  # losses: lower is better
        spa.compute()
        p = float(spa.pvalues["consistent"])
        better = [models[i] for i in spa.better_models(self.level)] if p < self.level else []
        if not better:
            return Decision(CONTROL, p, (), 0.0, None,
                            f"no candidate beats the control beyond noise (SPA p = {p:.3f} >= {self.level:g})")
        best = max(better, key=lambda s: self.sign * (s.confirmed_value if s.confirmed_value is not None else -math.inf))
        d = best.scores(best.finished) - bench
        return Decision(best.candidate.label, p, tuple(s.candidate.label for s in better), float(np.mean(d)),
                        float(np.std(d, ddof=1) / math.sqrt(len(d))),
                        f"{best.candidate.label} beats the control beyond noise (SPA p = {p:.3f} < {self.level:g})")


    def resolution(self) -> dict[str, Any] | None:
        """Rule 4 of the module docstring, on the seeds the best candidate and the control both finished
        (None: there are none, fewer than two observations, or scores that cannot be compared)."""
        control = self.control
        models = [s for s in self.standings.values() if s.candidate.label != CONTROL and s.finished
                  and s.confirmed_value is not None]
        if not control.finished or not models:
            return None
        best = max(models, key=lambda s: self.sign * s.confirmed_value)
        common = sorted(set(best.finished) & set(control.finished))
        runs = [self.standings[label].runs[seed].scores for label in (best.candidate.label, CONTROL) for seed in common]
        if not common or any(r is None or len(r) != len(runs[0]) or not np.all(np.isfinite(r)) for r in runs) \
                or len(runs[0]) < 2:
            return None
        d = best.scores(common) - control.scores(common)
        se = float(np.std(d, ddof=1) / math.sqrt(len(d)))
        z = NormalDist().inv_cdf(1 - self.level) + NormalDist().inv_cdf(POWER)
        # One run's spread (not the seed average's, which averaging shrinks), pooled over both.
        run_sd = float(np.sqrt(np.mean([np.var(r, ddof=1) for r in runs])))
        return {"candidate": best.candidate.label, "seeds": common, "observations": len(d), "advantage": float(np.mean(d)),
                "advantage_se": se, "detectable": z * se, "power": POWER, "run_sd": run_sd}


def resolution_line(res: dict[str, Any]) -> str:
    """The sweep's last line on ``Race.resolution``."""
    return (f"  resolution: {res['candidate']} {res['advantage']:+.3g} ± {res['advantage_se']:.2g} per observation over "
            f"the control ({res['observations']} observations); an advantage is called {res['power']:.0%} of the "
            f"time only from about {res['detectable']:.3g}")


def _t_statistic(d: np.ndarray) -> float | None:
    if len(d) < 2:
        return None
    sd = float(np.std(d, ddof=1))
    return None if sd == 0 else float(np.mean(d) / (sd / math.sqrt(len(d))))


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))
