"""Population-based training sweeps in the report: the result, its schedule, its replay, two plots.

A PBT sweep's trials are its members' intervals (docs/sweeper.md, "Population-based training"):
each trial carries its member, the steps it trained from and to, the trial whose saved model it
continued (its parent) and why (``first``, ``continue``, ``exploit``, ``replace``, ``restart``); the
loader puts them in the trial table's ``pbt_*`` columns. The sweep's result is the best member at
the end of its budget, not the best interval: an interval's score in the middle of training is
not an agent anyone keeps.

The replay of the result is the chain of its lineage's intervals, each a single run of the app
that continues the previous one's saved model (``train.init_from``) with the hyperparameters,
seed and step count that interval had: what the sweep trained, step for step.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpo_record import study as study_record

COLUMNS = {"pbt_member": study_record.ATTR_MEMBER, "pbt_start": study_record.ATTR_START,
           "pbt_end": study_record.ATTR_END, "pbt_parent": study_record.ATTR_PARENT,
           "pbt_exploited": study_record.ATTR_EXPLOITED, "pbt_reason": study_record.ATTR_REASON}
"""Trial-table column -> the trial's user attribute."""
CHECKPOINT_KEY = "train.init_from"
CLONED = ("exploit", "replace")


def row_values(user_attrs: dict[str, Any]) -> dict[str, Any]:
    """The ``pbt_*`` columns of one trial (empty for a trial of another kind of sweep)."""
    if user_attrs.get(study_record.ATTR_MEMBER) is None:
        return {}
    return {column: user_attrs.get(attr) for column, attr in COLUMNS.items()}


def is_pbt(trials: pd.DataFrame) -> bool:
    return "pbt_member" in trials.columns and bool(trials["pbt_member"].notna().any())


def final_intervals(trials: pd.DataFrame) -> pd.DataFrame:
    """The complete intervals that ended a member's budget (the furthest any interval reached)."""
    done = trials[(trials["state"] == "complete") & trials["objective"].notna() & trials["pbt_end"].notna()]
    if done.empty:
        return done
    return done[done["pbt_end"] == trials["pbt_end"].max()]


def lineage(trials: pd.DataFrame, study: Any, trial: int) -> pd.DataFrame:
    """The rows of the intervals that led to ``trial``, first to last (the lineage the study
    records: ``hpo_record.study.lineage``)."""
    numbers = [t.number for t in study_record.lineage(study.get_trials(deepcopy=False), trial)]
    return trials.set_index("trial", drop=False).loc[numbers].reset_index(drop=True)


def mutable_params(trials: pd.DataFrame, params: Sequence[str]) -> list[str]:
    """The parameter columns whose value changed somewhere along a parent -> child link (what PBT explored)."""
    by_number = trials.set_index("trial")
    changed = []
    for column in params:
        if column not in trials.columns:
            continue
        for _, row in trials[trials["pbt_parent"].notna()].iterrows():
            parent = int(row["pbt_parent"])
            before, after = (by_number.loc[parent, column] if parent in by_number.index else None), row[column]
            if parent in by_number.index and before != after and not (pd.isna(before) and pd.isna(after)):
                changed.append(column)
                break
    return changed


def replay_commands(chain: pd.DataFrame, rerun_of: Callable[[str], Any] | None = None,
                    out: str = "replay") -> list[str] | None:
    """Single runs that train the chain's agent again, interval by interval: each the interval's
    own re-run command (``rerun_of``: a job directory's, by default
    :func:`analysis.rerun.rerun_for_job`), continuing the previous replay's model instead of the sweep's."""
    from analysis.rerun import hydra_value, rerun_for_job

    rerun_of = rerun_of or rerun_for_job
    commands: list[str] = []
    previous: str | None = None
    for _, row in chain.iterrows():
        rerun = rerun_of(row["job_dir"]) if isinstance(row.get("job_dir"), str) else None
        if rerun is None:
            return None
        keep = [o for o in [*rerun.overrides, *rerun.pins] if o.lstrip("+").split("=", 1)[0] != CHECKPOINT_KEY]
        here = f"{out}/trial{int(chain['trial'].iloc[-1])}/steps{int(row['pbt_end'])}"
        extra = ([f"{CHECKPOINT_KEY}={hydra_value(previous)}"] if previous else []) + [f"hydra.run.dir={here}"]
        commands.append(" ".join(["python -m hpo_app", *(shlex.quote(o) for o in [*keep, *extra])]))
        previous = here
    return commands


