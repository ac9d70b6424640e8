"""What a population-based training sweep's study records of each interval (the ``ATTR_*`` user
attributes of :mod:`hpo_record.study`: its member, its steps, where it started from), and what is
read back from them: the sweep's summary for ``optimization_results.yaml`` (the best member's
schedule follows its lineage, ``hpo_record.study.lineage``), and the intervals a stopped driver
left waiting. The decisions are :mod:`hydra_plugins.hpo_sweeper._pbt`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpo_record.study import (
    ATTR_END,
    ATTR_ERROR,
    ATTR_EXPLOITED,
    ATTR_JOB_NUM,
    ATTR_MEMBER,
    ATTR_PARENT,
    ATTR_REASON,
    ATTR_ROLE,
    ATTR_START,
    ROLE_CONTROL,
    lineage,
)

if TYPE_CHECKING:
    from hydra_plugins.hpo_sweeper._pbt_settings import PbtSettings


STALE_WAITING = "enqueued by a driver that stopped before starting it (population-based training)"


def discard_waiting(study: Any) -> int:
    """Fail the study's WAITING trials: a PBT driver enqueues an interval's hyperparameters and asks
    for it at once, so one still waiting was left by a driver killed between the two; the resumed
    population decides its members' next intervals again, and the next ``ask`` must not take it."""
    from optuna.trial import TrialState

    n = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    for _ in range(n):
        trial = study.ask()  # takes the oldest waiting one
        trial.set_user_attr(ATTR_ERROR, STALE_WAITING)
        study.tell(trial, state=TrialState.FAIL)
    return n


def summary(trials: Sequence[Any], settings: PbtSettings | None, direction: str, mutable: Sequence[str]) -> dict[str, Any]:
    """``optimization_results.yaml``'s ``pbt`` node: the best member at the end of its budget, its
    schedule (the hyperparameters in force over its lineage), and every interval."""
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
    control = [t for t in final if t.user_attrs.get(ATTR_ROLE) == ROLE_CONTROL]
    if control:  # member 0, the untuned default trained on the same budget
        out["control"] = {"member": control[0].user_attrs[ATTR_MEMBER], "trial": control[0].number,
                          "job_num": control[0].user_attrs.get(ATTR_JOB_NUM), "value": float(control[0].value)}
    out["intervals"] = [
        {"trial": t.number, "job_num": t.user_attrs.get(ATTR_JOB_NUM), "member": t.user_attrs[ATTR_MEMBER],
         "steps": [int(t.user_attrs[ATTR_START]), int(t.user_attrs[ATTR_END])], "parent": t.user_attrs.get(ATTR_PARENT),
         "exploited": t.user_attrs.get(ATTR_EXPLOITED), "reason": t.user_attrs.get(ATTR_REASON),
         "state": t.state.name.lower(), "value": None if t.value is None else float(t.value)}
        for t in intervals]
    return out
