"""What a run reports (evaluations during training, the result), its objective, and the error a bad
config value raises. The settings a TrainingEngine is built from are the schema's dataclasses
(``hpo_app.schema``, ``hpo_app.model_schema``): their defaults are written there only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hpo_record import files
from hpo_app.metrics import METRIC_NAMES

DIRECTIONS = ("maximize", "minimize")


class ConfigError(ValueError):
    """A configuration value the engine cannot use; the message is one line naming the key."""


@dataclass(frozen=True)
class ObjectiveSpec:
    metrics: tuple[str, ...] = ("val/sharpe",)
    directions: tuple[str, ...] = ("maximize",)

    def __post_init__(self) -> None:
        if len(self.metrics) != len(self.directions) or not self.metrics:
            raise ConfigError(
                f"objective: {len(self.metrics)} metric(s) but {len(self.directions)} direction(s)"
            )
        known = {f"{s}/{m}" for s in files.SEGMENTS for m in METRIC_NAMES}
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
