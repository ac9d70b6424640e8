"""Population-based training's recommendation: does the best member beat the control member (the
untuned default, trained on the same budget) on observations no exploit ranked on?

With ``hydra.sweeper.pbt.rank_fraction`` (f, default 0.5), each interval's per-observation
validation scores (the application's ``paired_scores`` hook: per-bar net returns) are cut in two:
exploits rank members on the mean of the first share f (:func:`rank_score`), and the rest, which
no exploit saw, decides. The decision is the raced confirmation's rule (:class:`_race.Race`, written
once there), on one key: Hansen's SPA with the control member's held-out scores as benchmark and
every other finished member's as a model; the control stays the recommendation unless the SPA's
consistent p-value is below ``level`` (``hydra.sweeper.confirm.level``), and then the member the
SPA finds better with the best mean held-out score is recommended. The members were still picked
by the exploits' ranking, but on other bars: the held-out part is a fresh sample for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hpo_record.study import ATTR_END, ATTR_PBT_DECISION, ATTR_JOB_DIR, ATTR_JOB_NUM, ATTR_MEMBER, ATTR_ROLE, ROLE_CONTROL

from hydra_plugins.hpo_sweeper._pbt_settings import PbtError, PbtSettings
from hydra_plugins.hpo_sweeper._race import CONTROL, Candidate, Race, Run, resolution_line


def cut(n: int, rank_fraction: float) -> int:
    """The first observation the decision uses: the ranking's share, at least one each side."""
    return min(max(1, int(n * rank_fraction)), n - 1)


def require_scores(settings: PbtSettings | None, paired_scores: Callable[[str], Sequence[float]] | None) -> None:
    """A held-out decision needs the application's per-observation scores: one line when it has none."""
    if settings is not None and settings.rank_fraction is not None and paired_scores is None:
        raise PbtError(f"hydra.sweeper.pbt.rank_fraction={settings.rank_fraction} needs the hook "
                       "hydra.sweeper.hooks.paired_scores (per-observation scores); or set it to null")


def rank_score(settings: PbtSettings, paired_scores: Callable[[str], Sequence[float]] | None
               ) -> Callable[[str], float] | None:
    """An interval's ranking score: the mean of the first ``rank_fraction`` of its job's scores
    (None: ``rank_fraction`` null, members rank on the objective)."""
    if settings.rank_fraction is None or paired_scores is None:
        return None
    rank_fraction = settings.rank_fraction

    def score(job_dir: str) -> float:
        values = np.asarray(paired_scores(job_dir), dtype=float)
        if len(values) < 2 or not np.all(np.isfinite(values)):
            raise ValueError(f"{len(values)} per-observation score(s), need 2 or more, all finite")
        return float(values[: cut(len(values), rank_fraction)].mean())

    return score


