"""Population-based training's recommendation in the report: the best member against the control
member (the untuned default, trained on the same budget), on the part of validation no exploit
ranked on.

The sweeper keeps the decision in the study's user attribute ``pbt_recommendation``
(``hpo_record.study.ATTR_PBT_DECISION``; written by ``hydra_plugins/hpo_sweeper/_pbt_verdict``);
this module says it in words.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from hpo_app import fmt

from .confirmation import resolution, resolved
from .render import Block

WHAT_IT_IS = (
    "Population-based training picks members by their validation scores at every exploit, so the best member's "
    "score at the end is partly the luck of those picks. Here the exploits ranked members on the first part of "
    "the validation segment only; the rest, which no exploit saw, decides: the control member (member 0, the "
    "untuned default on the same budget) stays the recommendation unless a member beats it there by more than "
    "chance allows, given how many members there are (Hansen's SPA test; a p-value below the level says yes).")


def glance(decision: dict[str, Any] | None, periods_per_year: float | None = None) -> str:
    """One line for the report's top."""
    if not decision or decision.get("recommended") is None:
        return ""
    what = ("the control member (the untuned default)" if decision["recommended"] == "control"
            else f"{decision['recommended']}, which beat the control member beyond noise")
    p = decision.get("p_value")
    return (f"Recommended: {what}" + (f" (SPA p = {p:.3f}, on held-out validation bars)" if p is not None else "")
            + resolved(decision, periods_per_year))


def blocks(decision: dict[str, Any] | None, metric: str, rerun_of: Callable[[int], str | None],
           periods_per_year: float | None = None) -> list[Block]:
    """The section on the recommendation: first in a PBT sweep's part of the report."""
    if not decision:
        return []
    out = [Block("h3", "Recommendation"), Block("p", WHAT_IT_IS)]
    if decision.get("recommended") is None:
        return [*out, Block("p", f"Nothing was decided: {decision['reason']}.")]
    name = metric.split("/", 1)[-1]
    share = f"the last {1 - decision['rank_fraction']:.0%} of validation"
    if decision["recommended"] == "control":
        out.append(Block("p", f"**Recommended: the control member, the untuned default.** On {share}, "
                              f"{decision['reason']}: PBT did not pay here; train the default configuration."))
    else:
        se = decision["difference_se"] or math.nan
        out.append(Block("p", f"**Recommended: {decision['recommended']}.** On {share}, {decision['reason']}; it "
                              f"earns {decision['difference']:+.5f} more per bar than the control member (± {se:.5f})."))
        command = rerun_of(decision["trial"])
        if command:
            out += [Block("p", "Its last interval, trained again:"), Block("code", command)]
    table = pd.DataFrame([{
        "member": r["label"], "final trial": str(r["trial"]), f"{name} (whole validation)": fmt.metric(name, r["value"]),
        "held-out mean return per bar": "-" if r["held_out"] is None else f"{r['held_out']:+.5f}",
        "note": r["out"] or ""} for r in decision["members"]])
    out += [Block("p", "Each member at the end of its budget: its objective on the whole validation segment (what "
                       "PBT's best is picked by) beside its mean return on the held-out part (what decides)."),
            Block("table", table=table)]
    if decision.get("p_value") is not None:
        out.append(Block("p", f"SPA p-value {decision['p_value']:.3f} at level {decision['level']:g}."))
    return out + resolution(decision, periods_per_year, "the control member")
