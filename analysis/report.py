"""``python -m analysis.report DIR [DIR ...] [--out OUT]``: every sweep in DIR as tables, plots, a report.

Three steps, each a function of the previous one's output (the benchmark times them apart):

1. load   :func:`analysis.load.load_multirun`  files -> one tidy trial table (+ sweep facts, curves)
2. tidy   :func:`analysis.tables.analyse`      table -> best trial, counts, importance, Pareto front
3. plot   :func:`analysis.drawing.make_plots`  -> PNGs; then :func:`write_outputs` -> trials.csv,
          summary.md, report.html (self-contained: images embedded as base64 data URIs).

The summary and the HTML page are rendered from one list of blocks (:func:`document`), so they
say the same thing (the blocks and their renderings: :mod:`analysis.render`).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpo_app import fmt as hfmt

from . import pbt
from .cache import CACHE_DIR, Memo
from .load import STATES, Multirun, NoSweepError, load_multirun
from .render import Block, fmt, render_html, render_markdown
from .significance import dsr_verdict, pbo_verdict
from .tables import (
    FEW_DSR_TRIALS,
    FEW_IMPORTANCE_PER_PARAM,
    FEW_PBO_TRIALS,
    FEW_RANK_TRIALS,
    IMPORTANCE_METHODS,
    MIN_RANK_TRIALS,
    Analysis,
    SweepSummary,
    add_rerun,
    analyse,
    metrics_beside_baselines,
    objective_columns,
    objective_label,
    param_values,
    test_metric,
)
from .verdict import best_sweep, next_steps, verdict

TRIALS_CSV = "trials.csv"
SUMMARY_MD = "summary.md"
REPORT_HTML = "report.html"
DEFAULT_OUT = "report"


# --------------------------------------------------------------------------- formatting


def describe_distribution(dist: Any) -> str:
    """An Optuna distribution in words: ``choice of 32, 64`` or ``float in [1e-05, 0.003], log``."""
    if hasattr(dist, "choices"):
        return "choice of " + ", ".join(fmt(c) for c in dist.choices)
    kind = "int" if type(dist).__name__.startswith("Int") else "float"
    step = f", step {fmt(dist.step)}" if getattr(dist, "step", None) not in (None, 1) else ""
    return f"{kind} in [{fmt(dist.low)}, {fmt(dist.high)}], {'log' if dist.log else 'linear'}{step}"


# --------------------------------------------------------------------------- document model


LABELS = {
    "val/sharpe": "val Sharpe", "test/sharpe": "test Sharpe", "buy_and_hold/test/sharpe": "buy & hold test",
    "reference/test/sharpe": "reference test",
}


def _shown(value: Any, column: str) -> str:
    """A cell for people: a metric as ``hpo_app.fmt`` shows it (Sharpe 0.88, returns 12.3%),
    anything else by :func:`fmt`."""
    if isinstance(value, str):
        return value
    if hfmt.kind(column) != "number" and isinstance(value, (int, float, np.integer, np.floating)):
        return hfmt.metric(column, float(value))
    return fmt(value)


def _table(df: pd.DataFrame, index: bool = False) -> Block:
    """A table block whose cells are already text (metric columns formatted by their name)."""
    if index:
        df = df.reset_index()
    shown = pd.DataFrame({LABELS.get(str(c), str(c)): [_shown(v, str(c)) for v in df[c]] for c in df.columns})
    return Block("table", table=shown)


def _metrics_table(best: pd.Series) -> pd.DataFrame | None:
    """The best trial's metrics beside the baselines, each row formatted as its metric."""
    mt = metrics_beside_baselines(best)
    if mt.empty:
        return None
    rows = {f"{seg} {who}": [hfmt.metric(name, v) for name, v in zip(mt.index, mt[(seg, who)])] for seg, who in mt.columns}
    return pd.DataFrame({"metric": list(mt.index), **rows})


