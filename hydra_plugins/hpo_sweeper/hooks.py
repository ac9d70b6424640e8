"""The seam between the sweeper and the application it sweeps.

The sweeper imports nothing from any application. What it needs from one comes through three
documented points, each optional, so that any Hydra app can be swept:

1. **The task's return value** is the trial's value: a float (a list of floats, one per
   direction, for a multi-objective study). Anything else, or a non-finite value, fails the
   trial. A task that raises ``optuna.TrialPruned`` is recorded PRUNED; any other exception FAIL,
   with its one-line message in the trial's user attribute ``error``.
2. **The trial side** (``hpo_record.trial.current_trial()``): inside a job, the
   task gets a link to its Optuna trial, reports intermediate values to it and asks whether to
   stop (the pruner of ``hydra.sweeper.pruner`` decides). Outside a sweep it returns None.
3. **Hooks** named in ``hydra.sweeper.hooks`` by dotted path:

   - ``check(config, searched)``: called before any trial with the composed config of a
     representative trial (every searched key at its first choice or its low end) and the list
     of searched keys, then again for every other choice and every range's high end. Raise ``ValueError`` with a one-line message to refuse the sweep: the
     driver prints ``error: <message>`` and exits with code 2 before any trial. Composing that
     config is itself a check: a searched key the config lacks is refused the same way.
   - ``job_failed(job)``: called with a ``hpo_record.seam.FailedJob`` for every trial whose job ended
     without its task returning or raising (interrupted by Ctrl-C, found stale by heartbeat,
     its config did not compose, its worker died), so the application can leave its own record
     of the failure in the job directory. Errors raised by the hook are logged, never fatal.
   - ``format_value(metric, value) -> str``: how the driver shows an objective value (named by
     ``hydra.sweeper.metric``, or ``value``) in its progress and end lines; default 4 decimals.
   - ``next_steps(sweep_dir) -> list[str]``: lines printed at the end of every sweep below its
     best trial, such as the command that reports on it; ``sweep_dir`` is given as a user would
     type it. Errors raised by these two are logged, never fatal.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from hpo_record.seam import FailedJob

log = logging.getLogger(__name__)


def load_hook(path: str | None, key: str, root: str = "hydra.sweeper.hooks") -> Callable[..., Any] | None:
    """The function at dotted ``path`` (None when not configured); a path that cannot be imported
    is a ValueError naming ``<root>.<key>`` (the sweep is refused in one line)."""
    if not path:
        return None
    from hydra.utils import get_method

    try:
        return get_method(path)
    except Exception as err:  # noqa: BLE001 - Hydra raises several types for a bad path
        raise ValueError(f"{root}.{key}={path}: cannot be imported ({err})") from None


def call_job_failed(hook: Callable[[FailedJob], None] | None, job: FailedJob) -> None:
    if hook is None:
        return
    try:
        hook(job)
    except Exception:  # noqa: BLE001 - the application's record is best effort
        log.exception("hooks.job_failed raised for trial %d (job %s)", job.trial_number, job.job_num)


def formatted(hook: Callable[[str, float], Any] | None, metric: str, value: float) -> str:
    """The application's way to show ``value`` (hook ``format_value``), or 4 decimals."""
    if hook is not None:
        try:
            return str(hook(metric, value))
        except Exception:  # noqa: BLE001 - the application's hook: never fatal
            log.debug("hooks.format_value raised", exc_info=True)
    return f"{value:.4f}"


def next_lines(hook: Callable[[str], Any] | None, sweep_dir: str) -> list[str]:
    """The application's lines below a sweep's best trial (hook ``next_steps``)."""
    if hook is None:
        return []
    try:
        return [str(line) for line in hook(sweep_dir)]
    except Exception:  # noqa: BLE001 - the application's hook: never fatal
        log.exception("hooks.next_steps raised")
        return []
