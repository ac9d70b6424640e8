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

from hpo_app import fmt as hfmt

from . import confirmation, pbt_decision
from .cache import CACHE_DIR, Memo
from .importance import IMPORTANCE_METHODS
from .job_files import as_float
from .load import STATES, Multirun, NoSweepError, load_multirun
from .render import Block, render_html, render_markdown
from .sections import beats_line, sweep_blocks, table_block
from .significance import dsr_verdict, pbo_verdict
from .tables import (
    FEW_DSR_TRIALS,
    FEW_PBO_TRIALS,
    Analysis,
    add_rerun,
    analyse,
)
from .verdict import best_sweep, next_steps, verdict
from .workers import cpus

TRIALS_CSV = "trials.csv"
SUMMARY_MD = "summary.md"
REPORT_HTML = "report.html"
DEFAULT_OUT = "report"


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
    blocks.append(table_block(analysis.best_table()))
    for p in plots:
        if p.sweep is None:
            blocks.append(Block("img", p.title, image=p))
    for s in analysis.sweeps:
        blocks.extend(sweep_blocks(s, plots))
    if command:
        blocks.append(Block("p", f"Made by `{command}` on {time.strftime('%Y-%m-%d %H:%M')}."))
    return blocks


GLOSSARY = (
    "How to read these lines. The recommendation comes from the raced confirmation: the best candidates and the "
    "untuned default trained again on fresh seeds; a candidate is recommended only if it beats the default by more "
    "than chance allows (SPA p-value below 0.05). The deflated Sharpe ratio is the probability that the best trial's "
    "validation Sharpe beats what the best of that many trials would show with no skill at all: 0.95 or more and the "
    "edge is unlikely to be luck, 0.3 and it probably is. PBO, the probability of backtest overfitting, is how often "
    "the trial best on one half of the validation bars falls to the median or below on the other half: near 0 the "
    "choice holds up, above 0.5 it overfits. Test is the segment no trial was chosen on.")


def _glance_blocks(analysis: Analysis) -> list[Block]:
    """At the very top: one verdict line per sweep, the best sweep on validation, what to try next."""
    items = []
    for s in analysis.sweeps:
        v = verdict(s)
        ppy = s.sweep.periods_per_year
        recommended = (confirmation.glance(s.sweep.confirmation, s.sweep.objective_metrics[0], ppy)
                       or pbt_decision.glance(s.sweep.pbt_decision, ppy))
        items.append(f"**{s.sweep.model or '?'} · {s.name}** ({sum(s.counts.values())} trials): "
                     + (f"{recommended}. " if recommended else "") + f"Best trial: {v.headline}. {v.detail}.")
    blocks = [Block("h2", "At a glance"), Block("list", items=items), Block("p", GLOSSARY)]
    best = best_sweep(analysis.sweeps)
    if best is not None:
        s, caveat = best
        metric = s.sweep.objective_metrics[0]
        blocks.append(Block("p", f"Best on validation: **{s.sweep.model or '?'} · {s.name}** ({metric} "
                                 f"{hfmt.metric(metric, as_float(s.best.get('objective')))}){caveat}. "  # type: ignore[union-attr]
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
        line = beats_line(s)
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
    df = table_block(analysis.best_table().drop(columns=["complete", "trials"])).table
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
    from .drawing import make_plots

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
    except OSError as e:  # a full or read-only disk under the output directory, an --out that is a file
        out = args.out if args.out else default_out(args.paths)
        print(f"error: cannot write the report in {hfmt.path(Path(out))}: {e.strerror or e}"
              f"{f' ({e.filename})' if e.filename else ''}", file=sys.stderr)
        return 2  # as the app's own disk errors (hpo_app.run_output.OutputError)
    print(stdout_table(result.analysis))
    broken = sum(len(s.broken) for s in result.analysis.sweeps)
    if broken:
        print(f"{broken} broken or unfinished job(s): see {hfmt.path(result.files['summary'])}")
    print(f"Report written to {hfmt.path(result.out_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
