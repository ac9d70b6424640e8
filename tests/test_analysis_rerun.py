"""The re-run command of a trial reproduces its configuration (checked with Hydra's compose API)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from analysis.rerun import hydra_value, rerun_for_job

CONF = {
    "config.yaml": "defaults:\n  - _self_\n  - model: ppo\n  - scheduler: none\n  - optional hpo: null\n"
    "seed: 0\ntrain:\n  total_timesteps: 30000\n  eval_every: 5000\n",
    "model/ppo.yaml": "name: ppo\nlearning_rate: 3.0e-4\nactivation: tanh\nnet_arch: [64, 64]\n",
    "scheduler/none.yaml": "_target_: optuna.pruners.NopPruner\n",
    "scheduler/asha.yaml": "_target_: optuna.pruners.SuccessiveHalvingPruner\nreduction_factor: 3\n",
    # A sweep preset sets task keys too: dropping `hpo=quick` alone would train 30000 steps.
    "hpo/quick.yaml": "# @package _global_\ndefaults:\n  - override /scheduler: asha\ntrain:\n  total_timesteps: 6000\n",
}
JOB_OVERRIDES = [
    "model=ppo",
    "hpo=quick",
    "scheduler=asha",
    "model.learning_rate=0.0012",
    "model.activation=relu",
    "seed=3",
]


def _compose(conf: Path, overrides: list[str]) -> dict[str, Any]:
    with initialize_config_dir(config_dir=str(conf)):
        return OmegaConf.to_container(compose("config", overrides=overrides), resolve=False)  # type: ignore[return-value]


@pytest.fixture()
def job(tmp_path: Path) -> tuple[Path, Path]:
    conf = tmp_path / "conf"
    for name, text in CONF.items():
        (conf / name).parent.mkdir(parents=True, exist_ok=True)
        (conf / name).write_text(text)
    job_dir = tmp_path / "multirun" / "2026-11-28" / "10-00-00" / "3"
    (job_dir / ".hydra").mkdir(parents=True)
    (job_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(_compose(conf, JOB_OVERRIDES)))
    (job_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(JOB_OVERRIDES))
    sources = [
        {"path": "hydra.conf", "schema": "pkg", "provider": "hydra"},
        {"path": str(conf), "schema": "file", "provider": "main"},
    ]
    hydra = {"hydra": {"job": {"config_name": "config", "num": 3}, "runtime": {"config_sources": sources}}}
    (job_dir / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    return conf, job_dir


def test_rerun_pins_what_the_sweep_preset_set_and_composes_to_the_job_config(job: tuple[Path, Path]) -> None:
    conf, job_dir = job
    rerun = rerun_for_job(job_dir)
    assert rerun.overrides == [o for o in JOB_OVERRIDES if not o.startswith(("hpo=", "scheduler="))]
    assert rerun.pins == ["train.total_timesteps=6000"]
    assert rerun.verified, rerun.status
    argv = shlex.split(rerun.command)
    assert argv[:3] == ["python", "-m", "hpo_app"]
    rerun_cfg = _compose(conf, argv[3:])
    job_cfg = yaml.safe_load((job_dir / ".hydra" / "config.yaml").read_text())
    rerun_cfg.pop("scheduler"), job_cfg.pop("scheduler")  # the pruner only acts inside a sweep
    assert rerun_cfg == job_cfg


def test_rerun_without_its_config_tree_is_not_verified(job: tuple[Path, Path]) -> None:
    conf, job_dir = job
    for p in sorted(conf.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    conf.rmdir()
    rerun = rerun_for_job(job_dir)
    assert not rerun.verified and "is not here" in rerun.status and rerun.pins == []


@pytest.mark.parametrize(
    "value",
    [None, True, False, 3, -2, 0.001, 1e-05, 2.5e10, "tanh", "a b", "x'y", "1.0", "null", "true", "", "a=b", "c:d",
     [1, 2], ["a", "b c"], {"a": 1, "b": "x"}, "${model.name}"],
)  # fmt: skip
def test_values_are_written_in_hydra_grammar(value: Any) -> None:
    parsed = OverridesParser.create().parse_override(f"key={hydra_value(value)}").value()
    assert parsed == value and type(parsed) is type(value)
