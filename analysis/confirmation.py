"""The raced confirmation in the report: which configuration the sweep recommends (the untuned
default, its control, unless a candidate beat it beyond noise), by how much and how surely, and how
much of each candidate's search score came back on fresh seeds (the winner's curse, measured).

The sweeper keeps the decision in the study beside the search's (``<study>:confirm``, its user
attribute ``decision``: ``hydra_plugins/hpo_sweeper/_confirm_run.summary``); this module reads it
and says it in words.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import optuna
import pandas as pd

from hpo_app import fmt
from hpo_record.study import ATTR_DECISION, CONFIRM_SUFFIX

from .render import Block

WHAT_IT_IS = (
    "After the search, its best candidates and the control (the configuration you get without sweeping) "
    "were trained again on fresh seeds, which the search never used, and compared with the control bar by "
    "bar on the validation segment. The control stays the recommendation unless a candidate beats it by "
    "more than chance allows, given how many candidates were tried: Hansen's test of superior predictive "
    "ability (SPA) asks that question, and a p-value below the level (0.05) says yes.")


MIN_RUN_SD = 1e-6
"""A run whose per-bar returns spread less than this hardly trades: no Sharpe scale for the resolution."""


def is_confirmation(study_name: str) -> bool:
    return study_name.endswith(CONFIRM_SUFFIX)


def read(storage: Any, study_name: str) -> dict[str, Any] | None:
    """The decision of a study's confirmation (None: none, or not decided yet)."""
    try:
        return optuna.load_study(study_name=f"{study_name}{CONFIRM_SUFFIX}", storage=storage).user_attrs.get(ATTR_DECISION)
    except KeyError:
        return None


def _luck(decision: dict[str, Any]) -> dict[str, Any] | None:
    """The candidate with the best search score, and how much of it came back confirmed."""
    rows = [r for r in decision["candidates"] if r["search_value"] is not None and r["confirmed_value"] is not None]
    return max(rows, key=lambda r: r["search_value"]) if rows else None


def glance(decision: dict[str, Any] | None, metric: str, periods_per_year: float | None = None) -> str:
    """One line for the report's top: the recommendation, the search's luck and, the control kept,
    how large an advantage the bars could have shown."""
    if decision is None:
        return ""
    name = metric.split("/", 1)[-1]
    what = ("the control (the untuned default)" if decision["recommended"] == "control"
            else f"{decision['recommended']}, which beat the control beyond noise")
    line = f"Recommended: {what}"
    if decision["p_value"] is not None:
        line += f" (SPA p = {decision['p_value']:.3f})"
    top = _luck(decision)
    if top is not None:
        line += (f"; the best search score, {fmt.metric(name, top['search_value'])} ({top['label']}), came back as "
                 f"{fmt.metric(name, top['confirmed_value'])} on fresh seeds")
    return line + resolved(decision, periods_per_year)


def resolved(decision: dict[str, Any], periods_per_year: float | None) -> str:
    """The glance's clause on the resolution when the control stayed ('' otherwise)."""
    scaled = sharpe_a_year(decision.get("resolution"), periods_per_year)
    if scaled is None or decision.get("recommended") != "control":
        return ""
    return f"; these bars resolve an advantage of about {scaled['detectable']:.2f} Sharpe a year or more"


def sharpe_a_year(res: dict[str, Any] | None, periods_per_year: float | None) -> dict[str, float] | None:
    """The resolution's advantage, its standard error and the detectable advantage in Sharpe a year:
    per observation over one run's per-observation deviation, times the square root of bars a year
    (None: no resolution, no bars a year, or runs that hardly trade, whose deviation makes no scale)."""
    if not res or not periods_per_year or not res.get("run_sd") or res["run_sd"] < MIN_RUN_SD:
        return None
    scale = math.sqrt(periods_per_year) / res["run_sd"]
    return {k: res[k] * scale for k in ("advantage", "advantage_se", "detectable")}


MAX_TIMES = 100.0
"""Beyond this many times the validation bars, the report says "over 100 times" rather than a count
of bars no history holds."""