def schedule_table(chain: pd.DataFrame, params: Sequence[str], metric: str) -> pd.DataFrame:
    """The chain as a table: steps, member, why it starts there, the explored values, its score."""
    rows = []
    for _, r in chain.iterrows():
        row = {"steps": f"{int(r['pbt_start'])}-{int(r['pbt_end'])}", "trial": int(r["trial"]),
               "member": int(r["pbt_member"]), "start": str(r["pbt_reason"])}
        row.update({p.removeprefix("params_"): r[p] for p in params})
        row[metric] = r["objective"]
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- plots


def plot_scores(summary: Any, path: Path, figure: Any, save: Any, title: str) -> Path | None:
    """Each member's validation score at the end of its intervals, over steps; a dashed link
    from the checkpoint an interval continued (its parent's score) to its score; exploits and
    replacements marked; the best member's lineage in black."""
    from matplotlib.collections import LineCollection

    t = summary.trials
    if not is_pbt(t):
        return None
    done = t[(t["state"] == "complete") & t["objective"].notna() & t["pbt_end"].notna()]
    if done.empty:
        return None
    fig = figure(9, 4.8)
    ax = fig.subplots()
    by_number = t.set_index("trial")
    colors = matplotlib_colors(int(t["pbt_member"].max()) + 1)
    links, cloned = [], []
    for _, r in done.iterrows():
        parent = r["pbt_parent"]
        start = (r["pbt_start"], by_number.loc[int(parent), "objective"]) if pd.notna(parent) and \
            int(parent) in by_number.index else (r["pbt_start"], np.nan)
        links.append([start, (r["pbt_end"], r["objective"])])
        if r["pbt_reason"] in CLONED:
            cloned.append(start)
    ax.add_collection(LineCollection([np.asarray(seg, dtype=float) for seg in links], colors="grey", linewidths=0.8,
                                     linestyles="--", alpha=0.6))
    for member, rows in done.groupby("pbt_member"):
        ax.scatter(rows["pbt_end"], rows["objective"], s=22, color=colors[int(member)], zorder=3,
                   label=f"member {int(member)}")
    if cloned:
        pts = np.asarray(cloned, dtype=float)
        ax.scatter(pts[:, 0], pts[:, 1], marker="D", s=46, facecolors="none", edgecolors="k", zorder=4,
                   label=f"cloned here ({len(cloned)}: exploit or replacement)")
    failed = t[(t["state"] == "failed") & t["pbt_end"].notna()]
    if not failed.empty:
        ax.plot(failed["pbt_end"], np.full(len(failed), 0.02), "^", color="#d62728", ls="none",
                transform=ax.get_xaxis_transform(), label=f"failed ({len(failed)})")
    chain = summary.pbt_schedule
    if chain is not None:
        ax.plot(chain["pbt_end"], chain["objective"], color="k", lw=2, zorder=5,
                label=f"best member's lineage (trial #{int(summary.best['trial'])})")
    ax.autoscale_view()
    ax.set_xlabel("training steps (end of the interval)")
    ax.set_ylabel(f"validation {summary.sweep.objective_metrics[0]}")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7, ncol=2)
    return save(fig, path, title)


def plot_schedules(summary: Any, path: Path, figure: Any, save: Any, title: str) -> Path | None:
    """The explored hyperparameters over steps: each member's values in force (thin), the best
    member's schedule along its lineage (black)."""
    t = summary.trials
    chain = summary.pbt_schedule
    if not is_pbt(t) or chain is None:
        return None
    params = mutable_params(t, [c for c in t.columns if c.startswith("params_")])
    numeric = [p for p in params if pd.api.types.is_numeric_dtype(t[p])]
    if not numeric:
        return None
    fig = figure(9, 2.2 * len(numeric) + 0.8, hspace=0.45)
    axes = np.ravel(fig.subplots(len(numeric), 1, squeeze=False, sharex=True))
    colors = matplotlib_colors(int(t["pbt_member"].max()) + 1)
    ran = t[t["pbt_end"].notna() & t["state"].isin(["complete", "failed"])]
    for ax, p in zip(axes, numeric):
        for member, rows in ran.sort_values("pbt_start").groupby("pbt_member"):
            xs = np.ravel(np.column_stack([rows["pbt_start"], rows["pbt_end"]]))
            ax.plot(xs, np.repeat(rows[p].to_numpy(float), 2), color=colors[int(member)], lw=1, alpha=0.6)
        xs = np.ravel(np.column_stack([chain["pbt_start"], chain["pbt_end"]]))
        ax.plot(xs, np.repeat(chain[p].to_numpy(float), 2), color="k", lw=2.2, label="best member's schedule")
        if (ran[p] > 0).all() and ran[p].max() / ran[p].min() > 20:
            ax.set_yscale("log")
        ax.set_ylabel(p.removeprefix("params_model.").removeprefix("params_"), fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    axes[-1].set_xlabel("training steps")
    return save(fig, path, title)


def matplotlib_colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(max(n, 1))]
