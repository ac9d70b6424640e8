"""What a run writes and says: its equity curves (``equity.csv``), its job record
(``metrics.json``, ``hpo_record.job``) and its summary lines. The engine (``hpo_app.engine``) trains
and scores; it calls these with itself, and nothing here imports it or calls it back
(``engine`` below is a ``hpo_app.engine.TrainingEngine``, read only)."""

from __future__ import annotations

import csv
import errno
import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pandas as pd

from hpo_app import fmt
from hpo_app.features import PreparedData
from hpo_app.metrics import METRIC_NAMES, memorized
from hpo_app.specs import RunResult
from hpo_app.training import baseline_records, equity_frame
from hpo_record import files, job as job_record

log = logging.getLogger("hpo_app.engine")  # the run's lines keep the engine's logger name


class OutputError(Exception):
    """A file of the run could not be written (a full or read-only disk): one line that names it."""


DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO})
"""The system's answers that mean the disk refused a file (full, over quota or size limit, read-only,
no permission, failing)."""


@contextmanager
def writing(path: Path, *, whole: bool = True) -> Iterator[None]:
    """A disk's refusal (``DISK_ERRORS``) while writing ``path``, also under torch's or a writer's own
    error, becomes an OutputError naming the file and what the system said; a ``whole`` file this
    write created and left in part is removed (a truncated model.zip would fail later, where it is
    loaded). Any other error passes as it was."""
    existed = whole and path.exists()  # only a whole file is ever removed
    try:
        yield
    except OutputError:
        raise
    except Exception as exc:  # noqa: BLE001 - only a disk's refusal is translated; the rest goes on
        cause: BaseException | None = exc
        while cause is not None and not (isinstance(cause, OSError) and cause.errno in DISK_ERRORS):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        if whole and not existed:
            with suppress(OSError):  # a read-only disk refuses this too
                path.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {cause.strerror or cause}") from exc


def computed(engine: Any) -> str:
    """What the run had computed when it stopped, for a failure's line: nothing else keeps it then."""
    names = engine.objective_spec.metrics
    if engine.final_values is not None:
        return "its objective, computed: " + ", ".join(f"{n} = {fmt.metric(n, v)}" for n, v in zip(names, engine.final_values))
    if engine.curve:
        last = engine.curve[-1]
        return f"its last evaluation: {engine.metric} = {fmt.metric(engine.metric, last.objective)} at step {last.timesteps}"
    return "nothing computed yet"


def write_failure(engine: Any, exc: BaseException, prepared: PreparedData | None) -> None:
    """The traceback (``error.txt``) and a failed job record; a disk that cannot take them is
    warned about, and the failure itself propagates as it was."""
    try:
        engine.output_dir.mkdir(parents=True, exist_ok=True)
        path = engine.output_dir / files.ERROR_FILE
        with writing(path):  # no empty error.txt left on a full disk
            path.write_text("".join(traceback.format_exception(exc)))
        write_record(engine, None, prepared, error=job_record.one_line(exc))
    except (OSError, OutputError) as err:
        log.warning("could not record the failure in %s: %s", engine.output_dir, err)
    engine.loggers.close(files.STATE_FAILED, {}, [engine.output_dir / files.METRICS_FILE,
                                                  engine.output_dir / files.ERROR_FILE])


def append_evaluation(engine: Any, point: Any, fold: int, seed: int) -> None:
    """One evaluation (a ``specs.Evaluation``) appended to ``eval_curve.csv`` (written anew at the first)."""
    names = [f"val/{m}" for m in METRIC_NAMES]
    extra = [] if engine.single else ["fold", "seed"]
    path = engine.output_dir / files.EVAL_CURVE_FILE
    with writing(path, whole=False), path.open("w" if point.index == 1 else "a", newline="") as f:
        writer = csv.writer(f)
        if point.index == 1:
            writer.writerow(["timesteps", "objective", *names, *extra])
        writer.writerow([point.timesteps, point.objective, *(point.metrics[n] for n in names),
                         *([] if engine.single else [fold, seed])])


def write_equity(engine: Any, final: Any) -> None:
    """The last fold's first agent on its training and validation blocks and on test, beside the
    baselines; with walk-forward, also each fold's validation block (first seed) as ``fold<k>``:
    together they are the agent's out-of-sample validation returns."""
    prepared = final.prepared
    frames = []
    for segment in ("train", "val", "test"):
        frames.append(equity_frame(segment, prepared, prepared.segments[segment], final.episodes[segment],
                                   baseline_records(prepared, segment, engine.env_spec, engine.reference)))
    if engine.validation.kind == "walkforward":
        for run in engine.runs:
            if run.seed == engine.seed:
                p = run.prepared
                frames.append(equity_frame(f"fold{run.fold.index}", p, p.segments["val"], run.episodes["val"],
                                           baseline_records(p, "val", engine.env_spec, engine.reference)))
    path = engine.output_dir / files.EQUITY_FILE
    with writing(path):
        pd.concat(frames).to_csv(path, index=False)


