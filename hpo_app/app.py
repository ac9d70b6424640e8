"""From a composed Hydra config to a TrainingEngine run: the only place that reads the config
(its nodes become the schema's dataclasses, ``hpo_app.schema``)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from hpo_record import files, job as job_record
from hpo_app import loggers
from hpo_app.checks import unknown_key
from hpo_app.data import DataError
from hpo_app.engine import ConfigError, TrainingDiverged, TrainingEngine, objective_spec
from hpo_app.model_schema import MODEL_SCHEMAS, ModelConf
from hpo_app.models import ModelConfigError
from hpo_app.run_output import OutputError
from hpo_app.schema import AppConf, GROUP_SCHEMAS

log = logging.getLogger(__name__)

USER_ERRORS = (DataError, ConfigError, ModelConfigError, OutputError, TrainingDiverged)
"""Errors caused by the user's input or machine (a disk that refuses a file), and a training that
diverged with the hyperparameters given: reported as one line, without a traceback (the run's
failure record, written before, keeps the details)."""


def _values(node: Any, group: str) -> dict[str, Any]:
    """A config node as plain values (``???`` is a ConfigError naming the key)."""
    if node is None:
        return {}
    missing = [k for k in node if OmegaConf.is_missing(node, k)]
    if missing:
        example = " (e.g. data.path=prices.csv)" if f"{group}.{missing[0]}" == "data.path" else ""
        raise ConfigError(f"{group}.{missing[0]}: required{example}")
    values = OmegaConf.to_container(node, resolve=True)
    assert isinstance(values, dict)
    return values


def _node(group: str, node: Any) -> Any:
    """The schema instance of group ``group`` (``hpo_app.schema``) from its config node."""
    schema = GROUP_SCHEMAS[group]
    values = _values(node, group)
    unknown_key(schema, values, group)
    return schema(**values)


def _model(node: Any) -> ModelConf:
    values = _values(node, "model")
    name = values.get("name")
    if name not in MODEL_SCHEMAS:
        shown = "missing" if not name else f"{name!r}: unknown algorithm"
        raise ConfigError(f"model.name={shown} (choose model=ppo, model=dqn or model=a2c)")
    unknown_key(MODEL_SCHEMAS[name], values, "model")
    return MODEL_SCHEMAS[name](**values)


def _plain(value: Any) -> Any:
    """A config value as plain Python (a list for a ListConfig)."""
    return OmegaConf.to_object(value) if OmegaConf.is_config(value) else value


def engine_from_config(cfg: DictConfig, output_dir: Path) -> TrainingEngine:
    """The engine of the composed config (checked by the engine: a bad key or value is a ConfigError)."""
    unknown_key(AppConf, {k: None for k in cfg if k != "hydra"}, "")  # a key added with +name=... reaches nothing
    data = _node("data", cfg.data)
    if data.source == "csv" and data.path:
        data.path = to_absolute_path(str(data.path))
    return TrainingEngine(
        data=data,
        env=_node("env", cfg.env),
        model=_model(cfg.model),
        train=_node("train", cfg.train),
        validation=_node("validation", cfg.get("validation")),
        resources=_node("resources", cfg.get("resources")),
        seed=_plain(cfg.seed),
        objective=objective_spec(_plain(cfg.objective.metric), _plain(cfg.objective.direction)),
        output_dir=output_dir,
    )


def run(cfg: DictConfig, output_dir: Path) -> float | list[float]:
    """Train and evaluate one agent as ``cfg`` says; return the validation objective."""
    try:
        engine = engine_from_config(cfg, output_dir)  # config errors first, before slow imports
    except Exception as err:
        _write_error(cfg, output_dir, err)
        raise
    from hpo_app import trial_link  # imports optuna: only needed here

    try:
        link = trial_link.from_sweep(engine.metric)
    except Exception as err:  # noqa: BLE001 - e.g. the study's database is unreachable
        engine.write_failure(err)
        raise
    if link is not None:
        engine.on_evaluation = link
        engine.trial_info = link.info
    engine.loggers = loggers.build(cfg.get("logger"), _run_info(cfg, output_dir, engine.trial_info))
    return engine.run().objective


def _run_info(cfg: DictConfig, output_dir: Path, trial: dict[str, Any] | None) -> loggers.RunInfo:
    """What the loggers are told of the run: its directory, a name, its config flattened."""
    values = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(values, dict)
    params: dict[str, Any] = {}
    for group, node in values.items():
        if group in ("logger", "hydra"):
            continue
        if isinstance(node, dict):
            params.update({f"{group}.{k}": v for k, v in node.items()})
        else:
            params[str(group)] = node
    name = f"{cfg.model.name} trial {trial['number']} (job {output_dir.name})" if trial else str(output_dir.name)
    return loggers.RunInfo(output_dir, name, params, trial, output_dir.parent if trial else None)


def _write_error(cfg: DictConfig, output_dir: Path, err: BaseException) -> None:
    """A run that fails before its engine exists still leaves its error and a failed job record in
    its directory."""
    import traceback

    if str(output_dir) == os.devnull:
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / files.ERROR_FILE).write_text("".join(traceback.format_exception(err)))
    job_record.write(output_dir, job_record.failed(job_record.one_line(err), model=OmegaConf.select(cfg, "model.name"),
                                           seed=OmegaConf.select(cfg, "seed")))
