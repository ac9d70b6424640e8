"""Synthetic sweep directories that follow :mod:`hpo_app.artifacts` exactly.

Used by the tests and the benchmark of the report while no real sweep exists yet, and handy to
try the report without training anything::

    python -m analysis.synthetic /tmp/multirun/2026-11-28        # ppo, dqn, a2c sweeps

The numbers are made to behave like real sweeps: each trial's "true" skill is a smooth function
of its hyperparameters (learning rate and gamma matter, most others do not), plus luck that does
not carry over from validation to test (so the best validation trial overfits a little). Positions
are drawn from that skill on a synthetic price series and every metric is computed from the
resulting net returns with :func:`hpo_app.metrics.compute_metrics`, so ``metrics.json``,
``eval_curve.csv`` and ``equity.csv`` agree with each other like the TrainingEngine's files.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hpo_app.artifacts import (
    EQUITY_FILE,
    ERROR_FILE,
    EVAL_CURVE_FILE,
    HYDRA_DIR,
    METRICS_FILE,
    MODEL_FILE,
    MULTIRUN_FILE,
    RESULTS_FILE,
    SCHEMA_VERSION,
    STATE_COMPLETE,
    STATE_FAILED,
    STATE_PRUNED,
    STUDY_DB_FILE,
)
from hpo_app.metrics import METRIC_NAMES, compute_metrics

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# Search spaces in the contract's ``search_space`` format (mirroring conf/search_space/*.yaml).
_GAMMAS = [0.9, 0.95, 0.98, 0.99, 0.995, 0.999]
_LAMBDAS = [0.8, 0.9, 0.92, 0.95, 0.98, 1.0]
SEARCH_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "ppo": {
        "model.learning_rate": {"type": "float", "low": 1.0e-5, "high": 3.0e-3, "log": True},
        "model.n_steps": {"type": "categorical", "choices": [128, 256, 512, 1024]},
        "model.batch_size": {"type": "categorical", "choices": [32, 64, 128]},
        "model.n_epochs": {"type": "int", "low": 3, "high": 20, "log": False, "step": 1},
        "model.gamma": {"type": "categorical", "choices": _GAMMAS},
        "model.gae_lambda": {"type": "categorical", "choices": _LAMBDAS},
        "model.clip_range": {"type": "categorical", "choices": [0.1, 0.2, 0.3]},
        "model.ent_coef": {"type": "float", "low": 1.0e-6, "high": 0.05, "log": True},
        "model.net_width": {"type": "categorical", "choices": [32, 64, 128]},
        "model.net_depth": {"type": "categorical", "choices": [1, 2, 3]},
        "model.activation": {"type": "categorical", "choices": ["tanh", "relu"]},
    },
    "dqn": {
        "model.learning_rate": {"type": "float", "low": 1.0e-5, "high": 3.0e-3, "log": True},
        "model.batch_size": {"type": "categorical", "choices": [32, 64, 128, 256]},
        "model.buffer_size": {"type": "categorical", "choices": [10000, 50000, 100000]},
        "model.learning_starts": {"type": "categorical", "choices": [0, 500, 1000, 2000]},
        "model.gamma": {"type": "categorical", "choices": _GAMMAS},
        "model.train_freq": {"type": "categorical", "choices": [1, 4, 8, 16]},
        "model.target_update_interval": {"type": "categorical", "choices": [250, 1000, 2500, 5000]},
        "model.exploration_fraction": {"type": "float", "low": 0.05, "high": 0.5, "log": False},
        "model.exploration_final_eps": {"type": "float", "low": 0.01, "high": 0.2, "log": False},
        "model.net_width": {"type": "categorical", "choices": [32, 64, 128]},
        "model.net_depth": {"type": "categorical", "choices": [1, 2, 3]},
    },
    "a2c": {
        "model.learning_rate": {"type": "float", "low": 1.0e-5, "high": 3.0e-3, "log": True},
        "model.n_steps": {"type": "categorical", "choices": [8, 16, 32, 64, 128]},
        "model.gamma": {"type": "float", "low": 0.9, "high": 0.9999, "log": True},
        "model.gae_lambda": {"type": "categorical", "choices": _LAMBDAS},
        "model.ent_coef": {"type": "float", "low": 1.0e-6, "high": 0.05, "log": True},
        "model.vf_coef": {"type": "float", "low": 0.2, "high": 1.0, "log": False},
        "model.max_grad_norm": {"type": "categorical", "choices": [0.3, 0.5, 1.0, 2.0, 5.0]},
        "model.normalize_advantage": {"type": "categorical", "choices": [False, True]},
        "model.net_width": {"type": "categorical", "choices": [32, 64, 128]},
        "model.net_depth": {"type": "categorical", "choices": [1, 2, 3]},
        "model.activation": {"type": "categorical", "choices": ["tanh", "relu"]},
    },
}
# Parameters given on the command line (``'model.gamma=tag(log, interval(0.9, 0.9999))'``) rather
# than in the search_space config group: they land in multirun.yaml hydra.overrides.task.
CLI_SWEEPS: dict[str, tuple[str, ...]] = {"a2c": ("model.gamma",)}
_BEST_LR = {"ppo": 3e-4, "dqn": 1e-4, "a2c": 7e-4}
_BASE_SKILL = {"ppo": 0.13, "dqn": 0.08, "a2c": 0.10}


@dataclass(frozen=True)
class SweepSpec:
    """What one synthetic sweep looks like."""

    model: str = "ppo"
    n_trials: int = 20
    time: str = "10-00-00"
    seed: int = 0
    data_seed: int = 0  # the price series; sweeps of one day share it (same data, same buy-and-hold)
    preset: str = "quick_test"
    objective_metrics: tuple[str, ...] = ("val/sharpe",)
    directions: tuple[str, ...] = ("maximize",)
    scheduler: str = "median"
    pruned_frac: float = 0.15
    n_failed: int = 1
    n_running: int = 0
    eval_points: int = 6
    eval_every: int = 5000
    n_bars: int = 1500  # whole price series: 60 % train, 20 % validation, 20 % test
    equity: str = "all"  # "all" jobs with metrics, only "complete" ones, or "none"
    trial_offset: int = 0  # trial.number = job_num + offset (as after a resumed sweep)
    write_results: bool = True
    write_db: bool = False
    extra_overrides: tuple[str, ...] = field(default_factory=tuple)


def sweep_spec_objective(spec: SweepSpec) -> str:
    return "sharpe_drawdown" if len(spec.objective_metrics) > 1 else spec.objective_metrics[0].split("/")[1]


# --------------------------------------------------------------------------- helpers


def _dump_yaml(obj: Any, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        yaml.dump(obj, f, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def _sweep_grammar(spec: Mapping[str, Any]) -> str:
    if spec["type"] == "categorical":
        return "choice(" + ", ".join(_fmt(c) for c in spec["choices"]) + ")"
    if spec["type"] == "int":
        return f"range({spec['low']}, {spec['high']})"
    inner = f"interval({spec['low']!r}, {spec['high']!r})"
    return f"tag(log, {inner})" if spec.get("log") else inner


def _fmt(value: Any) -> str:
    """A value as Hydra's sweeper writes it into an override (``str()``, booleans lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _sample(space: Mapping[str, Mapping[str, Any]], rng: np.random.Generator) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, s in space.items():
        if s["type"] == "categorical":
            params[name] = s["choices"][int(rng.integers(len(s["choices"])))]
        elif s["type"] == "int":
            params[name] = int(rng.integers(int(s["low"]), int(s["high"]) + 1))
        elif s.get("log"):
            params[name] = float(math.exp(rng.uniform(math.log(s["low"]), math.log(s["high"]))))
        else:
            params[name] = float(rng.uniform(s["low"], s["high"]))
    return params


