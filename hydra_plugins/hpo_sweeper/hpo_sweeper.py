"""Hydra plugin shim: registers the project's Optuna sweeper and its Ray launcher config.

Hydra only accepts sweeper classes whose module lives under ``hydra_plugins``; the logic is in
``hpo_app.sweeper`` and is imported lazily.
"""


from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_optuna_sweeper.config import OptunaSweeperConf
from hydra_plugins.hydra_ray_launcher._config import RayConf, RayLauncherConf
from omegaconf import DictConfig


@dataclass
class HpoOptunaSweeperConf(OptunaSweeperConf):
    """The released sweeper's keys, plus pruning, resume and asynchronous dispatch."""

    _target_: str = "hydra_plugins.hpo_sweeper.hpo_sweeper.HpoOptunaSweeper"
    defaults: List[Any] = field(default_factory=list)
    sampler: Any = "${oc.select:sampler,null}"  # the `sampler` config group: tpe, random, cmaes, grid, nsgaii
    pruner: Any = "${oc.select:scheduler,null}"  # the `scheduler` config group: none, median, asha, hyperband
    direction: Any = "${oc.select:objective.direction,minimize}"
    objective_metric: Any = "${oc.select:objective.metric,null}"
    storage: Optional[Any] = None  # None: sqlite file optuna.db in the sweep directory
    study_name: Optional[str] = None  # None: the model's name
    n_trials: int = 20
    n_jobs: Optional[int] = None  # None: CPUs available / resources.cpus_per_trial
    max_failure_rate: float = 0.25
    resume: bool = False  # continue the study that storage + study_name already hold
    cpus_per_trial: int = "${oc.select:resources.cpus_per_trial,1}"  # type: ignore[assignment]


@dataclass
class HpoRayConf(RayConf):
    init: Dict[str, Any] = field(
        default_factory=lambda: {
            "address": None,
            "num_cpus": None,
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": "WARNING",
        }
    )
    remote: Dict[str, Any] = field(
        default_factory=lambda: {"num_cpus": "${oc.select:resources.cpus_per_trial,1}", "max_retries": 0}
    )


@dataclass
class HpoRayLauncherConf(RayLauncherConf):
    """The released Ray launcher, quiet and with CPUs per trial from ``resources``."""

    ray: HpoRayConf = field(default_factory=HpoRayConf)


ConfigStore.instance().store(
    group="hydra/sweeper", name="hpo_optuna", node=HpoOptunaSweeperConf, provider="hpo_app"
)
ConfigStore.instance().store(
    group="hydra/launcher", name="hpo_ray", node=HpoRayLauncherConf, provider="hpo_app"
)


class HpoOptunaSweeper(Sweeper):
    """Optuna sweeper with pruning, asynchronous dispatch on Ray, and resume."""

    def __init__(self, **kwargs: Any) -> None:
        from hpo_app.sweeper import HpoSweeperImpl

        self.sweeper = HpoSweeperImpl(**kwargs)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> None:
        return self.sweeper.sweep(arguments)
