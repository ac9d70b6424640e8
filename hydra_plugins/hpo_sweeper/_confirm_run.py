"""The raced confirmation's run after the search, its decision in the study, and what the sweep's last
lines and results file say of it (the rule: ``_race``; the trials: ``_confirm``)."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import optuna
from omegaconf import OmegaConf

from hpo_record.study import ATTR_DECISION, ATTR_RACES, CONFIRM_SUFFIX

from hydra_plugins.hpo_sweeper._confirm import ConfirmSchedule, ConfirmSettings, open_confirmation, pick_candidates
from hydra_plugins.hpo_sweeper._dispatch import Dispatcher
from hydra_plugins.hpo_sweeper._race import CONTROL, Decision, Race, resolution_line
from hydra_plugins.hpo_sweeper._results import _program
from hydra_plugins.hpo_sweeper._runner import Runner, Sweep
from hydra_plugins.hpo_sweeper._heartbeats import Heartbeats

log = logging.getLogger("hydra_plugins.hpo_sweeper")


@dataclass
class Confirmed:
    runner: Runner
    decision: Decision | None  # None: the race did not finish (Ctrl-C, the driver's error)


def run_confirmation(settings: ConfirmSettings, sweep: Sweep, dispatcher: Dispatcher, control: dict[str, Any],
                     paired_scores: Callable[[str], Sequence[float]] | None, stop_requested: bool) -> Confirmed:
    """Race the search's top candidates and the control on fresh seeds, in the study beside it."""
    study = sweep.study
    base = int(OmegaConf.select(sweep.config, settings.seed_key))
    seeds = [base + settings.seed_offset + r for r in range(settings.seeds)]
    cstudy = open_confirmation(sweep.storage, study, pick_candidates(study, control, settings.top_k), seeds)
    sign = 1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1.0
    schedule = ConfirmSchedule(cstudy, settings, sweep.space.overrides, paired_scores, sign)
    labels = ", ".join(schedule.candidates)
    log.info("Confirmation: %s raced on seeds %s (%s=...) in study %s; %d run(s) to go", labels,
             ", ".join(map(str, seeds)), settings.seed_key, cstudy.study_name, schedule.remaining())
    heartbeats = Heartbeats(cstudy, sweep.storage)
    heartbeats.start()
    runs = len(schedule.candidates) * len(seeds)
    runner = Runner(replace(sweep, study=cstudy, n_trials=runs, max_failure_rate=1.0, custom_search_space=None,
                            population=None, schedule=schedule), dispatcher, heartbeats)
    runner.stop_requested = stop_requested
    runner.tally.what, runner.tally.show_best = "confirmation run", False
    try:
        runner.run()
        if not runner.stop_requested:
            heartbeats.settle()
    finally:
        heartbeats.stop()
    if not schedule.complete:
        return Confirmed(runner, None)
    if int(cstudy.user_attrs.get(ATTR_RACES, 1)) != schedule.races:  # another driver of the study raced since
        log.info("Confirmation: a driver sharing the study started a race of newer candidates; it decides")
        return Confirmed(runner, None)
    decision = schedule.race.decide()
    cstudy.set_user_attr(ATTR_DECISION, summary(schedule.race, decision))
    return Confirmed(runner, decision)


def summary(race: Race, decision: Decision) -> dict[str, Any]:
    """The decision and every candidate's search and confirmed values (kept in the confirmation
    study as ``decision``; the results file's ``recommendation``)."""
    rows = []
    for standing in race.standings.values():
        c = standing.candidate
        confirmed = standing.confirmed_value
        rows.append({"label": c.label, "trial": c.trial, "params": c.params, "search_value": c.search_value,
                     "confirmed_value": confirmed, "seeds": sorted(standing.finished), "out": standing.out,
                     "difference": None if confirmed is None or c.search_value is None else confirmed - c.search_value})
    return {"recommended": decision.recommended, "p_value": decision.p_value, "better": list(decision.better),
            "difference": decision.difference, "difference_se": decision.difference_se, "reason": decision.reason,
            "level": race.level, "seeds": race.seeds, "candidates": rows, "resolution": race.resolution()}


def recorded(study: optuna.study.Study, storage: Any) -> dict[str, Any] | None:
    """The decision a sweep's confirmation study holds (None: no confirmation, or not decided yet)."""
    try:
        cstudy = optuna.load_study(study_name=f"{study.study_name}{CONFIRM_SUFFIX}", storage=storage)
    except KeyError:
        return None
    return cstudy.user_attrs.get(ATTR_DECISION)


def train_command(config: Any, params: dict[str, Any]) -> str:
    """The single run that trains a configuration: the program, the sweep's task overrides, its params."""
    task = [str(o) for o in (OmegaConf.select(config, "hydra.overrides.task", default=None) or [])]
    keys = {p.split("=", 1)[0].lstrip("+~") for p in params}
    kept = [o for o in task if o.split("=", 1)[0].lstrip("+~") not in keys]
    return " ".join(shlex.quote(a) for a in [*_program(), *kept, *(f"{k}={v}" for k, v in params.items())])


def decision_lines(decision: dict[str, Any], config: Any, show: Callable[[float], str]) -> list[str]:
    """What the sweep's last lines say of the confirmation: the recommendation, how sure, the command
    that trains it, and each candidate's search score beside its confirmed one (the winner's curse)."""
    rows = {row["label"]: row for row in decision["candidates"]}
    chosen = rows[decision["recommended"]]
    p = decision["p_value"]
    if decision["recommended"] == CONTROL:
        head = f"Recommended: the control, the untuned default: {decision['reason']}"
    else:
        head = (f"Recommended: {decision['recommended']}: {decision['reason']}; by "
                f"{decision['difference']:+.3g} ± {decision['difference_se']:.2g} per observation over the control")
    lines = [head, f"  train:   {train_command(config, {} if decision['recommended'] == CONTROL else chosen['params'])}"]
    lines.append(f"  {'candidate':<10} {'search':>8} {'confirmed':>10} {'difference':>11}  seeds")
    for row in decision["candidates"]:
        search = "-" if row["search_value"] is None else show(row["search_value"])
        confirmed = "-" if row["confirmed_value"] is None else show(row["confirmed_value"])
        diff = "-" if row["difference"] is None else ("+" if row["difference"] >= 0 else "") + show(row["difference"])
        note = f"  ({row['out']})" if row["out"] else ""
        lines.append(f"  {row['label']:<10} {search:>8} {confirmed:>10} {diff:>11}  {len(row['seeds'])}{note}")
    if p is not None:
        lines.append(f"  (SPA p-value {p:.3f} at level {decision['level']:g}; confirmation seeds "
                     f"{', '.join(map(str, decision['seeds']))})")
    if decision.get("resolution"):
        lines.append(resolution_line(decision["resolution"]))
    return lines
