"""Every plot of a report as a PNG: which plots, where, drawn in forked worker processes when there
are CPUs, or copied from the report's cache when what they draw has not changed
(:mod:`analysis.cache`). The drawing itself is :mod:`analysis.plots` (imported only when a plot
has to be drawn: matplotlib is not loaded for a report whose plots all come from the cache).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import tearsheet
from .cache import Memo, frame_bytes
from .captions import CAPTIONS, TITLES
from .tables import Analysis, SweepSummary
from .workers import cpus, fork_pool

SWEEP_KINDS = ("history", "importance", "parallel", "slices", "curves", "val_test", "equity", "tearsheet", "pareto",
               "pbt_scores", "pbt_schedules")
_COST = {"slices": 4, "parallel": 2, "equity": 2, "tearsheet": 4, "comparison": 2}  # rough relative drawing cost


@dataclass(frozen=True)
class PlotFile:
    """One written PNG: which sweep (None for cross-sweep plots), which kind, where."""

    sweep: str | None
    kind: str
    path: Path
    title: str

    @property
    def caption(self) -> str:
        return CAPTIONS[self.kind]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "sweep"


_TASK_ANALYSIS: Analysis | None = None  # what forked plotting workers draw from (set by make_plots)


def _draw(task: tuple[int, str, str]) -> tuple[str | None, bool]:
    """Draw one plot of ``_TASK_ANALYSIS`` (sweep index -1: the comparison); runs in a worker.
    The PNG written (None: nothing to draw, or it failed) and whether it failed."""
    import matplotlib

    from . import plots

    index, kind, path = task
    analysis = _TASK_ANALYSIS
    assert analysis is not None
    # rc_context: Optuna's plots switch matplotlib to its ggplot style, which must not leak into the next plot.
    with warnings.catch_warnings(), matplotlib.rc_context():
        warnings.simplefilter("ignore")  # Optuna's matplotlib plots are "experimental"
        try:
            if index < 0:
                written = plots.plot_comparison(analysis, Path(path))
            else:
                written = plots.sweep_plotters(analysis)[kind](analysis.sweeps[index], Path(path))
        except Exception as err:  # noqa: BLE001 - one plot that cannot be drawn must not stop the report
            print(f"warning: {Path(path).name} not drawn: {type(err).__name__}: {str(err)[:160]}")
            return None, True
    return (None if written is None else str(written)), False


def _jobs(jobs: int | None, n_tasks: int) -> int:
    return max(1, min(cpus() if jobs is None else jobs, n_tasks))


def plot_key(memo: Memo, analysis: Analysis, index: int, kind: str) -> str | None:
    """The cache key of one plot: a hash of what it draws (None: not cached)."""
    if index < 0:
        keys = [s.data_key for s in analysis.sweeps]
        return None if None in keys else memo.key("plot", kind, keys, frame_bytes(analysis.trials))
    s: SweepSummary = analysis.sweeps[index]
    if s.data_key is None:
        return None
    curves = analysis.curves
    own_curves = curves[curves["sweep"] == s.name] if "sweep" in curves else curves
    drawn = {"curves": lambda: frame_bytes(own_curves, alone=True),
             "equity": lambda: frame_bytes(s.equity),
             "tearsheet": lambda: frame_bytes(tearsheet.chosen_equity(s)[0])}.get(kind, lambda: b"")
    return memo.key("plot", kind, s.data_key, repr(s.importance), drawn())


def make_plots(analysis: Analysis, out_dir: Path, jobs: int | None = None,
               meanwhile: Callable[[], None] = lambda: None, memo: Memo | None = None) -> list[PlotFile]:
    """Every plot of every sweep plus the comparison, as PNGs in ``out_dir``. A plot found in
    ``memo`` is copied; the others are drawn, with ``jobs > 1`` (default: the CPUs) and fork in
    worker processes that inherit ``analysis``, while this process does ``meanwhile`` (which must
    not change what the plots draw)."""
    global _TASK_ANALYSIS
    memo = memo or Memo(None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = [(i, kind, str(out_dir / f"{slug(s.name)}_{kind}.png"))
             for i, s in enumerate(analysis.sweeps) for kind in SWEEP_KINDS]
    tasks.append((-1, "comparison", str(out_dir / "comparison.png")))
    keys = [plot_key(memo, analysis, i, kind) if memo.enabled else None for i, kind, _ in tasks]
    written: list[str | None] = [None] * len(tasks)
    todo = []
    for k, ((_, _, path), key) in enumerate(zip(tasks, keys)):
        cached = memo.get(key)  # [digest] of the PNG, [] : nothing to draw
        if cached == [] or (isinstance(cached, list) and len(cached) == 1
                            and memo.get_file(key, Path(path), cached[0])):  # type: ignore[arg-type]
            written[k] = path if cached else None
        else:
            todo.append(k)
    if todo:
        jobs = _jobs(jobs, len(todo))
        import optuna.visualization.matplotlib  # noqa: F401 - imported once here, not in every worker

        from . import plots  # noqa: F401

        _TASK_ANALYSIS = analysis
        drawn: dict[int, tuple[str | None, bool]] = {}
        try:
            pool = fork_pool(jobs)
            if pool is not None:
                order = sorted(todo, key=lambda k: -_COST.get(tasks[k][1], 1))
                with pool:
                    futures = {k: pool.submit(_draw, tasks[k]) for k in order}
                    meanwhile()
                    drawn = {k: futures[k].result() for k in todo}
            else:
                drawn = {k: _draw(tasks[k]) for k in todo}
                meanwhile()
        finally:
            _TASK_ANALYSIS = None
        for k, (path, failed) in drawn.items():
            written[k] = path
            if keys[k] is not None and not failed:  # a failure is tried again (and said again) next time
                digest = memo.put_file(keys[k], Path(path)) if path is not None else None  # type: ignore[arg-type]
                memo.put(keys[k], [digest] if path is not None else [])
    else:
        meanwhile()
    return [PlotFile(None if i < 0 else analysis.sweeps[i].name, kind, Path(p), TITLES[kind])
            for (i, kind, _), p in zip(tasks, written) if p is not None]