def resolution(decision: dict[str, Any], periods_per_year: float | None, control: str = "the control") -> list[Block]:
    """How much the validation bars can tell (the sweeper's ``resolution``), in Sharpe a year: the
    best-confirmed candidate's advantage over the control, and the advantage a test at the level
    calls 4 times in 5 at this many bars. Says when the control stayed for want of bars."""
    res = decision.get("resolution")
    scaled = sharpe_a_year(res, periods_per_year)
    if scaled is None:
        return []
    advantage, se, detectable = scaled["advantage"], scaled["advantage_se"], scaled["detectable"]
    text = (f"How much the validation bars can tell: the advantage of {res['candidate']} over {control} on them was "
            f"{advantage:+.2f} ± {se:.2f} Sharpe a year ({res['observations']} bars). At this many bars, a test at level "
            f"{decision['level']:g} calls an advantage {res['power']:.0%} of the time only from about {detectable:.2f} "
            "Sharpe a year (one candidate tested alone, bars taken as independent: allowing for several candidates, "
            "and for returns that follow one another, needs more).")
    if decision["recommended"] == "control" and advantage > 0:
        text += (" A smaller edge, real or not, leaves the control recommended: telling it apart would take more "
                 "validation bars (a longer history, more walk-forward folds), not more trials.")
        if advantage < detectable:  # the detectable advantage shrinks as one over the root of the bars
            times = (detectable / advantage) ** 2
            text += (f" If this advantage were real, calling it 4 times in 5 would take about "
                     f"{times * res['observations']:,.0f} validation bars, {times:.1f} times these."
                     if times <= MAX_TIMES else
                     f" If this advantage were real, calling it 4 times in 5 would take over {MAX_TIMES:g} times "
                     "these validation bars.")
    elif decision["recommended"] == "control":
        text += " Here the best candidate did not even beat the control on these bars."
    return [Block("p", text)]


def blocks(decision: dict[str, Any] | None, metric: str, rerun_of: Callable[[int], str | None],
           periods_per_year: float | None = None) -> list[Block]:
    """The section on the recommendation: first in each sweep's part of the report."""
    if decision is None:
        return []
    name = metric.split("/", 1)[-1]
    out = [Block("h3", "Recommendation"), Block("p", WHAT_IT_IS)]
    recommended = decision["recommended"]
    row = next(r for r in decision["candidates"] if r["label"] == recommended)
    if recommended == "control":
        out.append(Block("p", f"**Recommended: the control, the untuned default.** {decision['reason'].capitalize()}: "
                              "tuning did not pay here; train the default configuration."))
    else:
        se = decision["difference_se"] or math.nan
        out.append(Block("p", f"**Recommended: {recommended}.** {decision['reason'].capitalize()}. On validation it "
                              f"earns {decision['difference']:+.5f} more per bar than the control (± {se:.5f}, one "
                              "standard error), averaged over the confirmation seeds."))
    command = rerun_of(row["trial"]) if row["trial"] is not None else None
    if command:
        out += [Block("p", "The command that trains it:"), Block("code", command)]
    elif recommended == "control":
        out.append(Block("p", "Train it with the sweep's own command, without `-m`."))
    table = pd.DataFrame([{
        "candidate": r["label"], "search trial": "-" if r["trial"] is None else str(r["trial"]),
        f"search {name}": _v(name, r["search_value"]), f"confirmed {name}": _v(name, r["confirmed_value"]),
        "came back": "-" if r["difference"] is None else ("+" if r["difference"] >= 0 else "") + fmt.metric(name, r["difference"]),
        "seeds": str(len(r["seeds"])), "note": r["out"] or ""} for r in decision["candidates"]])
    out.append(Block("p", "Each candidate's score in the search (one seed, the one it was picked on) beside its "
                          "mean on the confirmation seeds: the difference is how much of its search score was the "
                          "luck of the draw (the winner's curse)."))
    out.append(Block("table", table=table))
    top = _luck(decision)
    if top is not None:
        out.append(Block("p", f"The best search score, {fmt.metric(name, top['search_value'])} ({top['label']}), came "
                              f"back as {fmt.metric(name, top['confirmed_value'])} on fresh seeds."))
    if decision["p_value"] is not None:
        out.append(Block("p", f"SPA p-value {decision['p_value']:.3f} at level {decision['level']:g}; confirmation "
                              f"seeds {', '.join(map(str, decision['seeds']))}."))
    return out + resolution(decision, periods_per_year)


def _v(name: str, value: float | None) -> str:
    return "-" if value is None else fmt.metric(name, value)
