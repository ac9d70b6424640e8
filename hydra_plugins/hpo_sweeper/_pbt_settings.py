"""Population-based training's settings (``hydra.sweeper.pbt``, :class:`PbtSettings`), checked
when they are made, each refusal one line naming the key. :mod:`hydra_plugins.hpo_sweeper._pbt`
decides with them; :mod:`hydra_plugins.hpo_sweeper._pbt_record` summarizes a sweep with them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class PbtError(ValueError):
    """PBT settings that cannot work; the message is one line naming the key."""


@dataclass(frozen=True)
class PbtSettings:
    population_size: int
    interval: int  # steps per interval (perturbation_interval)
    total: int  # steps a member trains in all (the budget key's value)
    quantile_fraction: float = 0.25
    resample_probability: float = 0.25
    factors: tuple[float, ...] = (0.8, 1.2)
    mutable: tuple[str, ...] = ()
    budget_key: str = "train.total_timesteps"
    checkpoint_key: str = "train.init_from"
    seed: int | None = None
    seed_key: str | None = None  # the task's seed: member i's jobs get the config's value + i
    base_seed: int = 0
    rank_fraction: float | None = None  # exploits rank on this first share of validation; the rest decides (None: off)
    level: float = 0.05  # the recommendation's test level (hydra.sweeper.confirm.level)

    def __post_init__(self) -> None:
        key = "hydra.sweeper.pbt."
        if self.population_size < 2 and self.population_size != 0:  # 0: sized by the runner
            raise PbtError(f"{key}population_size={self.population_size}: needs at least 2 members")
        if self.interval < 1:
            raise PbtError(f"{key}perturbation_interval={self.interval}: must be at least 1 step")
        if self.total < 1:
            raise PbtError(f"{self.budget_key}={self.total}: the budget of each member must be at least 1 step")
        if not 0 < self.quantile_fraction <= 0.5:
            raise PbtError(f"{key}quantile_fraction={self.quantile_fraction}: must be above 0 and at most 0.5")
        if not 0 <= self.resample_probability <= 1:
            raise PbtError(f"{key}resample_probability={self.resample_probability}: must be between 0 and 1")
        if not self.factors or any(not f > 0 for f in self.factors):
            raise PbtError(f"{key}perturbation_factors={list(self.factors)}: positive numbers (e.g. [0.8, 1.2])")
        if self.rank_fraction is not None and not 0 < self.rank_fraction < 1:
            raise PbtError(f"{key}rank_fraction={self.rank_fraction}: must be between 0 and 1 (null: rank on the "
                           "objective, no held-out decision)")
        if not (0.0 < self.level < 1.0 and math.isfinite(self.level)):
            raise PbtError(f"hydra.sweeper.confirm.level={self.level}: must be a probability between 0 and 1")

    @property
    def n_intervals(self) -> int:
        return math.ceil(self.total / self.interval)


def settings(conf: Mapping[str, Any], config: Any, *, directions: Sequence[str], pruner: Any,
             searched: Sequence[str] | None = None, level: float) -> PbtSettings:
    """The PBT settings of ``hydra.sweeper.pbt`` for the sweep's (representative) ``config``; the
    population size is left at 0 when the conf says null (the runner sizes it to its slots).
    ``searched``: the search space's keys; none of them mutable is refused (a misspelt ``mutable``
    would otherwise leave a population that never explores). ``level``: the recommendation's test
    level (``hydra.sweeper.confirm.level``)."""
    from omegaconf import OmegaConf
    from optuna.pruners import NopPruner

    if len(directions) > 1:
        raise PbtError(f"hydra.sweeper.pbt with {len(directions)} objectives: population-based training ranks "
                       "members by one score (use a single objective)")
    if not isinstance(pruner, NopPruner):
        raise PbtError(f"hydra.sweeper.pbt with pruner {type(pruner).__name__}: PBT decides itself which members "
                       "go on (use scheduler=pbt, which sets no pruner)")
    budget_key, checkpoint_key = str(conf["budget_key"]), str(conf["checkpoint_key"])
    missing = object()
    total = OmegaConf.select(config, budget_key, default=missing)
    if total is missing or isinstance(total, bool) or not isinstance(total, int):
        raise PbtError(f"hydra.sweeper.pbt.budget_key={budget_key}: the config needs an integer there "
                       f"(the steps each member trains), found {'nothing' if total is missing else repr(total)}")
    if OmegaConf.select(config, checkpoint_key, default=missing) is missing:
        raise PbtError(f"hydra.sweeper.pbt.checkpoint_key={checkpoint_key}: the config has no such key "
                       "(where a job is told which job directory to continue)")
    seed_key = conf.get("seed_key")
    base_seed = OmegaConf.select(config, str(seed_key), default=missing) if seed_key else 0
    if base_seed is missing or isinstance(base_seed, bool) or not isinstance(base_seed, int):
        raise PbtError(f"hydra.sweeper.pbt.seed_key={seed_key}: the config needs an integer there (the run's seed; "
                       f"null: the same seed for every member), found {'nothing' if base_seed is missing else repr(base_seed)}")
    mutable = [str(k) for k in conf["mutable"]]
    if searched is not None and not set(mutable) & set(searched):
        raise PbtError(f"hydra.sweeper.pbt.mutable={mutable}: none of them is searched ({', '.join(searched) or 'nothing is'}), "
                       "so no member would ever explore")
    size = conf.get("population_size")
    if size is not None and int(size) < 2:
        raise PbtError(f"hydra.sweeper.pbt.population_size={size}: needs at least 2 members (or null: twice the "
                       "trials in parallel)")
    return PbtSettings(
        population_size=int(size) if size is not None else 0, interval=int(conf["perturbation_interval"]),
        total=int(total), quantile_fraction=float(conf["quantile_fraction"]),
        resample_probability=float(conf["resample_probability"]),
        factors=tuple(float(f) for f in conf["perturbation_factors"]), mutable=tuple(mutable),
        budget_key=budget_key, checkpoint_key=checkpoint_key,
        seed=None if conf.get("seed") is None else int(conf["seed"]),
        seed_key=str(seed_key) if seed_key else None, base_seed=int(base_seed),
        rank_fraction=None if conf.get("rank_fraction") is None else float(conf["rank_fraction"]), level=float(level))