def decide(trials: Sequence[Any], total: int, rank_fraction: float, level: float,
           paired_scores: Callable[[str], Sequence[float]]) -> dict[str, Any]:
    """The recommendation among the members that finished their budget (``optimization_results.yaml``'s
    ``pbt.recommendation``)."""
    final: dict[int, Any] = {}
    for t in sorted(trials, key=lambda t: t.number):  # each member's latest complete last interval
        if t.state.name == "COMPLETE" and t.user_attrs.get(ATTR_MEMBER) is not None and int(t.user_attrs[ATTR_END]) >= total:
            final[int(t.user_attrs[ATTR_MEMBER])] = t
    control = next((t for t in final.values() if t.user_attrs.get(ATTR_ROLE) == ROLE_CONTROL), None)
    if control is None:
        return undecided("the control member did not finish: nothing to compare with", level, rank_fraction)
    rows, candidates, runs = [], [], {}
    for member, t in sorted(final.items(), key=lambda kv: kv[1] is not control):  # the control first
        label = CONTROL if t is control else f"member {member}"
        row = {"label": label, "member": member, "trial": t.number, "job_num": t.user_attrs.get(ATTR_JOB_NUM),
               "value": float(t.value), "params": dict(t.params), "held_out": None, "out": None}
        try:
            held = _held_out(paired_scores(t.user_attrs[ATTR_JOB_DIR]), rank_fraction,
                             None if t is control else len(runs[CONTROL].scores))
            runs[label] = Run(float(held.mean()), held)
            row["held_out"], row["observations"] = float(held.mean()), len(held)
        except Exception as err:  # noqa: BLE001 - a member without scores is left out, and says why
            if t is control:
                return undecided(f"the control member's held-out scores could not be read ({err})", level, rank_fraction)
            row["out"] = f"no held-out scores: {err}"
            runs[label] = Run(None, None, str(err))
        candidates.append(Candidate(label, dict(t.params), float(t.value), t.number))
        rows.append(row)
    race = Race(candidates, [0], level=level, min_rounds=1)
    for label, run in runs.items():
        race.record(label, 0, run)
    d = race.decide()
    chosen = next(r for r in rows if r["label"] == d.recommended)
    return {"recommended": d.recommended, "member": chosen["member"], "trial": chosen["trial"],
            "job_num": chosen["job_num"], "p_value": d.p_value, "better": list(d.better), "difference": d.difference,
            "difference_se": d.difference_se, "reason": d.reason, "level": level, "rank_fraction": rank_fraction,
            "members": rows, "resolution": race.resolution()}


def undecided(reason: str, level: float, rank_fraction: float | None) -> dict[str, Any]:
    """A decision that could not be made, and why (``recommended`` None)."""
    return {"recommended": None, "reason": reason, "level": level, "rank_fraction": rank_fraction, "members": []}


def _held_out(scores: Sequence[float], rank_fraction: float, length: int | None) -> np.ndarray:
    values = np.asarray(scores, dtype=float)
    if len(values) < 2 or not np.all(np.isfinite(values)):
        raise ValueError(f"{len(values)} per-observation score(s), need 2 or more, all finite")
    held = values[cut(len(values), rank_fraction):]
    if length is not None and len(held) != length:
        raise ValueError(f"{len(held)} held-out observations where the control has {length}")
    return held


def record_verdict(study: Any, population: Any, paired_scores: Callable[[str], Sequence[float]] | None) -> None:
    """Decide once the population has finished (and ranked on part of validation), into the study."""
    if population is None or population.rank_score is None or not population.finished:
        return
    settings = population.settings
    try:
        verdict = decide(study.get_trials(deepcopy=False), settings.total, settings.rank_fraction, settings.level,
                         paired_scores)
    except Exception as err:  # noqa: BLE001 - the sweep's results and last lines come all the same
        verdict = undecided(f"the decision failed: {err}", settings.level, settings.rank_fraction)
    study.set_user_attr(ATTR_PBT_DECISION, verdict)


def lines(verdict: dict[str, Any], job_of: Callable[[int], str]) -> list[str]:
    """The sweep's last lines on the recommendation."""
    if verdict.get("recommended") is None:
        return [f"Recommended: nothing decided: {verdict['reason']}"]
    share = f"the last {1 - verdict['rank_fraction']:.0%} of validation, which no exploit ranked on"
    if verdict["recommended"] == CONTROL:
        head = f"Recommended: the control member, the untuned default, on {share}: {verdict['reason']}"
    else:
        head = (f"Recommended: {verdict['recommended']}, on {share}: {verdict['reason']}; by "
                f"{verdict['difference']:+.3g} ± {verdict['difference_se']:.2g} per observation over the control")
    out = [head, f"  job:     {job_of(verdict['trial'])}"]
    for row in verdict["members"]:
        held = "-" if row["held_out"] is None else f"{row['held_out']:+.3g}"
        note = f"  ({row['out']})" if row["out"] else ""
        out.append(f"  {row['label']:<10} held-out mean {held:>10}{note}")
    if verdict.get("resolution"):
        out.append(resolution_line(verdict["resolution"]))
    return out
