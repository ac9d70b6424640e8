"""One definition per config key (hpo_app/schema.py, hpo_app/model_schema.py): the YAML files choose
options and override values and never restate a default; the engine sees every value a file sets;
an engine built from Python gets the command line's defaults; docs/configuration.md is the schema's."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from hpo_app.app import engine_from_config
from hpo_app.engine import TrainingEngine, objective_spec
from hpo_app.keys_doc import markdown
from hpo_app.model_schema import MODEL_SCHEMAS
from hpo_app.schema import DataConf, EnvConf
from tests.conftest import CONF_DIR, REPO_ROOT, SPY_SAMPLE, compose_config

NEEDS = {"data/csv.yaml": [f"data.path={SPY_SAMPLE}"]}


def _header(text: str) -> list[str]:
    """The leading comment lines (the ``# @package`` line among them)."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def _package(path: Path) -> str | None:
    """Where a file's keys land in the config ('' for the root); None for the search spaces."""
    for line in _header(path.read_text()):
        if line.startswith("# @package"):
            package = line.split()[-1]
            return None if package == "hydra.sweeper.params" else "" if package == "_global_" else package
    relative = path.relative_to(CONF_DIR)
    return "" if relative.parent == Path(".") else ".".join(relative.parent.parts)


def _leaves(node: Any, prefix: str) -> list[tuple[str, Any]]:
    if isinstance(node, dict) and node:
        return [leaf for k, v in node.items() if k != "defaults"
                for leaf in _leaves(v, f"{prefix}.{k}" if prefix else str(k))]
    return [] if isinstance(node, dict) else [(prefix, node)]


def _overrides(path: Path) -> list[str]:
    """The command line that uses the option ``path`` is."""
    relative = path.relative_to(CONF_DIR)
    if relative.parent == Path("."):
        return []
    if relative.parts[:2] == ("env", "model"):
        return [f"model={relative.stem}"]
    if relative.parts[0] == "hydra":
        return []  # the launcher: the config's default
    return [f"{'/'.join(relative.parent.parts)}={relative.stem}", *NEEDS.get(str(relative), [])]


def _files() -> list[Path]:
    return sorted(p for p in CONF_DIR.glob("**/*.yaml") if _package(p) is not None)


def _compose(conf: Path, overrides: list[str]) -> Any:
    with initialize_config_dir(config_dir=str(conf)):
        return compose("config", overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(CONF_DIR)))
def test_no_config_file_restates_a_default(path: Path, tmp_path: Path) -> None:
    """Each value a file sets makes a difference: without it, the composed config would differ."""
    package = _package(path)
    values = yaml.safe_load(path.read_text()) or {}
    overrides = _overrides(path)
    shipped = _compose(CONF_DIR, overrides)
    for key, value in _leaves(values, ""):
        full = f"{package}.{key}" if package else key
        if (isinstance(value, str) and "${" in value) or any(o.startswith(f"{full}=") for o in overrides):
            continue  # a link to another key, not a value; or a value the test itself sets
        trimmed = yaml.safe_load(path.read_text())
        node = trimmed
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        del node[last]
        conf = tmp_path / full
        shutil.copytree(CONF_DIR, conf)
        copy = conf / path.relative_to(CONF_DIR)
        copy.write_text("\n".join(_header(path.read_text())) + "\n" + yaml.safe_dump(trimmed, sort_keys=False))
        without = _compose(conf, overrides)
        assert OmegaConf.select(without, full, default="<absent>") != OmegaConf.select(shipped, full), (
            f"{path.relative_to(REPO_ROOT)}: {key} restates the value it has without the file "
            f"({OmegaConf.select(shipped, full)}): write each default once, in the schema or config.yaml")


ENGINE_VIEW = {"data": "data_spec", "env": "env_spec", "train": "train_spec", "model": "model_spec",
               "validation": "validation", "resources": "resources"}


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(CONF_DIR)))
def test_the_engine_sees_every_value_a_file_sets(path: Path, tmp_path: Path) -> None:
    package = _package(path)
    cfg = compose_config(_overrides(path), return_hydra_config=True)
    engine = engine_from_config(cfg, tmp_path)
    for key, _ in _leaves(yaml.safe_load(path.read_text()) or {}, ""):
        full = f"{package}.{key}" if package else key
        group, _, name = full.partition(".")
        if group not in ENGINE_VIEW:
            continue  # hydra.* and the objective: the sweeper's, and ObjectiveSpec (below)
        expected = OmegaConf.select(cfg, full)
        seen = getattr(getattr(engine, ENGINE_VIEW[group]), name)
        if group == "data" and name == "path":
            assert Path(seen) == Path(expected).absolute()
        else:
            assert seen == expected, f"{path.relative_to(REPO_ROOT)}: {full}"
    assert engine.objective_spec == objective_spec(OmegaConf.to_object(cfg.objective.metric)
                                                   if OmegaConf.is_config(cfg.objective.metric)
                                                   else cfg.objective.metric,
                                                   OmegaConf.to_object(cfg.objective.direction)
                                                   if OmegaConf.is_config(cfg.objective.direction)
                                                   else cfg.objective.direction)


@pytest.mark.parametrize("model", sorted(MODEL_SCHEMAS))
def test_an_engine_built_from_python_gets_the_command_lines_defaults(model: str, tmp_path: Path) -> None:
    cli = engine_from_config(compose_config([f"model={model}"]), tmp_path)
    # A model's own env settings (conf/env/model/<model>.yaml: its env.n_envs, DQN's reward scale)
    # are an option file's: from Python they are given as the file gives them.
    own = yaml.safe_load((CONF_DIR / "env" / "model" / f"{model}.yaml").read_text())
    python = TrainingEngine(data=DataConf(source="edge"), model=MODEL_SCHEMAS[model](), env=EnvConf(**own),
                            objective=objective_spec("val/sharpe", "maximize"), output_dir=tmp_path, seed=0)
    assert python.data_spec == cli.data_spec and python.model_spec == cli.model_spec
    assert python.train_spec == cli.train_spec and python.validation == cli.validation
    assert python.resources == cli.resources and python.seed == cli.seed
    assert python.env_spec == cli.env_spec


def test_the_configuration_reference_is_the_schemas() -> None:
    page = (REPO_ROOT / "docs" / "configuration.md").read_text()
    assert page == markdown(), "docs/configuration.md is stale: python -m hpo_app.keys_doc > docs/configuration.md"