def _sweep_blocks(s: SweepSummary, plots: Sequence[Any]) -> list[Block]:
    info = s.sweep
    blocks = [Block("h2", f"{info.model or '?'} · {s.name}")]
    facts = [f"directory `{info.path}`", f"study `{info.study.study_name}`"]
    facts.append(
        "objective " + ", ".join(objective_label(info, i) for i in range(len(info.directions)))
    )
    facts.append(f"{len(info.params)} searched parameters")
    blocks.append(Block("p", "; ".join(facts) + "."))
    counts = ", ".join(f"{n} {state}" for state, n in s.counts.items() if n) or "no trial"
    blocks.append(Block("p", f"Trials in the study: {sum(s.counts.values())} ({counts})."))
    held = s.trials.loc[(s.trials["state"] == "complete") & (s.trials.get("policy", "") != ""), "policy"] \
        if "policy" in s.trials else pd.Series(dtype=str)
    if len(held):
        kinds = ", ".join(f"{n} {kind}" for kind, n in held.value_counts().items())
        blocks.append(Block("p", f"Complete trials whose validation policy is a baseline in disguise (in the market "
                                 f"on every bar, or never): {kinds}. They learned nothing but to hold."))

    if s.best is not None:
        b = s.best
        blocks.append(Block("h3", f"Best trial: #{int(b['trial'])} (job directory {int(b['job_num'])})"))
        values = ", ".join(
            f"{objective_label(info, i)} = {hfmt.metric(info.objective_metrics[i], _float(b.get('objective' if i == 0 else f'objective_{i}')))}"
            for i in range(max(1, len(info.objective_metrics)))
        )
        policy = str(b.get("policy") or "")
        blocks.append(Block("p", values + (f". Its policy is **{policy}**: a baseline, not a learned policy." if policy else ".")))
        params = param_values(b, info)
        if params:
            dists = info.distributions
            rows = [
                {"parameter": k, "value": fmt(v), "searched": describe_distribution(dists[k])}
                for k, v in params.items()
            ]
            blocks.append(_table(pd.DataFrame(rows)))
        mt = _metrics_table(b)
        if mt is not None:
            blocks.append(Block("p", "Its metrics (net of costs) beside the baselines on the same segments:"))
            blocks.append(_table(mt))
        for line in (_beats_line(s), _gap_line(s), _kept_line(s)):
            if line:
                blocks.append(Block("p", line))
        blocks += _pbt_blocks(s)
        if s.rerun and s.pbt_schedule is None:
            blocks.append(Block("p", "Re-run this trial (a single run, no sweep):"))
            blocks.append(Block("code", s.rerun))
            if s.rerun_status:
                blocks.append(Block("p", f"Check of this command: {s.rerun_status}."))
    if s.pareto is not None and not s.pareto.empty:
        cols = ["trial"] + [c for c in objective_columns(info) if c in s.pareto.columns]
        front = s.pareto[cols].rename(columns={c: info.objective_metrics[i] for i, c in enumerate(cols[1:])})
        for m in info.objective_metrics:
            if test_metric(m) != m and test_metric(m) in s.pareto.columns:
                front[test_metric(m)] = s.pareto[test_metric(m)]
        blocks.append(Block("h3", f"Pareto front ({len(front)} of {len(s.complete)} complete trials)"))
        blocks.append(
            Block(
                "p",
                "No other trial is better on every objective; the best trial above is the front's best on the first objective.",
            )
        )
        blocks.append(_table(front.sort_values(front.columns[1], ascending=info.direction(0) == "minimize")))
    metric = info.objective_metrics[0]
    if not s.complete.empty:
        top = s.top(5)
        tcol = test_metric(metric)
        cols = {"trial": top["trial"], metric: top["objective"]}
        if tcol in top.columns and tcol != metric:
            cols[tcol] = top[tcol]
        if "policy" in top.columns and (top["policy"] != "").any():
            cols["policy"] = top["policy"]
        blocks.append(Block("h3", "How sure can we be"))
        blocks.append(Block("p", f"Top {len(top)} of {len(s.complete)} complete trials by validation, with their test value:"))
        blocks.append(_table(pd.DataFrame(cols)))
        n = s.val_test_n
        if tcol != metric and math.isnan(s.val_test_spearman):
            blocks.append(Block("p", f"Rank correlation between validation and test not shown: {n} complete trial(s) "
                                     f"with both values, it needs {MIN_RANK_TRIALS}."))
        elif not math.isnan(s.val_test_spearman):
            few = (f" It rests on {n} trials: a rough indication (a reliable one needs {FEW_RANK_TRIALS} or more)."
                   if n < FEW_RANK_TRIALS else "")
            blocks.append(
                Block(
                    "p",
                    f"Rank correlation between validation and test {metric.split('/', 1)[-1]} over {n} complete trials: "
                    f"Spearman rho = {s.val_test_spearman:.2f} (1: the validation ranking holds on unseen data; "
                    f"near 0: the winner is largely luck).{few}",
                )
            )
    if s.importance is not None:
        imp = s.importance
        blocks.append(Block("h3", "Parameter importance"))
        if imp.ok:
            few = FEW_IMPORTANCE_PER_PARAM * len(info.params)
            rough = (f" {imp.n_trials} trials for {len(info.params)} parameters: a rough ranking (a firm one needs "
                     f"about {few})." if imp.n_trials < few else "")
            blocks.append(Block("p", f"Method: Optuna's {imp.method} evaluator, on {imp.n_trials} complete trials.{rough}"))
            blocks.append(
                _table(
                    pd.DataFrame(
                        {"parameter": list(imp.importances), "importance": [f"{v:.2f}" for v in imp.importances.values()]}
                    )
                )
            )
        else:
            blocks.append(Block("p", imp.note[0].upper() + imp.note[1:] + "."))
    problems = list(info.problems) + list(s.notes)
    if problems:
        blocks.append(Block("h3", "Notes"))
        blocks.append(Block("list", items=problems))
    blocks.append(Block("h3", f"Broken or unfinished jobs ({len(s.broken)})"))
    if s.broken.empty:
        blocks.append(Block("p", "None: every trial is complete or pruned and its job directory is intact."))
    else:
        df = s.broken.copy()
        df["problem"] = [
            "; ".join(str(x) for x in (e, i) if isinstance(x, str) and x)
            for e, i in zip(df["error"], df["issue"])
        ]
        blocks.append(
            _table(df[["job_num", "trial", "state", "problem", "job_dir"]].rename(columns={"job_num": "job"}))
        )
    for p in plots:
        if p.sweep == s.name:
            blocks.append(Block("img", p.title, image=p))
    return blocks


