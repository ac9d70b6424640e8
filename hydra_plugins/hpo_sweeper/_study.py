"""Study bookkeeping: samplers, creating or resuming the study, which trials count, interrupted
trials, job numbers, and heartbeats. (Pruners are built by ``hpo_record.trial.build_pruner``, as
each job's link to its trial builds its own.)

Rules that docs/guide.md ("Failures, time limits, Ctrl-C and resume") and docs/sweeper.md document:

- A study that already has trials is continued only with ``hydra.sweeper.resume=true``.
- Toward ``n_trials`` count the trials that finished on their own: COMPLETE, PRUNED, and FAIL
  with an error of their job (user attribute ``error``). Trials cut short do not count: those
  stopped by Ctrl-C carry ``interrupted: true`` (written before ``error``), those found stale
  because their driver stopped sending heartbeats carry no ``error``. (A driver killed between
  writing a failed job's ``error`` and telling Optuna leaves a trial that counts once it is
  found stale: its job did fail.)
- A driver records a heartbeat for each of its trials in flight every ``heartbeat_interval``
  seconds; a RUNNING trial with no heartbeat for ``grace_period`` seconds is stale and marked
  FAIL by whichever driver looks (Optuna's ``fail_stale_trials``), never a live driver's trial.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from hydra.utils import instantiate
from optuna.trial import TrialState

from hpo_record.storage import display_url, open_storage, use_wal
from hpo_record.study import ATTR_ERROR, ATTR_IDENTITY, ATTR_INTERRUPTED, ATTR_JOB_NUM, INTERRUPTED
from hpo_record.trial import OPTUNA_TARGETS

from hydra_plugins.hpo_sweeper._identity import differences, refusal

log = logging.getLogger(__name__)


class StudyError(ValueError):
    """The study cannot be used as asked; the message is one line."""


def quiet_optuna() -> None:
    """Silence, once for the driver's process, what Optuna says about the way it is used here:
    the heartbeat API and some sampler options are "experimental", and heartbeats are "supposed
    to be used with Study.optimize" (the driver records them for the trials it asked, as
    ``optimize`` does for its own). Filters are process-wide: set here, not per call, because
    ``warnings.catch_warnings`` is not thread-safe."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")


def build_sampler(cfg: Any) -> Any:
    """The sampler of ``hydra.sweeper.sampler`` (a partial for the grid sampler)."""
    if cfg is None:
        return optuna.samplers.TPESampler()
    return instantiate(cfg, _execution_whitelist_=OPTUNA_TARGETS)


def open_study(
    *,
    url: str,
    study_name: str,
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    directions: list[str],
    metrics: list[str],
    resume: bool,
    heartbeat_interval: int,
    grace_period: int,
    on_stale: Callable[[optuna.study.Study, optuna.trial.FrozenTrial], None],
    identity: dict[str, Any] | None = None,
    where: str | None = None,
    on_created: Callable[[], None] | None = None,
) -> tuple[optuna.study.Study, optuna.storages.BaseStorage]:
    """Create the study, or continue it when ``resume``; raise StudyError on a mismatch.

    ``where`` names the sweep directory when the storage is that directory's own (the default):
    such a storage holds one study, so a sweep of another study there is refused. ``identity``
    (``_identity``) is recorded in a new study and compared on resume. ``on_created`` is called when
    this driver created the study (of drivers started together on one study, exactly one does)."""
    use_wal(url)
    storage = open_storage(url, heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                           on_stale=on_stale)
    names = optuna.study.get_all_study_names(storage)
    others = [n for n in names if n != study_name]
    if others and study_name not in names and (resume or where):
        held = ", ".join(repr(n) for n in others[:5])
        if resume:
            raise StudyError(
                f"hydra.sweeper.resume=true: {where or display_url(url)} holds study {held}, not "
                f"{study_name!r} (hydra.sweeper.study_name, which follows the model): resume with the "
                "sweep's own settings"
            )
        raise StudyError(
            f"{where} already holds the sweep of study {held}: one sweep directory holds one study; "
            "use another hydra.sweep.dir, or resume that sweep with hydra.sweeper.resume=true"
        )
    if study_name in names and not resume:
        n = len(optuna.load_study(study_name=study_name, storage=storage).trials)
        if n:
            raise StudyError(
                f"study {study_name!r} in {display_url(url)} already has {n} trial(s): add "
                "hydra.sweeper.resume=true to continue it, or use another hydra.sweep.dir"
            )
    try:
        study = optuna.create_study(study_name=study_name, storage=storage, sampler=sampler, pruner=pruner,
                                    directions=directions)
        if on_created is not None:
            on_created()
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler, pruner=pruner)
    existing = [d.name.lower() for d in study.directions]
    if existing != [d.lower() for d in directions]:
        raise StudyError(f"study {study_name!r} was created with directions {existing}, not {directions}")
    if identity is not None:
        recorded = study.user_attrs.get(ATTR_IDENTITY)
        if study.trials and recorded is not None:
            differ = differences(recorded, identity)
            if differ:
                raise StudyError(refusal(differ, where or display_url(url), study_name))
        elif not study.trials or recorded is None:  # a new study, or one from before identities
            study.set_user_attr(ATTR_IDENTITY, identity)
    if metrics and study.metric_names is None:
        study.set_metric_names(metrics)  # the study names its values, for the report and the dashboard
    if resume:
        # A seeded sampler would start its random stream over and repeat the points it already
        # tried: a resumed sweep draws new ones. So do drivers started together on one study
        # (each with resume=true), even before any trial exists: they share the seed.
        sampler.reseed_rng()
    return study, storage


