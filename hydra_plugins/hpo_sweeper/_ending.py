"""How a sweep ends: the way it ended in words, its last lines (the best trial, the confirmation's
recommendation, what to run next, how to resume), and its exit code."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import optuna

from hydra_plugins.hpo_sweeper._confirm_run import Confirmed, decision_lines, recorded
from hydra_plugins.hpo_sweeper._results import end_lines, resume_command
from hydra_plugins.hpo_sweeper._runner import Runner, Sweep
from hydra_plugins.hpo_sweeper._study import count_finished

log = logging.getLogger("hydra_plugins.hpo_sweeper")


def end_sweep(study: optuna.study.Study, sweep: Sweep, runner: Runner, confirmed: Confirmed | None, confirming: bool,
              *, max_failure_rate: float, n_trials: int, steps: list[str], format_value: Callable[[str, float], str],
              metrics: list[str]) -> None:
    """Print the last lines and exit with the sweep's code (130 Ctrl-C, 1 too many failures)."""
    interrupted = runner.stop_requested or (confirmed is not None and confirmed.runner.stop_requested)
    if interrupted:
        how = "interrupted (Ctrl-C)" + (" during the confirmation" if confirmed is not None else "")
    elif runner.too_many_failures:
        how = (f"stopped: {runner.tally.failures} failed trial(s) in this run, more than "
               f"max_failure_rate={max_failure_rate}; each error is in its job directory")
    else:
        how = "finished"
    searched_all = (sweep.population.finished if sweep.population is not None
                    else count_finished(study) >= n_trials)
    early = not searched_all or (confirming and (confirmed is None or confirmed.decision is None))
    resume = resume_command(sweep.config, sweep.sweep_dir) if early else None
    lines = end_lines(study, sweep_dir=sweep.sweep_dir, n_trials=n_trials, how=how, format_value=format_value,
                      metrics=metrics, next_steps=steps, resume_command=resume,
                      pbt=sweep.population.settings if sweep.population is not None else None)
    decision = recorded(study, sweep.storage) if confirming else None
    if decision is not None:
        name = metrics[0] if metrics else "value"
        at = next((i for i, line in enumerate(lines) if line.startswith("  sweep:")), len(lines))
        lines[at:at] = decision_lines(decision, sweep.config, lambda v: format_value(name, v))
    for line in lines:
        (log.warning if early else log.info)(line)
    if interrupted:
        sys.exit(130)
    if runner.too_many_failures:
        sys.exit(1)

