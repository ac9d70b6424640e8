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
    recommendation: {recommended: control, p_value: 0.41, candidates: [...]}   # the raced confirmation
    fixed_params: {model.gamma: '0.99'}
    n_trials: 20
    counts: {complete: 17, pruned: 2, failed: 1, running: 0}
"""

from __future__ import annotations

import logging
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.trial import TrialState

from hpo_record.files import RESULTS_FILE
from hpo_record.storage import display_url
from hpo_record.study import ATTR_JOB_DIR, ATTR_JOB_NUM, ATTR_PBT_DECISION

from hydra_plugins.hpo_sweeper._pbt_verdict import lines as verdict_lines
from hydra_plugins.hpo_sweeper._space import SearchSpace

log = logging.getLogger(__name__)


def results(study: optuna.study.Study, *, url: str, space: SearchSpace, n_trials: int,
            metrics: list[str], pbt: Any = None, recommendation: dict[str, Any] | None = None) -> dict[str, Any]:
    """``pbt``: the sweep's PBT settings (``_pbt_settings.PbtSettings``); the best is then the best member
    at the end of its budget, and a ``pbt`` node holds its schedule and every interval.
    ``recommendation``: the raced confirmation's decision (``_confirm_run.summary``), when there is one."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    out: dict[str, Any] = {"name": "optuna"}
    population = None
    if pbt is not None:
        from hydra_plugins.hpo_sweeper._pbt_record import summary

        population = summary(trials, pbt, study.directions[0].name.lower(), pbt.mutable)
        if ATTR_PBT_DECISION in study.user_attrs:  # the best member against the control, on held-out bars
            population["recommendation"] = study.user_attrs[ATTR_PBT_DECISION]
        if "best" in population:
            best = population["best"]
            out.update(best_params=dict(best["params"]), best_value=best["value"],
                       best_trial={"number": best["trial"], "job_num": best["job_num"], "values": [best["value"]]})
    elif len(study.directions) == 1:
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
    if population is not None:
        out["pbt"] = population
    if recommendation is not None:
        out["recommendation"] = recommendation
    return out


def write_results(sweep_dir: Path, content: dict[str, Any]) -> None:
    """Write atomically: a reader never sees half a file."""
    target = sweep_dir / RESULTS_FILE
    tmp = target.with_suffix(".yaml.tmp")
    OmegaConf.save(OmegaConf.create(content), tmp)
    tmp.replace(target)


