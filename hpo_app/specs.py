"""The typed specs a TrainingEngine is built from (``hpo_app.app`` maps the Hydra config onto
them), and what a run reports: evaluations during training, the result."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo_app import artifacts
from hpo_app.metrics import METRIC_NAMES

DIRECTIONS = ("maximize", "minimize")


class ConfigError(ValueError):
    """A configuration value the engine cannot use; the message is one line naming the key."""


@dataclass(frozen=True)
class DataSpec:
    source: str = "synthetic"
    path: str | None = None
    n_bars: int | None = 3000
    seed: int | None = 0
    edge: float = 0.15  # the planted-edge market's AR(1) coefficient (data=edge)
    vol: float = 0.01  # the planted-edge market's daily volatility (data=edge)
    use_adjusted: bool = True
    train_frac: float = 0.6
    val_frac: float = 0.2


@dataclass(frozen=True)
class EnvSpec:
    window: int = 30
    cost_bps: float = 5.0
    allow_short: bool = True
    episode_length: int | None = 256
    features: str | tuple[str, ...] = "all"  # a feature set's name (features.FEATURE_SETS) or names
    obs_noise: float = 0.0  # std of Gaussian noise on training observations' features
    reward_scale: float = 1.0  # training reward multiplier

    def __post_init__(self) -> None:
        if isinstance(self.features, list):  # from a YAML list
            object.__setattr__(self, "features", tuple(self.features))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    hyperparams: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainSpec:
    total_timesteps: int = 30000
    eval_every: int = 5000
    seed: int = 0
    n_seeds: int = 1
    n_threads: int = 1
    save_model: bool = True
    device: str = "cpu"
    keep: str = "last"  # the policy scored at the end: the last, or the best validation evaluation's
    # A job directory whose model.zip (and replay_buffer.pkl, off-policy) this run continues from:
    # weights, optimizer state and timestep counter (population-based training's intervals).
    init_from: str | None = None
    save_replay_buffer: bool = False  # off-policy models: also save the replay buffer (for init_from)


@dataclass(frozen=True)
class ObjectiveSpec:
    metrics: tuple[str, ...] = ("val/sharpe",)
    directions: tuple[str, ...] = ("maximize",)

    def __post_init__(self) -> None:
        if len(self.metrics) != len(self.directions) or not self.metrics:
            raise ConfigError(
                f"objective: {len(self.metrics)} metric(s) but {len(self.directions)} direction(s)"
            )
        known = {f"{s}/{m}" for s in artifacts.SEGMENTS for m in METRIC_NAMES}
        for metric in self.metrics:
            if metric not in known:
                raise ConfigError(
                    f"objective.metric={metric!r}: unknown (use <segment>/<metric> with a metric "
                    f"of {', '.join(METRIC_NAMES)})"
                )
            if not metric.startswith("val/"):
                raise ConfigError(
                    f"objective.metric={metric!r}: the objective must be a validation metric (val/...)"
                )
        for direction in self.directions:
            if direction not in DIRECTIONS:
                raise ConfigError(f"objective.direction={direction!r}: use maximize or minimize")


@dataclass(frozen=True)
class Evaluation:
    """One deterministic evaluation on validation during training."""

    index: int  # 1, 2, ...: the evaluation's number
    step: int  # the pruner's step: timesteps // eval_every (one run), or the run's number (several)
    timesteps: int
    objective: float  # the first objective metric (several runs: aggregated over those so far)
    metrics: dict[str, float]  # val/<metric>


EvaluationHook = Callable[[Evaluation], None]


@dataclass(frozen=True)
class RunResult:
    state: str
    objective_values: tuple[float, ...]
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    timesteps: int
    seconds: float
    output_dir: Path

    @property
    def objective(self) -> float | list[float]:
        """What the entry point returns: a float, or a list for multi-objective."""
        values = list(self.objective_values)
        return values[0] if len(values) == 1 else values


def objective_spec(metric: str | Sequence[str], direction: str | Sequence[str]) -> ObjectiveSpec:
    """An ObjectiveSpec from ``objective.metric`` / ``objective.direction`` (scalars or lists)."""
    metrics = (metric,) if isinstance(metric, str) else tuple(metric)
    directions = (direction,) if isinstance(direction, str) else tuple(direction)
    return ObjectiveSpec(metrics=metrics, directions=directions)