def requeue_cut_points(study: optuna.study.Study) -> int:
    """Enqueue the points of trials cut short that no counting trial covers (for the grid
    sampler, which treats every finished trial's point as visited); returns how many."""
    covered = [t.params for t in study.get_trials(deepcopy=False) if t.state.is_finished() and counts(t)]
    cut = [t.params for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if not counts(t)]
    again = []
    for params in cut:
        if params and params not in covered and params not in again:
            again.append(params)
    for params in again:
        study.enqueue_trial(params, skip_if_exists=False)
    return len(again)


def counts(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a finished trial counts toward ``n_trials`` (see the module docstring)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    attrs = trial.user_attrs
    return trial.state == TrialState.FAIL and ATTR_ERROR in attrs and not attrs.get(ATTR_INTERRUPTED)


def count_finished(study: optuna.study.Study) -> int:
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return sum(counts(t) for t in study.get_trials(deepcopy=False, states=states))


def tell(study: optuna.study.Study, trial: optuna.trial.Trial, **kwargs: Any) -> None:
    """``study.tell``, tolerant of what is not this driver's fault: a trial another driver
    already finished (e.g. found it stale), and the grid sampler calling ``study.stop()`` when
    its grid is exhausted (only allowed inside ``optimize``; the state is stored all the same)."""
    try:
        study.tell(trial, skip_if_finished=True, **kwargs)
    except RuntimeError as err:
        if "Study.stop" not in str(err):
            raise


def mark_interrupted(study: optuna.study.Study, trial: optuna.trial.Trial, reason: str = INTERRUPTED) -> bool:
    """FAIL a trial cut short (it will not count); False if it had already finished."""
    try:
        trial.set_user_attr(ATTR_INTERRUPTED, True)  # first: with it, the trial never counts
        trial.set_user_attr(ATTR_ERROR, reason)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    tell(study, trial, state=TrialState.FAIL)
    return True


class JobNumbers:
    """Hydra job numbers, each a job directory this driver created (never an existing one)."""

    def __init__(self, sweep_dir: Path, study: optuna.study.Study) -> None:
        numbers = [int(p.name) for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()]
        numbers += [int(t.user_attrs[ATTR_JOB_NUM]) for t in study.get_trials(deepcopy=False)
                    if ATTR_JOB_NUM in t.user_attrs]
        self.sweep_dir = sweep_dir
        self.next = max(numbers, default=-1) + 1

    def claim(self) -> int:
        while True:
            num, self.next = self.next, self.next + 1
            try:
                (self.sweep_dir / str(num)).mkdir(parents=True, exist_ok=False)
                return num
            except FileExistsError:  # another driver of this sweep took it
                continue