def shown_path(path: Path | str) -> str:
    """A path as a user would type it: relative to the working directory when inside it."""
    path = Path(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def end_lines(
    study: optuna.study.Study,
    *,
    sweep_dir: Path,
    n_trials: int,
    how: str,
    format_value: Callable[[str, float], str],
    metrics: list[str],
    next_steps: list[str],
    resume_command: str | None,
    pbt: Any = None,
) -> list[str]:
    """The sweep's last lines: how it ended and counts by state, the best trial (or Pareto front)
    with its directory, what to run next, and how to resume it if it stopped early. With ``pbt``
    (the PBT settings), the best is the best member at the end of its budget, with its schedule."""
    trials = study.get_trials(deepcopy=False)
    by_state = {
        "complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "failed": sum(t.state == TrialState.FAIL for t in trials),
    }
    counted = ", ".join(f"{n} {state}" for state, n in by_state.items())
    lines = [f"Sweep {how}: {len(trials)} trial(s) in study {study.study_name!r} ({counted}; n_trials={n_trials})"]
    names = metrics or [f"value {i}" if len(study.directions) > 1 else "value" for i in range(len(study.directions))]
    if not by_state["complete"]:
        lines.append("No trial completed")
    elif pbt is not None:
        from hydra_plugins.hpo_sweeper._pbt_record import summary

        lines += _pbt_lines(summary(trials, pbt, study.directions[0].name.lower(), pbt.mutable), trials, sweep_dir,
                            lambda v: format_value(names[0], v), names[0])
        if ATTR_PBT_DECISION in study.user_attrs:
            jobs = {t.number: t.user_attrs.get(ATTR_JOB_DIR, sweep_dir) for t in trials}
            lines += verdict_lines(study.user_attrs[ATTR_PBT_DECISION], lambda n: shown_path(jobs.get(n, sweep_dir)))
    elif len(study.directions) == 1:
        best = study.best_trial
        lines.append(f"Best: trial {best.number}, {names[0]} {format_value(names[0], float(best.value))}")
        lines.append(f"  job:     {shown_path(best.user_attrs.get(ATTR_JOB_DIR, sweep_dir))}")
        if best.params:
            lines.append("  params:  " + " ".join(f"{k}={_short(v)}" for k, v in best.params.items()))
    else:
        front = study.best_trials
        lines.append(f"Pareto front: {len(front)} trial(s)")
        for t in front[:10]:
            values = ", ".join(f"{n} {format_value(n, float(v))}" for n, v in zip(names, t.values))
            lines.append(f"  trial {t.number}: {values} ({shown_path(t.user_attrs.get(ATTR_JOB_DIR, sweep_dir))})")
    lines.append(f"  sweep:   {shown_path(sweep_dir)}")
    lines += [f"  {line}" for line in next_steps]
    if resume_command:
        lines.append(f"  resume:  {resume_command}")
    return lines


def _pbt_lines(population: dict[str, Any], trials: list[Any], sweep_dir: Path, show: Callable[[float], str],
               name: str) -> list[str]:
    if "best" not in population:
        return [f"No member reached the end of its budget ({population['total_timesteps']} steps)"]
    best = population["best"]
    job = next((t.user_attrs.get(ATTR_JOB_DIR) for t in trials if t.number == best["trial"]), None)
    head = (f"Best: member {best['member']} at the end of its budget ({population['total_timesteps']} steps, "
            f"{population['finished_members']} member(s) finished): trial {best['trial']}, {name} {show(best['value'])}")
    lines = [head, f"  job:     {shown_path(job or sweep_dir)}"]
    for step in population["best_schedule"]:
        params = " ".join(f"{k}={_short(v)}" for k, v in step["params"].items())
        lines.append(f"  steps {step['steps'][0]}-{step['steps'][1]} (trial {step['trial']}, member {step['member']}): "
                     f"{params or '-'} -> {show(step['value'])}")
    control = population.get("control")
    if control is not None and control["trial"] != best["trial"]:
        lines.append(f"Control: member {control['member']} (the untuned default, same budget): trial {control['trial']}, "
                     f"{name} {show(control['value'])}; the best is picked on the segment it is scored on, so its lead "
                     "over the control is partly luck")
    elif control is not None:
        lines.append("The best member is the control: the untuned default did best")
    return lines


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


_RESUME_SET = ("hydra.sweep.dir", "hydra.sweeper.resume", "hydra.mode")


def resume_command(config: Any, sweep_dir: Path) -> str:
    """The command that continues this sweep: the program as it was started, ``-m``, its config
    directories, its overrides (Hydra's and the task's) and the sweep directory with resume."""
    args = [*_program(), "-m"]
    for source in OmegaConf.select(config, "hydra.runtime.config_sources", default=None) or []:
        if source.get("provider") == "command-line" and source.get("schema") == "file":
            args += ["--config-dir", str(source.get("path"))]
    overrides = [*(OmegaConf.select(config, "hydra.overrides.hydra", default=None) or []),
                 *(OmegaConf.select(config, "hydra.overrides.task", default=None) or [])]
    for override in overrides:
        key = str(override).split("=", 1)[0].lstrip("+~")
        if key not in _RESUME_SET:
            args.append(str(override))
    args += [f"hydra.sweep.dir={shown_path(sweep_dir)}", "hydra.sweeper.resume=true"]
    return " ".join(shlex.quote(a) for a in args)


def _program() -> list[str]:
    """How this process was started: ``python -m package`` or the console script's name."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
    if argv0.name == "__main__.py":
        return ["python", "-m", argv0.parent.name]
    if argv0.suffix == ".py":
        return ["python", str(argv0)]
    return [argv0.name]
