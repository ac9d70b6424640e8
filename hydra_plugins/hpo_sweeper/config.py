"""Structured configs of the sweeper (``hydra/sweeper=hpo_optuna``), its pruners and a Ray launcher config.

Registered in Hydra's ConfigStore when Hydra scans its plugins:

- ``hydra/sweeper``: ``hpo_optuna`` (:class:`HpoSweeperConf`);
- ``hydra/sweeper/pruner``: ``none``, ``median``, ``percentile``, ``asha``, ``hyperband``
  (Optuna's pruners); the samplers are the released sweeper's ``hydra/sweeper/sampler`` options
  (``tpe``, ``random``, ``cmaes``, ``grid``, ``nsgaii``, ``gp``, ``qmc``, ...);
- ``hydra/launcher``: ``hpo_ray``, the released Ray launcher with defaults for sweeps.

Sampler and pruner live under ``hydra.sweeper``, so they never reach a job's own config, and a
misspelt key (``hydra.sweeper.pruner.n_warmup_step=2``) fails when the config is composed.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore

# The released sweeper's sampler configs (hydra/sweeper/sampler/*) are registered by its config
# module; importing it here makes the dependency explicit and the registration certain.
from hydra_plugins.hydra_optuna_sweeper import config as _released  # noqa: F401
from omegaconf import MISSING


@dataclass
class PrunerConf:
    _target_: str = MISSING


@dataclass
class NopPrunerConf(PrunerConf):
    """No pruning: every trial trains its full budget."""

    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class MedianPrunerConf(PrunerConf):
    """Prune a trial worse than the median of earlier trials at the same step."""

    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class PercentilePrunerConf(MedianPrunerConf):
    """Prune a trial below the given percentile of earlier trials at the same step."""

    _target_: str = "optuna.pruners.PercentilePruner"
    percentile: float = 25.0


@dataclass
class SuccessiveHalvingPrunerConf(PrunerConf):
    """Asynchronous successive halving (ASHA)."""

    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class HyperbandPrunerConf(PrunerConf):
    """Hyperband: several successive-halving brackets with different minimum budgets."""

    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: Any = "auto"
    reduction_factor: int = 3
    bootstrap_count: int = 0


@dataclass
class HooksConf:
    """The application's side of the seam (dotted paths to functions; see ``hooks.py``)."""

    # check(config: DictConfig, searched: list[str]) -> None, called once before any trial with
    # the config of a representative trial; raising ValueError refuses the sweep with its message.
    check: Optional[str] = None
    # job_failed(job: hpo_record.seam.FailedJob) -> None, called for a trial whose
    # job ended without its task returning: interrupted, stale, config not composed, worker died.
    job_failed: Optional[str] = None
    # format_value(metric: str, value: float) -> str: how the driver shows an objective value in
    # its progress and end lines (default: 4 decimals).
    format_value: Optional[str] = None
    # next_steps(sweep_dir: str) -> list[str]: lines the driver prints at the end of a sweep,
    # below its best trial (the command that reports on the sweep, say); sweep_dir is the path
    # as a user would type it (relative to the working directory when inside it).
    next_steps: Optional[str] = None
    # paired_scores(job_dir: str) -> list[float]: a confirmation run's per-observation scores (higher is
    # better; the same observations for every run of the sweep), which the raced confirmation pairs.
    # None: each run's value is its one observation.
    paired_scores: Optional[str] = None


@dataclass
class PbtConf:
    """Population-based training (``_pbt.py``): set ``hydra.sweeper.pbt`` to run the sweep as a
    population trained in intervals instead of independent trials."""

    population_size: Optional[int] = None  # None: twice the trials in parallel (at least 4)
    perturbation_interval: int = 10000  # steps per interval: a member is ranked, and may exploit, after each
    quantile_fraction: float = 0.25  # bottom quantile clones the top quantile
    resample_probability: float = 0.25  # per mutable hyperparameter, on explore; else perturbed
    perturbation_factors: List[float] = field(default_factory=lambda: [0.8, 1.2])
    mutable: List[str] = field(default_factory=list)  # searched keys explored; the others are inherited
    budget_key: str = "train.total_timesteps"  # the task's key: steps to reach (the config's value: the total)
    checkpoint_key: str = "train.init_from"  # the task's key: the job directory to continue from
    seed: Optional[int] = None  # of exploit's and explore's random choices
    seed_key: Optional[str] = None  # the task's seed key: member i's jobs run with its value + i (null: as is)
    # Exploits rank members on this first share of each interval's per-observation validation scores
    # (hooks.paired_scores); the rest, which no exploit saw, decides the recommendation (the best member
    # against the control member: SPA at confirm.level, _pbt_verdict). null: rank on the objective, no decision.
    rank_fraction: Optional[float] = 0.5