def write_record(engine: Any, result: RunResult | None, prepared: PreparedData | None,
                 error: str | None) -> None:
    segments = {}
    if prepared is not None:
        for segment, (start, end) in prepared.segments.items():
            stamps = prepared.index[[start, end]].astype(str)  # as in equity.csv
            segments[segment] = {"start": stamps[0], "end": stamps[1], "bars": int(end - start)}
    folds = [{"fold": r.fold.index, "seed": r.seed, "train": list(r.fold.train), "val": list(r.fold.val),
              "timesteps": r.timesteps, "metrics": r.val} for r in engine.runs] if not engine.single else []
    first_seed = [r for r in engine.runs if r.seed == engine.seed]
    val_returns = [float(x) for r in first_seed for x in r.episodes["val"].net_returns] if result else []
    record = job_record.JobRecord(
        state=result.state if result else files.STATE_FAILED,
        model=engine.model_spec.name,
        objective=job_record.Objective(engine.objective_spec.metrics, engine.objective_spec.directions,
                                   result.objective_values if result else None),
        metrics=result.metrics if result else {},
        baselines=result.baselines if result else {},
        timesteps=engine.timesteps,
        seconds=result.seconds if result else None,
        seed=engine.seed,
        periods_per_year=prepared.periods_per_year if prepared is not None else None,
        data_source=prepared.source if prepared is not None else None,
        segments=segments,
        error=error,
        trial=engine.trial_info,
        folds=folds,
        val_returns=val_returns,
        lineage={"init_from": engine.train_spec.init_from, "from_timesteps": engine.start_timesteps}
        if engine.train_spec.init_from else None,
        kept={"rule": "best", "timesteps": [r.kept_timesteps for r in engine.runs]}
        if engine.train_spec.keep == "best" and engine.runs else None,
    )
    with writing(engine.output_dir / files.METRICS_FILE, whole=False):  # written whole or not at all
        job_record.write(engine.output_dir, record)


def log_summary(engine: Any, result: RunResult) -> None:
    m, base = result.metrics, result.baselines
    log.info("%s %s: %d steps in %.1fs | objective %s = %s", engine.model_spec.name, result.state,
             result.timesteps, result.seconds, ",".join(engine.objective_spec.metrics),
             ", ".join(fmt.metric(n, v) for n, v in zip(engine.objective_spec.metrics, result.objective_values)))
    if not engine.single:
        per_run = ", ".join(fmt.metric(engine.metric, r.val[engine.metric]) for r in engine.runs)
        log.info("  %s: %d run(s) (%d fold(s) x %d seed(s)), %s per run: %s -> %s %s",
                 engine.validation.kind, len(engine.runs), len({r.fold.index for r in engine.runs}),
                 engine.train_spec.n_seeds, engine.metric, per_run, engine.validation.aggregate,
                 fmt.metric(engine.metric, result.objective_values[0]))
    for segment in files.SEGMENTS:
        ref = f" (reference {base['reference'][f'{segment}/sharpe']:6.2f})" if "reference" in base else ""
        log.info("  %-5s sharpe %6.2f (buy&hold %6.2f)%s | return %7.1f%% (buy&hold %7.1f%%) | max dd %5.1f%% "
                 "| trades %d", segment, m[f"{segment}/sharpe"], base["buy_and_hold"][f"{segment}/sharpe"], ref,
                 100 * m[f"{segment}/total_return"], 100 * base["buy_and_hold"][f"{segment}/total_return"],
                 100 * m[f"{segment}/max_drawdown"], int(m[f"{segment}/n_trades"]))
    gap = m["train/sharpe"] - m["val/sharpe"]
    ref_gap = ""
    if "reference" in base:
        ref = base["reference"]
        ref_gap = f" (reference {ref['train/sharpe'] - ref['val/sharpe']:5.2f})"
    log.info("  gap   train - val sharpe %5.2f%s", gap, ref_gap)
    if "reference" in base and memorized(m, base["reference"]):
        ref = base["reference"]
        log.warning("  train sharpe %.2f beats the reference policy's %.2f (the rule the planted edge rewards) and loses "
                    "%.2f more to validation than it does: the agent memorized its training bars; trust validation",
                    m["train/sharpe"], ref["train/sharpe"], gap - (ref["train/sharpe"] - ref["val/sharpe"]))
    if engine.train_spec.keep == "best":
        log.info("  train.keep=best: validation chose the checkpoint too (one more selection on it); "
                 "test is untouched")
    log.info("  outputs in %s", fmt.path(engine.output_dir))
