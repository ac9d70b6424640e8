"""What a population-based training sweep's study records of each interval (``ATTR_*`` user
attributes: its member, its steps, where it started from), and what is read back from them: an
interval's lineage, the sweep's summary for ``optimization_results.yaml``, and the intervals a
stopped driver left waiting. The decisions are :mod:`hydra_plugins.hpo_sweeper._pbt`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hydra_plugins.hpo_sweeper._pbt import PbtSettings

ATTR_MEMBER = "pbt_member"  # the member this interval trained
ATTR_START = "pbt_start"  # its steps at the start of the interval
ATTR_END = "pbt_end"  # its steps at the end (what the job was asked to reach)
ATTR_PARENT = "pbt_parent"  # the trial whose checkpoint it continued (None: trained from scratch)
ATTR_EXPLOITED = "pbt_exploited"  # the member whose checkpoint it cloned before this interval, if any
ATTR_REASON = "pbt_reason"  # why it starts where it does: first, continue, exploit, replace, retry, restart


STALE_WAITING = "enqueued by a driver that stopped before starting it (population-based training)"


def discard_waiting(study: Any) -> int:
    """Fail the study's WAITING trials: a PBT driver enqueues an interval's hyperparameters and asks
    for it at once, so one still waiting was left by a driver killed between the two; the resumed
    population decides its members' next intervals again, and the next ``ask`` must not take it."""
    from optuna.trial import TrialState

    from hydra_plugins.hpo_sweeper._study import ATTR_ERROR

    n = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    for _ in range(n):
        trial = study.ask()  # takes the oldest waiting one
        trial.set_user_attr(ATTR_ERROR, STALE_WAITING)
        study.tell(trial, state=TrialState.FAIL)
    return n


def lineage(trials: Sequence[Any], number: int) -> list[Any]:
    """The intervals that led to trial ``number``, first to last (following ``ATTR_PARENT``)."""
    by_number = {t.number: t for t in trials}
    chain: list[Any] = []
    current = by_number.get(number)
    while current is not None and current not in chain:
        chain.append(current)
        parent = current.user_attrs.get(ATTR_PARENT)
        current = by_number.get(parent) if parent is not None else None
    return chain[::-1]


def summary(trials: Sequence[Any], settings: PbtSettings | None, direction: str, mutable: Sequence[str]) -> dict[str, Any]:
    """``optimization_results.yaml``'s ``pbt`` node: the best member at the end of its budget, its
    schedule (the hyperparameters in force over its lineage), and every interval."""
    from hydra_plugins.hpo_sweeper._study import ATTR_JOB_NUM

    intervals = [t for t in trials if t.user_attrs.get(ATTR_MEMBER) is not None]
    total = settings.total if settings is not None else max((int(t.user_attrs[ATTR_END]) for t in intervals), default=0)
    final = [t for t in intervals if t.state.name == "COMPLETE" and int(t.user_attrs[ATTR_END]) >= total]
    out: dict[str, Any] = {"total_timesteps": total, "finished_members": len(final)}
    if settings is not None:
        out.update(population_size=settings.population_size, perturbation_interval=settings.interval,
                   quantile_fraction=settings.quantile_fraction, resample_probability=settings.resample_probability)
    if final:
        sign = 1.0 if direction == "maximize" else -1.0
        best = max(final, key=lambda t: (sign * float(t.value), -t.number))
        out["best"] = {"member": best.user_attrs[ATTR_MEMBER], "trial": best.number,
                       "job_num": best.user_attrs.get(ATTR_JOB_NUM), "value": float(best.value),
                       "params": dict(best.params)}
        out["best_schedule"] = [
            {"trial": t.number, "job_num": t.user_attrs.get(ATTR_JOB_NUM), "member": t.user_attrs[ATTR_MEMBER],
             "steps": [int(t.user_attrs[ATTR_START]), int(t.user_attrs[ATTR_END])],
             "params": {k: v for k, v in t.params.items() if k in mutable}, "value": float(t.value)}
            for t in lineage(trials, best.number)]
    out["intervals"] = [
        {"trial": t.number, "job_num": t.user_attrs.get(ATTR_JOB_NUM), "member": t.user_attrs[ATTR_MEMBER],
         "steps": [int(t.user_attrs[ATTR_START]), int(t.user_attrs[ATTR_END])], "parent": t.user_attrs.get(ATTR_PARENT),
         "exploited": t.user_attrs.get(ATTR_EXPLOITED), "reason": t.user_attrs.get(ATTR_REASON),
         "state": t.state.name.lower(), "value": None if t.value is None else float(t.value)}
        for t in intervals]
    return out
