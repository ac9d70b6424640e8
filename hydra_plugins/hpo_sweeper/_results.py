"""``optimization_results.yaml``: a summary of the study for people, and the sweep's last log lines.

The first keys are the released hydra-optuna-sweeper's (``name``, ``best_params``, ``best_value``
or ``solutions``); the rest say what was searched and how the trials ended::

    name: optuna
    best_params: {model.learning_rate: 0.0012, ...}      # single objective
    best_value: 1.23
    best_trial: {number: 7, job_num: 7, values: [1.23]}
    solutions: [{number: 4, job_num: 4, params: {...}, values: [1.2, 0.1]}, ...]   # multi-objective
    study_name: ppo
    storage: sqlite:////abs/multirun/2026-11-28/10-00-00/optuna.db   # password hidden
    directions: [maximize]
    objective_metrics: [val/sharpe]
    search_space: {model.learning_rate: {type: float, low: 1.0e-05, high: 0.003, log: true}, ...}
    fixed_params: {model.gamma: '0.99'}
    n_trials: 20
    counts: {complete: 17, pruned: 2, failed: 1, running: 0}
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.trial import TrialState

from hydra_plugins.hpo_sweeper._space import SearchSpace
from hydra_plugins.hpo_sweeper._study import ATTR_JOB_NUM

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"


def display_url(url: str) -> str:
    """The storage URL as it may be shown: without its password."""
    if url.startswith("journal:") or "@" not in url:
        return url
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not an SQLAlchemy URL: show nothing of it
        return "<storage URL>"


def results(study: optuna.study.Study, *, url: str, space: SearchSpace, n_trials: int,
            metrics: list[str]) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    out: dict[str, Any] = {"name": "optuna"}
    if len(study.directions) == 1:
        if complete:
            best = study.best_trial
            out["best_params"] = dict(best.params)
            out["best_value"] = float(best.value)
            out["best_trial"] = {"number": best.number, "job_num": best.user_attrs.get(ATTR_JOB_NUM),
                                 "values": [float(best.value)]}
    else:
        out["solutions"] = [
            {"number": t.number, "job_num": t.user_attrs.get(ATTR_JOB_NUM), "params": dict(t.params),
             "values": [float(v) for v in t.values]}
            for t in (study.best_trials if complete else [])
        ]
    out.update(
        study_name=study.study_name,
        storage=display_url(url),
        directions=[d.name.lower() for d in study.directions],
        objective_metrics=metrics,
        search_space=space.describe(),
        fixed_params=dict(space.fixed),
        n_trials=int(n_trials),
        counts={
            "complete": len(complete),
            "pruned": sum(t.state == TrialState.PRUNED for t in trials),
            "failed": sum(t.state == TrialState.FAIL for t in trials),
            "running": sum(t.state == TrialState.RUNNING for t in trials),
        },
    )
    return out


def write_results(sweep_dir: Path, content: dict[str, Any]) -> None:
    """Write atomically: a reader never sees half a file."""
    target = sweep_dir / RESULTS_FILE
    tmp = target.with_suffix(".yaml.tmp")
    OmegaConf.save(OmegaConf.create(content), tmp)
    tmp.replace(target)


def log_best(study: optuna.study.Study) -> None:
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        log.warning("No trial completed")
        return
    if len(study.directions) == 1:
        best = study.best_trial
        log.info("Best trial %d (job %s): value %.4f, params %s",
                 best.number, best.user_attrs.get(ATTR_JOB_NUM), best.value, best.params)
    else:
        log.info("Pareto front: %d trial(s)", len(study.best_trials))
        for t in study.best_trials:
            log.info("    trial %d (job %s): values %s, params %s",
                     t.number, t.user_attrs.get(ATTR_JOB_NUM), t.values, t.params)
