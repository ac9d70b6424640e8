"""The Hydra plugin class: a thin shim over ``_impl.HpoSweeperImpl`` (``hydra/sweeper=hpo_optuna``).

Hydra finds plugins by importing the public modules of ``hydra_plugins.*`` packages at start-up,
so this module imports nothing heavy; the implementation loads when a sweep starts.
"""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from hydra_plugins.hpo_sweeper import config as config  # noqa: F401 - registers the configs


class HpoSweeper(Sweeper):
    """Optuna sweeper with pruning, asynchronous dispatch, resume and heartbeats."""

    def __init__(self, **kwargs: Any) -> None:
        from hydra_plugins.hpo_sweeper._impl import HpoSweeperImpl

        self.sweeper = HpoSweeperImpl(**kwargs)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> None:
        return self.sweeper.sweep(arguments)
