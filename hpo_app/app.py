"""From a composed Hydra config to a TrainingEngine run: the only place that reads the config."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any, TypeVar

from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from hpo_app import artifacts, checks
from hpo_app.data import DataError
from hpo_app.engine import (
    ConfigError,
    DataSpec,
    EnvSpec,
    ModelSpec,
    TrainingEngine,
    TrainSpec,
    objective_spec,
)
from hpo_app.models import ModelConfigError
from hpo_app.validation import ValidationError, ValidationSpec

log = logging.getLogger(__name__)

USER_ERRORS = (DataError, ConfigError, ModelConfigError, ValidationError)
"""Errors caused by the user's input: reported as one line, without a traceback."""

T = TypeVar("T")


def _spec(cls: type[T], node: Any, group: str, **extra: Any) -> T:
    missing = [k for k in node if OmegaConf.is_missing(node, k)] if node is not None else []
    if missing:
        example = " (e.g. data.path=prices.csv)" if f"{group}.{missing[0]}" == "data.path" else ""
        raise ConfigError(f"{group}.{missing[0]}: required{example}")
    values = OmegaConf.to_container(node, resolve=True) if node is not None else {}
    assert isinstance(values, dict)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{group}.{unknown[0]}: unknown key (known: {', '.join(sorted(names))})")
    return cls(**values, **extra)


def _plain(value: Any) -> Any:
    """A config value as plain Python (a list for a ListConfig)."""
    return OmegaConf.to_object(value) if OmegaConf.is_config(value) else value


def _settings(cfg: DictConfig) -> dict[str, Any]:
    """The values ``hpo_app.checks`` checks, by dotted key."""
    values: dict[str, Any] = {"seed": _plain(cfg.get("seed"))}
    for group in ("train", "resources", "env", "data"):
        node = cfg.get(group)
        if node is not None:
            values.update({f"{group}.{k}": v for k, v in OmegaConf.to_container(node, resolve=True).items()})  # type: ignore[union-attr]
    return values


def engine_from_config(cfg: DictConfig, output_dir: Path) -> TrainingEngine:
    """Map the composed config onto the engine's typed specs; a bad key or value is a ConfigError."""
    checks.check_settings(_settings(cfg))
    data = _spec(DataSpec, cfg.data, "data")
    if data.source == "csv":
        if not data.path:  # a missing (???) path was already refused by _spec
            raise ConfigError("data.path: required with data=csv (data.path=prices.csv)")
        data = dataclasses.replace(data, path=to_absolute_path(str(data.path)))
    model_values = OmegaConf.to_container(cfg.model, resolve=True)
    assert isinstance(model_values, dict)
    name = model_values.pop("name", None)
    if not name:
        raise ConfigError("model.name: missing (choose model=ppo, model=dqn or model=a2c)")
    checks.check_model(str(name), model_values)
    train_values = OmegaConf.to_container(cfg.train, resolve=True)
    assert isinstance(train_values, dict)
    train = _spec(
        TrainSpec,
        OmegaConf.create(train_values),
        "train",
        seed=int(cfg.seed),
        n_threads=int(cfg.resources.cpus_per_trial),
    )
    return TrainingEngine(
        data=data,
        env=_spec(EnvSpec, cfg.env, "env"),
        model=ModelSpec(name=str(name), hyperparams=model_values),
        train=train,
        objective=objective_spec(_plain(cfg.objective.metric), _plain(cfg.objective.direction)),
        output_dir=output_dir,
        validation=_spec(ValidationSpec, cfg.get("validation"), "validation"),
    )


def run(cfg: DictConfig, output_dir: Path) -> float | list[float]:
    """Train and evaluate one agent as ``cfg`` says; return the validation objective."""
    try:
        engine = engine_from_config(cfg, output_dir)  # config errors first, before slow imports
    except Exception as err:
        _write_error(output_dir, err)
        raise
    from hpo_app import trial_link  # imports optuna: only needed here

    try:
        link = trial_link.from_sweep()
    except Exception as err:  # noqa: BLE001 - e.g. the study's database is unreachable
        engine.write_failure(err)
        raise
    if link is not None:
        engine.on_evaluation = link
        engine.trial_info = link.info
    return engine.run().objective


def _write_error(output_dir: Path, err: BaseException) -> None:
    """A run that fails before its engine exists still leaves its error in its directory."""
    import traceback

    if str(output_dir) == os.devnull:
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / artifacts.ERROR_FILE).write_text("".join(traceback.format_exception(err)))