def _true_skill(model: str, p: Mapping[str, Any]) -> float:
    """The made-up response surface: how much edge a configuration has."""
    skill = _BASE_SKILL.get(model, 0.1)
    skill -= 0.06 * (math.log10(p["model.learning_rate"]) - math.log10(_BEST_LR.get(model, 3e-4))) ** 2
    skill -= 0.04 * (math.log10(1.0 - p["model.gamma"]) + 2.0) ** 2
    skill += 0.015 * math.log2(p.get("model.net_width", 64) / 32)
    if "model.ent_coef" in p:
        skill -= 0.01 * ((math.log10(p["model.ent_coef"]) + 3.0) / 2.0) ** 2
    return skill


@dataclass
class _Market:
    """One price series shared by every trial of a sweep (the same data, as in a real sweep)."""

    returns: dict[str, np.ndarray]  # segment -> per-period market returns (n_bars - 1)
    z: dict[str, np.ndarray]  # standardised returns, the signal the agent may find
    dates: dict[str, np.ndarray]  # segment -> bar dates as strings (n_bars)


def _market(n_bars: int, rng: np.random.Generator) -> _Market:
    regime_len = 60
    n_regimes = n_bars // regime_len + 1
    mus = rng.normal(0.0003, 0.0008, n_regimes)
    sigmas = rng.uniform(0.007, 0.02, n_regimes)
    idx = np.arange(n_bars) // regime_len
    r = rng.normal(mus[idx], sigmas[idx])
    days = np.busday_offset(np.datetime64("2010-01-04"), np.arange(n_bars), roll="forward")
    dates = np.datetime_as_string(days, unit="D")
    n_train, n_val = int(n_bars * 0.6), int(n_bars * 0.2)
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, n_bars)}
    out = _Market({}, {}, {})
    for seg, (a, b) in bounds.items():
        out.returns[seg] = r[a + 1 : b]
        out.z[seg] = r[a + 1 : b] / sigmas[idx[a + 1 : b]]
        out.dates[seg] = dates[a:b]
    return out


