"""The trial side of a sweep: a job's link to its Optuna trial (reporting and pruning).

The driver names the trial in the job's environment (:func:`environment`, put in
``hydra.job.env_set``, so it reaches a job on a Ray worker as well as one the basic launcher runs
in-process). In the job::

    from hpo_record.trial import current_trial

    link = current_trial()              # None outside a sweep of this sweeper
    for step, value in evaluations:
        if link is not None:
            link.report(value, step)
            if link.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step}")

Opening the link also records where the job runs (host, process, its start time, Ray node: the
trial's system attribute ``hpo:worker``), so that the driver can stop a job past
``hydra.sweeper.trial_timeout``. The pruner is the one the sweep was configured with
(``hydra.sweeper.pruner``, read from the job's Hydra config, built as the driver builds it); it
decides from the intermediate values of all trials in the study. Only public Optuna APIs are
used: the storage's ``set_trial_intermediate_value`` and ``get_trial``, and the pruner's
``prune(study, trial)`` (what ``optuna.Trial.report`` and ``should_prune`` do inside
``study.optimize``). Optuna and Hydra are imported when a link is opened, not with this module.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo_record.storage import open_storage
from hpo_record.study import ATTR_ROLE, ATTR_WORKER, ROLE_CONFIRMATION

if TYPE_CHECKING:
    import optuna

ENV_STORAGE = "HPO_SWEEPER_STORAGE"
ENV_STUDY = "HPO_SWEEPER_STUDY"
ENV_TRIAL_ID = "HPO_SWEEPER_TRIAL_ID"
ENV_TRIAL_NUMBER = "HPO_SWEEPER_TRIAL_NUMBER"

OPTUNA_TARGETS = ("optuna.samplers.*", "optuna.pruners.*", "hydra_plugins.hydra_optuna_sweeper.*")
"""The ``_target_``s a sampler or pruner config (``hydra.sweeper.sampler``, ``.pruner``) may name."""


@dataclass
class TrialLink:
    """One running trial of a study, seen from its job."""

    storage: Any  # optuna.storages.BaseStorage, opened by the job
    study: Any  # optuna.study.Study on that storage
    trial_id: int
    number: int
    pruner: Any  # optuna.pruners.BasePruner
    role: str | None = None  # hpo_record.study's ROLE_CONTROL, ROLE_CONFIRMATION; None: a search trial

    @property
    def study_name(self) -> str:
        return str(self.study.study_name)

    @property
    def multi_objective(self) -> bool:
        return len(self.study.directions) > 1

    def report(self, value: float, step: int) -> None:
        """Record an intermediate value at ``step`` (ignored for multi-objective studies,
        which Optuna cannot prune)."""
        if self.multi_objective:
            return
        self.storage.set_trial_intermediate_value(self.trial_id, int(step), float(value))

    def should_prune(self) -> bool:
        """The pruner's verdict on the values reported so far."""
        if self.multi_objective:
            return False
        trial = self.storage.get_trial(self.trial_id)
        return bool(self.pruner.prune(self.study, trial))


def environment(storage_url: str, study_name: str, trial_id: int, number: int) -> dict[str, str]:
    """What the driver puts in ``hydra.job.env_set`` for a trial."""
    return {
        ENV_STORAGE: storage_url,
        ENV_STUDY: study_name,
        ENV_TRIAL_ID: str(trial_id),
        ENV_TRIAL_NUMBER: str(number),
    }


def current_trial() -> TrialLink | None:
    """The link to the trial this job runs, or None outside a sweep."""
    trial_id = os.environ.get(ENV_TRIAL_ID)
    if not trial_id:
        return None
    import optuna
    from hydra.core.hydra_config import HydraConfig

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner_cfg = HydraConfig.get().sweeper.get("pruner") if HydraConfig.initialized() else None
    storage = open_storage(os.environ[ENV_STORAGE])
    study = optuna.load_study(
        study_name=os.environ[ENV_STUDY],
        storage=storage,
        sampler=optuna.samplers.RandomSampler(),  # never samples here; avoids building TPE
    )
    # Where this job runs, so that the driver can stop it past hydra.sweeper.trial_timeout.
    storage.set_trial_system_attr(int(trial_id), ATTR_WORKER, where_this_runs())
    role = storage.get_trial(int(trial_id)).user_attrs.get(ATTR_ROLE)
    # A confirmation run is never pruned: it is one key of a race that compares whole runs.
    pruner = optuna.pruners.NopPruner() if role == ROLE_CONFIRMATION else build_pruner(pruner_cfg)
    return TrialLink(storage=storage, study=study, trial_id=int(trial_id), number=int(os.environ[ENV_TRIAL_NUMBER]),
                     pruner=pruner, role=role)


def build_pruner(cfg: Any) -> optuna.pruners.BasePruner:
    """The pruner of a ``hydra.sweeper.pruner`` config (None: Optuna's NopPruner), built alike by
    the driver and by each job's link."""
    import optuna

    if cfg is None:
        return optuna.pruners.NopPruner()
    from hydra.utils import instantiate

    pruner = instantiate(cfg, _execution_whitelist_=OPTUNA_TARGETS)
    assert isinstance(pruner, optuna.pruners.BasePruner)
    return pruner


def where_this_runs() -> dict[str, Any]:
    """This process, as the driver needs it to stop the job (``ATTR_WORKER``): ``host``, ``pid``,
    ``started`` (:func:`start_time`) and, in a Ray worker, ``ray_node_id``."""
    info: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "started": start_time(os.getpid())}
    ray = sys.modules.get("ray")  # a Ray worker has it imported and initialized; never import it here
    if ray is not None and ray.is_initialized():
        info["ray_node_id"] = ray.get_runtime_context().get_node_id()
    return info


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, from ``/proc``, Linux), to tell it from a later
    process with its number; None if it does not exist (or elsewhere than Linux)."""
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None
