"""How a job ended, as the driver tells Optuna and prints it: decoding, tally, progress line."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from hydra.core.utils import JobReturn
from omegaconf import OmegaConf
from optuna.trial import TrialState

from hydra_plugins.hpo_sweeper._private import job_error


@dataclass(frozen=True)
class Outcome:
    """One finished trial."""

    number: int
    job_num: int
    state: TrialState
    values: list[float] | None
    detail: str  # the error, or how the trial was pruned
    seconds: float
    error: BaseException | None = None


def decode(ret: JobReturn | BaseException, n_objectives: int) -> tuple[TrialState, list[float] | None, BaseException | None]:
    """A job's state, values and error. ``ret`` is an exception when the job never returned
    (its config did not compose, its worker died)."""
    error = ret if isinstance(ret, BaseException) else job_error(ret)
    if isinstance(error, optuna.TrialPruned):
        return TrialState.PRUNED, None, error
    if error is not None:
        return TrialState.FAIL, None, error
    assert isinstance(ret, JobReturn)
    values = as_values(ret.return_value, n_objectives)
    if isinstance(values, str):
        return TrialState.FAIL, None, ValueError(values)
    return TrialState.COMPLETE, values, None


def as_values(value: Any, n: int) -> list[float] | str:
    """The task's return value as ``n`` finite floats, or a one-line reason why not."""
    raw = value if isinstance(value, (list, tuple)) or OmegaConf.is_list(value) else [value]
    try:
        values = [float(v) for v in raw]
    except (TypeError, ValueError):
        return f"return value must be {n} float(s), got {value!r}"
    if len(values) != n:
        return f"return value has {len(values)} value(s), the study has {n} objective(s)"
    if not all(math.isfinite(v) for v in values):
        return f"return value is not finite: {values}"
    return values


@dataclass
class Tally:
    """Counts and the best value so far, kept in memory from what the driver told Optuna."""

    done: int
    directions: list[str]
    failures: int = 0  # this run's
    best: tuple[float, int] | None = None  # (value, trial number), single objective
    n_complete: int = 0
    show: Callable[[int, float], str] = field(default=lambda i, v: f"{v:.4f}")  # objective i's value, for people
    what: str = "trial"  # what a finished job is called in the progress line
    show_best: bool = True  # whether the progress line shows the best value so far

    def add(self, outcome: Outcome) -> None:
        self.done += 1
        self.failures += outcome.state == TrialState.FAIL
        if outcome.state != TrialState.COMPLETE or not outcome.values:
            return
        self.n_complete += 1
        if len(self.directions) == 1:
            self.offer(outcome.values[0], outcome.number)

    def offer(self, value: float, number: int) -> None:
        if self.best is None or (value > self.best[0] if self.directions[0] == "maximize" else value < self.best[0]):
            self.best = (value, number)

    def best_text(self) -> str:
        if len(self.directions) > 1:
            return f"see the Pareto front ({self.n_complete} complete)"
        return "-" if self.best is None else f"{self.show(0, self.best[0])} (trial {self.best[1]})"


def progress_line(outcome: Outcome, tally: Tally, n_trials: int, running: int) -> str:
    """``[3/8] trial 2 (job 2) COMPLETE in 14s: value 0.3120 | best 0.4402 (trial 0) | 2 running``"""
    if outcome.state == TrialState.COMPLETE:
        text = "value " + ", ".join(tally.show(i, v) for i, v in enumerate(outcome.values or []))
        if outcome.detail:  # population-based training: what the member does next; a confirmation run: its key
            text += f"; {outcome.detail}"
    elif outcome.state == TrialState.PRUNED:
        text = outcome.detail
    else:
        text = "error: " + outcome.detail[:160]
    best = f" | best {tally.best_text()}" if tally.show_best else ""
    return (
        f"[{tally.done}/{n_trials}] {tally.what} {outcome.number} (job {outcome.job_num}) {outcome.state.name} "
        f"in {outcome.seconds:.0f}s: {text}{best} | {running} running"
    )