def _trade(
    market: _Market, seg: str, skill: float, noise: np.ndarray, cost: float = 5e-4
) -> tuple[np.ndarray, np.ndarray]:
    """Positions in {-1, 0, 1} that lean on the next return with ``skill``, and net returns."""
    signal = skill * market.z[seg] + noise
    pos = np.where(np.abs(signal) > 0.4, np.sign(signal), 0.0)
    turnover = np.abs(np.diff(pos, prepend=0.0))
    return pos, pos * market.returns[seg] - cost * turnover


def _segment_metrics(market: _Market, seg: str, skill: float, noise: np.ndarray) -> dict[str, float]:
    pos, net = _trade(market, seg, skill, noise)
    return compute_metrics(net, pos, 252.0)


def _baselines(market: _Market) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {"buy_and_hold": {}, "flat": {}}
    for seg in ("train", "val", "test"):
        r = market.returns[seg]
        ones = np.ones_like(r)
        bh = compute_metrics(r - 5e-4 * np.abs(np.diff(ones, prepend=0.0)), ones, 252.0)
        flat = compute_metrics(np.zeros_like(r), np.zeros_like(r), 252.0)
        for m in METRIC_NAMES:
            out["buy_and_hold"][f"{seg}/{m}"] = bh[m]
            out["flat"][f"{seg}/{m}"] = flat[m]
    return out


def _equity_csv(market: _Market, skills: Mapping[str, float], noises: Mapping[str, np.ndarray]) -> str:
    lines = ["segment,timestamp,position,agent,buy_and_hold,flat"]
    for seg in ("train", "val", "test"):
        pos, net = _trade(market, seg, skills[seg], noises[seg])
        agent = np.concatenate(([1.0], np.cumprod(np.maximum(1.0 + net, 0.0))))
        bh_r = market.returns[seg].copy()
        bh_r[0] -= 5e-4
        bh = np.concatenate(([1.0], np.cumprod(1.0 + bh_r)))
        # As the TrainingEngine writes it: bars start..end, the position held after each bar
        # (none after the last one), equity 1.0 at the first bar.
        positions = [str(int(p)) for p in pos] + [""]
        dates = market.dates[seg]
        lines.extend(f"{seg},{d},{p},{a:.6f},{b:.6f},1.0" for d, p, a, b in zip(dates, positions, agent, bh))
    return "\n".join(lines) + "\n"