def _pbt_blocks(s: SweepSummary) -> list[Block]:
    """A population-based training sweep's result: the schedule it was trained with, and its replay."""
    chain = s.pbt_schedule
    if chain is None:
        return []
    metric = s.sweep.objective_metrics[0]
    explored = pbt.mutable_params(s.trials, [c for c in s.trials.columns if c.startswith("params_")])
    table = pbt.schedule_table(chain, explored, metric)
    table[metric] = [hfmt.metric(metric, _float(v)) for v in table[metric]]
    blocks = [Block("p", f"Population-based training: the best member at the end of its budget, trained in "
                         f"{len(chain)} interval(s); the explored hyperparameters in force in each (start: how the "
                         "interval began: first, continue its own model, exploit or replace: a clone of another "
                         "member's model):"), _table(table)]
    if s.pbt_replay:
        blocks.append(Block("p", "Train it again, interval by interval (single runs, each continuing the previous "
                                 "one's saved model with that interval's hyperparameters and seed):"))
        blocks.append(Block("code", "\n".join(s.pbt_replay)))
    return blocks


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _beats_line(s: SweepSummary) -> str:
    """One sentence: does the best trial beat buy-and-hold on validation and on the unseen test?"""
    metric = s.sweep.objective_metrics[0]
    if s.best is None or not metric.startswith("val/"):
        return ""
    name = metric.split("/", 1)[1]
    sign = 1.0 if s.sweep.direction(0) == "maximize" else -1.0
    parts = []
    for seg, label in (("val", "validation"), ("test", "test (unseen)")):
        agent, bh = _float(s.best.get(f"{seg}/{name}")), _float(s.best.get(f"buy_and_hold/{seg}/{name}"))
        if math.isnan(agent) or math.isnan(bh):
            continue
        word = "beats" if sign * (agent - bh) > 0 else "does not beat"
        ref = _float(s.best.get(f"reference/{seg}/{name}"))
        known = f"; the reference policy, the market's planted edge, earns {hfmt.metric(name, ref)}" if not math.isnan(ref) else ""
        parts.append(f"on {label} it {word} buy-and-hold ({hfmt.label(name)} {hfmt.metric(name, agent)} vs {hfmt.metric(name, bh)}{known})")
    return ("The best trial: " + "; ".join(parts) + ".") if parts else ""