@dataclass
class ConfirmConf:
    """The raced confirmation after the search (``_race``, ``_confirm``): the top candidates and the
    control trained again on fresh seeds; the control stays the recommendation unless a candidate
    beats it beyond noise (Hansen's SPA over the candidates, at ``level``)."""

    top_k: int = 5  # candidates raced against the control (0: no confirmation)
    seeds: int = 3  # confirmation seeds: rounds of the race
    level: float = 0.05  # the tests' level (stopping losers, and the decision)
    min_rounds: int = 2  # rounds before a loser can be stopped
    seed_key: Optional[str] = None  # the task's seed key (the app's: seed); required when top_k > 0
    seed_offset: int = 1000  # confirmation seeds: the config's seed + seed_offset + round


@dataclass
class HpoSweeperConf:
    """The released Optuna sweeper's keys, plus pruning, asynchronous dispatch, resume,
    heartbeats and an application seam."""

    _target_: str = "hydra_plugins.hpo_sweeper.hpo_sweeper.HpoSweeper"
    defaults: List[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "none"}])

    sampler: Any = MISSING  # hydra/sweeper/sampler: tpe, random, cmaes, grid, nsgaii, gp, ...
    pruner: Any = MISSING  # hydra/sweeper/pruner: none, median, percentile, asha, hyperband
    direction: Any = "minimize"  # or a list, one per value the task returns
    metric: Any = None  # names of the values the task returns (labels in the results file)
    storage: Optional[str] = None  # None: sqlite optuna.db in the sweep dir; "journal"; a URL
    study_name: Optional[str] = None  # None: "study"
    n_trials: int = 20
    n_jobs: Optional[int] = None  # trials in parallel; None: Ray's CPUs / CPUs per trial
    queue: int = 1  # trials submitted beyond the parallel ones, so a freed slot starts at once
    max_failure_rate: float = 0.25  # of n_trials; more failures stop the sweep (exit code 1)
    resume: bool = False  # continue the study that storage and study_name already hold
    # Config keys (or prefixes of keys) a resumed sweep may change; any other difference from the
    # sweep it resumes (model, objective, search space, data, ...) refuses the resume.
    resume_ignore: List[str] = field(default_factory=list)
    heartbeat_interval: int = 30  # seconds between heartbeats of the driver's running trials
    grace_period: int = 120  # seconds without heartbeat after which a RUNNING trial is stale
    # Seconds a trial's job may run (from when a slot was free for it); past it the trial is failed
    # ("timed out after N s") and its worker killed. None: no limit. Not enforced by the basic launcher.
    trial_timeout: Optional[float] = None
    params: Optional[Dict[str, str]] = None  # the search space, in Hydra's sweep grammar
    custom_search_space: Optional[str] = None  # released sweeper's (config, trial) -> None hook
    hooks: HooksConf = field(default_factory=HooksConf)
    pbt: Optional[PbtConf] = None  # population-based training (scheduler=pbt); None: independent trials
    # The first trial is the control: the config's own values of the searched keys (what the user gets
    # without sweeping), marked role=control in the study. Not with population-based training.
    control: bool = True
    confirm: ConfirmConf = field(default_factory=ConfirmConf)


@dataclass
class HpoRayConf:
    init: Dict[str, Any] = field(
        default_factory=lambda: {
            "address": None,  # None: start a local Ray; "auto" or host:port: join a cluster
            "num_cpus": None,  # None: Ray counts them
            "include_dashboard": False,
            "log_to_driver": False,  # the jobs' logs are in their job directories
            "logging_level": "ERROR",  # Ray's start-up notices off; INFO shows them
        }
    )
    remote: Dict[str, Any] = field(default_factory=lambda: {"num_cpus": 1, "max_retries": 0})


@dataclass
class HpoRayLauncherConf:
    """The released Ray launcher (``hydra-ray-launcher``), quiet, one CPU per trial, no retries."""

    _target_: str = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
    ray: HpoRayConf = field(default_factory=HpoRayConf)


_PRUNERS = {
    "none": NopPrunerConf,
    "median": MedianPrunerConf,
    "percentile": PercentilePrunerConf,
    "asha": SuccessiveHalvingPrunerConf,
    "hyperband": HyperbandPrunerConf,
}

_store = ConfigStore.instance()
_store.store(group="hydra/sweeper", name="hpo_optuna", node=HpoSweeperConf, provider="hpo_sweeper")
for _name, _node in _PRUNERS.items():
    _store.store(group="hydra/sweeper/pruner", name=_name, node=_node, provider="hpo_sweeper")
_store.store(group="hydra/launcher", name="hpo_ray", node=HpoRayLauncherConf, provider="hpo_sweeper")