def _config(spec: SweepSpec, params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The composed task config (what .hydra/config.yaml holds), with the trial's values applied."""
    model: dict[str, Any] = {"name": spec.model}
    for k, v in params.items():
        model[k.split(".", 1)[1]] = v
    objective: dict[str, Any] = {
        "metric": list(spec.objective_metrics)
        if len(spec.objective_metrics) > 1
        else spec.objective_metrics[0],
        "direction": list(spec.directions) if len(spec.directions) > 1 else spec.directions[0],
    }
    return {
        "seed": seed,
        "train": {
            "total_timesteps": spec.eval_points * spec.eval_every,
            "eval_every": spec.eval_every,
            "save_model": True,
            "device": "cpu",
        },
        "resources": {"cpus_per_trial": 1},
        "data": {
            "source": "synthetic",
            "path": None,
            "n_bars": spec.n_bars,
            "seed": 0,
            "use_adjusted": True,
            "train_frac": 0.6,
            "val_frac": 0.2,
        },
        "env": {"window": 30, "cost_bps": 5.0, "allow_short": True, "episode_length": 256},
        "model": model,
        "objective": objective,
        "scheduler": {"_target_": "optuna.pruners.MedianPruner"}
        if spec.scheduler == "median"
        else {"_target_": "optuna.pruners.NopPruner"},
    }


def _hydra_node(
    spec: SweepSpec, sweep_dir: Path, task_overrides: list[str], job_num: int | None
) -> dict[str, Any]:
    space = SEARCH_SPACES[spec.model]
    params = {k: _sweep_grammar(v) for k, v in space.items() if k not in CLI_SWEEPS.get(spec.model, ())}
    return {
        "run": {"dir": "outputs/${now:%Y-%m-%d}/${now:%H-%M-%S}"},
        "sweep": {"dir": str(sweep_dir), "subdir": "${hydra.job.num}"},
        "sweeper": {
            "_target_": "hydra_plugins.hpo_sweeper.HpoOptunaSweeper",
            "direction": list(spec.directions),
            "study_name": f"{spec.model}_{spec.preset}",
            "storage": f"sqlite:///{sweep_dir / STUDY_DB_FILE}",
            "n_trials": spec.n_trials,
            "n_jobs": 2,
            "params": params,
        },
        "launcher": {"_target_": "hydra_plugins.hpo_launcher.HpoRayLauncher"},
        "mode": "MULTIRUN",
        "overrides": {"hydra": ["hydra.mode=MULTIRUN"], "task": task_overrides},
        "job": {
            "name": "__main__",
            "chdir": False,
            "override_dirname": ",".join(task_overrides),
            "num": "???" if job_num is None else job_num,
            "config_name": "config",
        },
        "runtime": {
            "version": "1.3.8",
            "version_base": "1.3",
            "cwd": str(sweep_dir.parent.parent.parent),
            "config_sources": [
                {"path": "hydra.conf", "schema": "pkg", "provider": "hydra"},
                # Where the project's conf/ was when the sweep ran (absent here: no compose check).
                {"path": str(sweep_dir.parent.parent.parent / "conf"), "schema": "file", "provider": "main"},
                {"path": "", "schema": "structured", "provider": "schema"},
            ],
            "output_dir": "???" if job_num is None else str(sweep_dir / str(job_num)),
        },
        "verbose": False,
    }


_TRACEBACK = """Traceback (most recent call last):
  File "hpo_app/engine.py", line 211, in train
    model.learn(total_timesteps=budget, callback=callback)
  File "stable_baselines3/common/on_policy_algorithm.py", line 337, in learn
    self.train()
ValueError: NaN in the policy loss at step {step}: the trial diverged
"""


# --------------------------------------------------------------------------- the writer


def write_sweep(sweep_dir: str | os.PathLike[str], spec: SweepSpec = SweepSpec()) -> Path:
    """Write one synthetic sweep directory (``multirun/<date>/<time>``) and return its path."""
    sweep_dir = Path(sweep_dir).resolve()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    space = SEARCH_SPACES[spec.model]
    market = _market(spec.n_bars, np.random.default_rng(spec.data_seed + 1000))
    baselines = _baselines(market)
    crng = np.random.default_rng(spec.seed + 2000)
    common = {seg: crng.normal(0.0, 1.0, len(market.returns[seg])) for seg in ("train", "val", "test")}
    cli = [f"model={spec.model}", f"hpo={spec.preset}", f"scheduler={spec.scheduler}"]
    if len(spec.objective_metrics) > 1:
        cli.append(f"objective={sweep_spec_objective(spec)}")
    cli += [f"{k}={_sweep_grammar(space[k])}" for k in CLI_SWEEPS.get(spec.model, ())]
    cli += list(spec.extra_overrides)
    fixed_cli = [o for o in cli if "(" not in o]

    n = spec.n_trials
    params = [_sample(space, rng) for _ in range(n)]
    true = np.array([_true_skill(spec.model, p) for p in params])
    skill_val = true + rng.normal(0.0, 0.03, n)
    skill_test = 0.8 * true + rng.normal(0.0, 0.03, n)
    order = rng.permutation(n)
    failed = set(order[: spec.n_failed].tolist())
    running = set(order[spec.n_failed : spec.n_failed + spec.n_running].tolist())
    n_prune = int(round(spec.pruned_frac * n))
    candidates = [i for i in np.argsort(skill_val) if i not in failed and i not in running and i >= 3]
    pruned = set(candidates[:n_prune])

    K = spec.eval_points
    ramp = (1.0 - np.exp(-3.0 * np.arange(1, K + 1) / K)) / (1.0 - math.exp(-3.0))
    obj_metrics = list(spec.objective_metrics)
    trials_out: list[dict[str, Any]] = []
    for i in range(n):
        job_dir = sweep_dir / str(i)
        (job_dir / HYDRA_DIR).mkdir(parents=True, exist_ok=True)
        trial_number = i + spec.trial_offset
        seed = int(spec.seed * 1000 + i)
        task = fixed_cli + [f"{k}={_fmt(v)}" for k, v in params[i].items()]
        _dump_yaml(task, job_dir / HYDRA_DIR / "overrides.yaml")
        _dump_yaml(_config(spec, params[i], seed), job_dir / HYDRA_DIR / "config.yaml")
        _dump_yaml({"hydra": _hydra_node(spec, sweep_dir, task, i)}, job_dir / HYDRA_DIR / "hydra.yaml")

        trng = np.random.default_rng([spec.seed, i])
        # Half of the trading noise is shared by all trials (same data, similar policies).
        noises = {
            seg: (common[seg] + trng.normal(0.0, 1.0, len(common[seg]))) / math.sqrt(2.0) for seg in common
        }
        stop = K
        if i in pruned:
            stop = int(trng.integers(1, max(K - 1, 2)))
        elif i in failed or i in running:
            stop = int(trng.integers(1, max(K - 1, 2)))
        curve_rows = []
        for k in range(stop):
            m = _segment_metrics(market, "val", skill_val[i] * ramp[k], noises["val"])
            curve_rows.append(((k + 1) * spec.eval_every, m))
        if curve_rows or i not in failed:
            header = ["timesteps", "objective"] + [f"val/{m}" for m in METRIC_NAMES]
            lines = [",".join(header)]
            for steps, m in curve_rows:
                lines.append(
                    ",".join(
                        [str(steps), repr(m[obj_metrics[0].split("/", 1)[1]])]
                        + [repr(m[x]) for x in METRIC_NAMES]
                    )
                )
            (job_dir / EVAL_CURVE_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
        if i in running:
            continue

        trial = {"number": trial_number, "study": f"{spec.model}_{spec.preset}"}
        record: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "state": STATE_COMPLETE,
            "model": spec.model,
            "objective": {"metrics": obj_metrics, "directions": list(spec.directions), "values": None},
            "metrics": {},
            "baselines": baselines,
            "timesteps": stop * spec.eval_every,
            "seconds": round(stop * spec.eval_every / 1500.0 + float(trng.uniform(1.0, 3.0)), 3),
            "seed": seed,
            "periods_per_year": 252.0,
            "data_source": "synthetic",
            "segments": {
                seg: {
                    "start": str(market.dates[seg][0]),
                    "end": str(market.dates[seg][-1]),
                    "bars": int(
                        len(market.dates[seg]) - 1
                    ),  # periods (returns); equity.csv has bars + 1 rows
                }
                for seg in ("train", "val", "test")
            },
            "error": None,
            "trial": trial,
        }
        if i in failed:
            record["state"] = STATE_FAILED
            record["baselines"] = {}
            record["seconds"] = None
            record["error"] = (
                f"ValueError: NaN in the policy loss at step {stop * spec.eval_every}: the trial diverged"
            )
            (job_dir / ERROR_FILE).write_text(
                _TRACEBACK.format(step=stop * spec.eval_every), encoding="utf-8"
            )
        else:
            frac = ramp[stop - 1]
            skills = {
                "train": 1.5 * skill_val[i] * frac,
                "val": skill_val[i] * frac,
                "test": skill_test[i] * frac,
            }
            metrics: dict[str, float] = {}
            for seg in ("train", "val", "test"):
                seg_m = _segment_metrics(market, seg, skills[seg], noises[seg])
                metrics.update({f"{seg}/{m}": v for m, v in seg_m.items()})
            record["metrics"] = metrics
            record["objective"]["values"] = [metrics[m] for m in obj_metrics]
            if i in pruned:
                record["state"] = STATE_PRUNED
            if spec.equity == "all" or (spec.equity == "complete" and i not in pruned):
                (job_dir / EQUITY_FILE).write_text(_equity_csv(market, skills, noises), encoding="utf-8")
            with zipfile.ZipFile(job_dir / MODEL_FILE, "w") as z:
                z.writestr("data", json.dumps({"algo": spec.model, "synthetic": True}))
        with open(job_dir / METRICS_FILE, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
        trials_out.append(
            {
                "job_num": i,
                "number": trial_number,
                "state": record["state"],
                "params": params[i],
                "values": record["objective"]["values"],
            }
        )

    multirun = _config(spec, {}, spec.seed * 1000)
    multirun["model"] = {"name": spec.model}
    multirun = {"hydra": _hydra_node(spec, sweep_dir, cli, None), **multirun}
    _dump_yaml(multirun, sweep_dir / MULTIRUN_FILE)
    if spec.write_results:
        _dump_yaml(_results(spec, sweep_dir, trials_out, n_running=len(running)), sweep_dir / RESULTS_FILE)
    if spec.write_db:
        write_study_db(sweep_dir, spec, trials_out)
    return sweep_dir


def _pareto(points: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    p = points * signs
    keep = np.ones(len(p), dtype=bool)
    for i in range(len(p)):
        dominated = np.all(p <= p[i], axis=1) & np.any(p < p[i], axis=1)
        keep[i] = not dominated.any()
    return keep


def _results(
    spec: SweepSpec, sweep_dir: Path, trials: list[dict[str, Any]], n_running: int
) -> dict[str, Any]:
    complete = [t for t in trials if t["state"] == STATE_COMPLETE]
    out: dict[str, Any] = {"name": "optuna"}
    if len(spec.objective_metrics) == 1 and complete:
        sign = 1.0 if spec.directions[0] == "maximize" else -1.0
        best = max(complete, key=lambda t: sign * t["values"][0])
        out["best_params"] = dict(best["params"])
        out["best_value"] = best["values"][0]
    elif complete:
        keep = _pareto(np.array([t["values"] for t in complete]), spec.directions)
        out["solutions"] = [
            {"params": dict(t["params"]), "values": list(t["values"]), "number": t["number"]}
            for t, k in zip(complete, keep)
            if k
        ]
    out["study_name"] = f"{spec.model}_{spec.preset}"
    out["storage"] = f"sqlite:///{sweep_dir / STUDY_DB_FILE}"
    out["directions"] = list(spec.directions)
    out["objective_metrics"] = list(spec.objective_metrics)
    if len(spec.objective_metrics) == 1 and complete:
        out["best_trial"] = {
            "number": best["number"],
            "job_num": best["job_num"],
            "values": list(best["values"]),
        }
    out["search_space"] = {k: dict(v) for k, v in SEARCH_SPACES[spec.model].items()}
    out["fixed_params"] = {}
    out["n_trials"] = spec.n_trials
    counts = {s: sum(t["state"] == s for t in trials) for s in (STATE_COMPLETE, STATE_PRUNED, STATE_FAILED)}
    counts["running"] = n_running
    out["counts"] = counts
    return out


def write_study_db(sweep_dir: Path, spec: SweepSpec, trials: list[dict[str, Any]]) -> Path:
    """The persisted Optuna study (sqlite), as the sweeper leaves it, with job_num user attributes."""
    import warnings

    import optuna

    from analysis.importance import distribution

    from .load import _spec_from_results

    path = sweep_dir / STUDY_DB_FILE
    # Build it where commits need no fsync (tmpfs) when there is one, then move it in place.
    scratch = Path(tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    build = scratch / STUDY_DB_FILE
    dists = {k: distribution(_spec_from_results(k, v)) for k, v in SEARCH_SPACES[spec.model].items()}
    states = {
        STATE_COMPLETE: optuna.trial.TrialState.COMPLETE,
        STATE_PRUNED: optuna.trial.TrialState.PRUNED,
        STATE_FAILED: optuna.trial.TrialState.FAIL,
    }
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = optuna.create_study(
                study_name=f"{spec.model}_{spec.preset}",
                storage=f"sqlite:///{build}",
                directions=list(spec.directions),
            )
            for t in trials:
                state = states[t["state"]]
                study.add_trial(
                    optuna.trial.create_trial(
                        params=t["params"],
                        distributions=dists,
                        values=t["values"] if state == optuna.trial.TrialState.COMPLETE else None,
                        state=state,
                        user_attrs={"job_num": t["job_num"], "job_dir": str(sweep_dir / str(t["job_num"]))},
                    )
                )
        del study
        shutil.move(str(build), str(path))
    finally:
        optuna.logging.set_verbosity(verbosity)
        shutil.rmtree(scratch, ignore_errors=True)
    return path


def break_job(job_dir: str | os.PathLike[str], kind: str) -> None:
    """Damage a job directory the way real runs get damaged (for robustness tests).

    ``truncated_metrics``: metrics.json cut in the middle; ``missing_metrics``: metrics.json
    removed and the files aged past the running window (an interrupted job);
    ``missing_hydra``: the ``.hydra/`` directory removed.
    """
    job_dir = Path(job_dir)
    if kind == "truncated_metrics":
        text = (job_dir / METRICS_FILE).read_text(encoding="utf-8")
        (job_dir / METRICS_FILE).write_text(text[: len(text) // 2], encoding="utf-8")
    elif kind == "missing_metrics":
        (job_dir / METRICS_FILE).unlink()
        old = time.time() - 3600.0
        for root, _, files in os.walk(job_dir):
            for name in files:
                os.utime(os.path.join(root, name), (old, old))
    elif kind == "missing_hydra":
        for p in sorted((job_dir / HYDRA_DIR).iterdir()):
            p.unlink()
        (job_dir / HYDRA_DIR).rmdir()
    else:
        raise ValueError(f"unknown kind {kind!r}")


def write_multirun(date_dir: str | os.PathLike[str], specs: Sequence[SweepSpec]) -> list[Path]:
    """Write several sweeps into one date directory (``multirun/<date>/<spec.time>/``)."""
    return [write_sweep(Path(date_dir) / s.time, s) for s in specs]


def day_of_sweeps(n_trials: Sequence[int] = (40, 30, 30), **kwargs: Any) -> list[SweepSpec]:
    """A PPO, a DQN and an A2C sweep, one hour apart, as a user runs them in one day."""
    models = ("ppo", "dqn", "a2c")
    return [
        SweepSpec(model=models[i % 3], n_trials=n, time=f"{10 + i:02d}-00-00", seed=i, **kwargs)
        for i, n in enumerate(n_trials)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.synthetic", description=__doc__.splitlines()[0])
    parser.add_argument("date_dir", help="directory to create, e.g. /tmp/multirun/2026-11-28")
    parser.add_argument(
        "--trials", type=int, nargs="+", default=[40, 30, 30], help="trials per sweep (ppo, dqn, a2c, ...)"
    )
    args = parser.parse_args(argv)
    for path in write_multirun(args.date_dir, day_of_sweeps(args.trials)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
