"""Heartbeats of the trials a driver has in flight, and the failing of other drivers' stale or
abandoned trials (the rules are in ``_study``'s docstring and docs/guide.md)."""

from __future__ import annotations

import datetime
import logging
import threading
import time

import optuna
from optuna.trial import TrialState

from hpo_record.storage import has_heartbeat
from hpo_record.study import ATTR_JOB_NUM

log = logging.getLogger(__name__)


class Heartbeats:
    """Records a heartbeat for each trial this driver has in flight, every ``interval`` seconds,
    in a daemon thread (so a trial running in the driver, with the basic launcher, keeps its
    heartbeat), and fails other drivers' stale trials on the way."""

    def __init__(self, study: optuna.study.Study, storage: optuna.storages.BaseStorage) -> None:
        self.study = study
        self.storage = storage
        self.enabled = has_heartbeat(storage)
        self.interval = float(storage.get_heartbeat_interval() or 0) if self.enabled else 0.0  # type: ignore[attr-defined]
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.enabled:
            return
        self.fail_stale()
        # Trials another driver has RUNNING now: a dead driver's, not stale yet, or a live one's.
        self.left = {t.number for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        self._thread = threading.Thread(target=self._run, name="hpo-heartbeats", daemon=True)
        self._thread.start()

    def settle(self) -> None:
        """Before the sweep ends, wait for the trials another driver had RUNNING when this one started
        to finish, or go stale and be failed (a resume started at once after a driver was killed
        leaves none RUNNING); a live driver's, still beating after grace + 2 intervals, are left to it."""
        if not self.enabled or not getattr(self, "left", None):
            return
        grace = float(self.storage.grace_period or 2 * self.interval)  # type: ignore[attr-defined]
        deadline, said = time.monotonic() + grace + 2 * self.interval, False
        while True:
            running = {t.number for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
            left = sorted(running & self.left)
            if not left:
                return
            if time.monotonic() > deadline:
                log.info("Trial(s) %s of another driver are still RUNNING with live heartbeats: left to it",
                         ", ".join(map(str, left)))
                return
            if not said:
                log.info("Waiting for trial(s) %s, left RUNNING by another driver when this one started: "
                         "failed once stale (no heartbeat for %g s), unless they finish", ", ".join(map(str, left)), grace)
                said = True
            try:
                self.fail_stale()
                time.sleep(min(5.0, self.interval))
            except KeyboardInterrupt:  # Ctrl-C: the next driver fails them once stale
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)  # a stale callback may be writing a job's record

    def add(self, trial_id: int) -> None:
        if not self.enabled:
            return
        self.storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
        with self._lock:
            self._ids.add(trial_id)

    def discard(self, trial_id: int) -> None:
        with self._lock:
            self._ids.discard(trial_id)

    def fail_stale(self) -> None:
        optuna.storages.fail_stale_trials(self.study)
        self._fail_abandoned()

    def _fail_abandoned(self) -> None:
        """A driver killed between asking for a trial and recording its first heartbeat leaves a
        RUNNING trial that Optuna never finds stale (it has no heartbeat). A live driver records the
        heartbeat and the trial's job number within milliseconds of asking, so a RUNNING trial with
        no job number, started more than ``grace_period`` ago, was abandoned: it is marked FAIL
        (with no ``error``: it does not count toward ``n_trials``)."""
        grace = self.storage.grace_period or 2 * self.interval  # type: ignore[attr-defined]
        cutoff = datetime.datetime.now() - datetime.timedelta(seconds=grace)
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if ATTR_JOB_NUM not in trial.user_attrs and trial.datetime_start and trial.datetime_start < cutoff:
                study_id = self.storage.get_study_id_from_name(self.study.study_name)
                trial_id = self.storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
                try:
                    self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
                except RuntimeError:  # finished meanwhile (UpdateFinishedTrialError): nothing to do
                    continue
                log.warning("trial %d: failed, left RUNNING without a heartbeat or a job by a driver that stopped",
                            trial.number)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                ids = list(self._ids)
            try:
                for trial_id in ids:
                    self.storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
                self.fail_stale()
            except Exception as err:  # noqa: BLE001 - a busy database must not stop the sweep
                log.warning("heartbeat not recorded: %s", err)