def _gap_line(s: SweepSummary) -> str:
    """The best trial's train - validation Sharpe gap, beside the reference policy's (the market's
    own gap on the planted-edge market), and whether it beats on its training bars what is knowable."""
    if s.best is None:
        return ""
    train, val = _float(s.best.get("train/sharpe")), _float(s.best.get("val/sharpe"))
    if math.isnan(train) or math.isnan(val):
        return ""
    line = f"Memorization: its training Sharpe is {hfmt.metric('sharpe', train)}, validation {hfmt.metric('sharpe', val)}: a gap of {hfmt.metric('sharpe', train - val)}"
    ref_train, ref_val = _float(s.best.get("reference/train/sharpe")), _float(s.best.get("reference/val/sharpe"))
    if math.isnan(ref_train) or math.isnan(ref_val):
        return line + "."
    line += (f" (the reference policy's, the market's own: {hfmt.metric('sharpe', ref_train - ref_val)})")
    if train > ref_train:
        line += (f". On its training bars it beats the reference's {hfmt.metric('sharpe', ref_train)}, the best the "
                 "planted edge allows: it memorized its training path")
    return line + "."


def _kept_line(s: SweepSummary) -> str:
    """With train.keep=best, validation also chose each agent's checkpoint: say so."""
    if "kept_step" not in s.trials or not s.trials["kept_step"].notna().any():
        return ""
    step = _float(s.best.get("kept_step")) if s.best is not None else math.nan
    where = f" (the best trial's: step {int(step):,} of {int(_float(s.best.get('timesteps'))):,})" if not math.isnan(step) else ""
    return ("`train.keep=best`: each agent is the checkpoint of its best validation evaluation" + where + ", one "
            "more selection on the validation segment, so its validation figures flatter it more than the last "
            "policy's would; the test segment stays untouched.")


def document(analysis: Analysis, plots: Sequence[Any], command: str | None = None) -> list[Block]:
    """The whole report as blocks (rendered to summary.md and report.html)."""
    trials = analysis.trials
    blocks = [Block("h1", "Hyperparameter sweeps report"), *_glance_blocks(analysis), *_verdict_blocks(analysis)]
    n_states = ", ".join(
        f"{int((trials['state'] == s).sum())} {s}" for s in STATES if (trials["state"] == s).any()
    )
    blocks.append(Block("h2", "Best trial per sweep"))
    blocks.append(
        Block("p", f"{len(analysis.sweeps)} sweep(s), {len(trials)} trials ({n_states or 'none'}). "
                   "Hyperparameters were chosen on the validation segment; the test segment was never seen by the "
                   "sweeps. Every metric is net of transaction costs.")
    )
    blocks.append(_table(analysis.best_table()))
    for p in plots:
        if p.sweep is None:
            blocks.append(Block("img", p.title, image=p))
    for s in analysis.sweeps:
        blocks.extend(_sweep_blocks(s, plots))
    if command:
        blocks.append(Block("p", f"Made by `{command}` on {time.strftime('%Y-%m-%d %H:%M')}."))
    return blocks


def _glance_blocks(analysis: Analysis) -> list[Block]:
    """At the very top: one verdict line per sweep, the best sweep on validation, what to try next."""
    items = []
    for s in analysis.sweeps:
        v = verdict(s)
        items.append(f"**{s.sweep.model or '?'} · {s.name}** ({sum(s.counts.values())} trials): {v.headline}. {v.detail}.")
    blocks = [Block("h2", "At a glance"), Block("list", items=items)]
    best = best_sweep(analysis.sweeps)
    if best is not None:
        s, caveat = best
        metric = s.sweep.objective_metrics[0]
        blocks.append(Block("p", f"Best on validation: **{s.sweep.model or '?'} · {s.name}** ({metric} "
                                 f"{hfmt.metric(metric, _float(s.best.get('objective')))}){caveat}. "  # type: ignore[union-attr]
                                 "Best on validation is not best out of sample: see each verdict."))
    steps = next_steps(analysis.sweeps)
    if steps:
        blocks.append(Block("p", "No sweep here has an edge that holds out of sample. What to try next:"))
        blocks.append(Block("list", items=steps))
    return blocks


def _verdict_blocks(analysis: Analysis) -> list[Block]:
    """For each sweep, can its best trial be trusted? Significance after the selection (deflated
    Sharpe ratio), overfitting of the selection (PBO), and the test segment's word."""
    blocks = [Block("h2", "Can the best trial be trusted?")]
    for s in analysis.sweeps:
        items = []
        if s.deflated is not None:
            items.append(dsr_verdict(s.deflated, math.sqrt(s.sweep.periods_per_year or 252.0)))
            if s.deflated.n_trials < FEW_DSR_TRIALS:
                items.append(f"Few trials ({s.deflated.n_trials}): the spread of the trials' Sharpe ratios, which sets "
                             "the bar, is itself a rough estimate.")
        if s.overfitting is not None:
            items.append(pbo_verdict(s.overfitting))
            if s.overfitting.n_trials < FEW_PBO_TRIALS:
                items.append(f"The probability of backtest overfitting rests on {s.overfitting.n_trials} complete "
                             "trials: a rough estimate.")
        items += [n[0].upper() + n[1:] + "." for n in s.trust_notes]
        line = _beats_line(s)
        if line:
            items.append(line)
        blocks += [Block("h3", f"{s.sweep.model or '?'} · {s.name}"), Block("list", items=items)]
    blocks.append(Block("p", "How to read these: a deflated Sharpe ratio of 0.95 or more says the best trial's "
                             "validation edge is unlikely to be the luck of picking the best of all the trials tried; "
                             "a probability of backtest overfitting above 0.5 says the trial that wins on one half of "
                             "the validation bars usually loses its rank on the other half. The test segment, which no "
                             "trial was chosen on, is the last word."))
    return blocks


# --------------------------------------------------------------------------- outputs


def write_outputs(
    analysis: Analysis, plots: Sequence[Any], out_dir: Path, command: str | None = None
) -> dict[str, Path]:
    """trials.csv, summary.md and report.html in ``out_dir``; returns their paths by name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"trials": out_dir / TRIALS_CSV, "summary": out_dir / SUMMARY_MD, "html": out_dir / REPORT_HTML}
    analysis.trials.to_csv(paths["trials"], index=False)
    blocks = document(analysis, plots, command)
    paths["summary"].write_text(render_markdown(blocks, out_dir), encoding="utf-8")
    paths["html"].write_text(render_html(blocks), encoding="utf-8")
    return paths


def stdout_table(analysis: Analysis) -> str:
    """The short table of the best trial per sweep printed at the end of a run, and a verdict
    line per sweep."""
    df = _table(analysis.best_table().drop(columns=["complete", "trials"])).table
    assert df is not None
    cells = [[str(c) for c in df.columns]] + [[str(v) for v in row] for row in df.itertuples(index=False)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = [
        "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines += [f"{s.name}: {verdict(s).headline}" for s in analysis.sweeps]
    return "\n".join(lines)


def default_out(paths: Sequence[str | os.PathLike[str]]) -> Path:
    """``<dir>/report`` for one path; for several, ``report`` in their deepest common directory."""
    resolved = [Path(p).resolve() for p in paths]
    base = resolved[0] if len(resolved) == 1 else Path(os.path.commonpath(resolved))
    return base / DEFAULT_OUT


@dataclass
class ReportResult:
    out_dir: Path
    analysis: Analysis
    plots: list[Any]
    files: dict[str, Path]
    seconds: dict[str, float]
    cache_hits: int = 0  # entries of the report's cache used / computed again
    cache_misses: int = 0


def _import_drawing() -> None:
    """What summarizing and drawing a changed sweep imports (about 1.5 s), while its study is read."""
    import optuna.importance  # scikit-learn
    import optuna.visualization.matplotlib  # noqa: F401

    from . import plots  # noqa: F401


def build_report(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
    command: str | None = None,
    jobs: int | None = None,
    importance: str = "auto",
    cache: bool = True,
) -> ReportResult:
    """Load, tidy, plot and write; raises :class:`NoSweepError` for a path without a sweep.
    ``cache``: keep what was computed in ``<out>/.cache/`` and take from it what has not changed
    since the last report into ``out`` (:mod:`analysis.cache`)."""
    from .drawing import cpus, make_plots

    seconds: dict[str, float] = {}
    out_dir = Path(out) if out is not None else default_out(paths)
    memo = Memo(out_dir / CACHE_DIR if cache else None)
    t0 = time.perf_counter()
    multirun: Multirun = load_multirun(paths, memo, skip=out_dir.resolve(), jobs=cpus() if jobs is None else jobs,
                                       meanwhile=_import_drawing)
    t1 = time.perf_counter()
    analysis = analyse(multirun, importance=importance, rerun=False, memo=memo)
    t2 = time.perf_counter()

    def reruns() -> None:  # composing the re-run commands, while the plots are drawn
        for summary in analysis.sweeps:
            add_rerun(summary, memo)

    plots = make_plots(analysis, out_dir, jobs=jobs, meanwhile=reruns, memo=memo)
    t3 = time.perf_counter()
    files = write_outputs(analysis, plots, out_dir, command)
    memo.prune()
    t4 = time.perf_counter()
    seconds.update(load=t1 - t0, tidy=t2 - t1, plots=t3 - t2, write=t4 - t3, total=t4 - t0)
    return ReportResult(out_dir, analysis, plots, files, seconds, memo.hits, memo.misses)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.report",
        description="Tables, plots and a report of every Optuna sweep found in the given directories "
        "(a multirun date directory, a sweep directory, or several).",
    )
    parser.add_argument(
        "paths", nargs="+", metavar="DIR", help="multirun/<date>, multirun/<date>/<time>, ..."
    )
    parser.add_argument("--out", default=None, help="output directory (default: DIR/report)")
    parser.add_argument(
        "--jobs", type=int, default=None, help="processes drawing plots (default: number of CPUs)"
    )
    parser.add_argument(
        "--importance", choices=IMPORTANCE_METHODS, default="auto",
        help="Optuna's importance evaluator (auto: fANOVA up to 200 complete trials, PED-ANOVA beyond)",
    )
    parser.add_argument(
        "--no-cache", action="store_true",
        help=f"compute everything again, and keep nothing in OUT/{CACHE_DIR} (by default, a sweep "
        "whose files have not changed since the last report into OUT is taken from there)",
    )
    args = parser.parse_args(argv)
    command = " ".join(
        ["python -m analysis.report", *(shlex.quote(p) for p in args.paths)]
        + (["--out", shlex.quote(args.out)] if args.out else [])
    )
    try:
        result = build_report(args.paths, args.out, command=command, jobs=args.jobs, importance=args.importance,
                              cache=not args.no_cache)
    except NoSweepError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(stdout_table(result.analysis))
    broken = sum(len(s.broken) for s in result.analysis.sweeps)
    if broken:
        print(f"{broken} broken or unfinished job(s): see {result.files['summary']}")
    print(f"Report written to {hfmt.path(result.out_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
