"""A synthetic day of large sweeps, for the report's benchmark only (``bench/bench_report.py``).

Real sweeps of a thousand trials take hours here, so the benchmark writes their files directly:
what the sweeper and the TrainingEngine leave on disk, built with the same code where it matters
(the search spaces of ``conf/search_space/`` parsed by the sweeper, job records written by
``hpo_record.job``, metrics by ``hpo_app.metrics``, the study by Optuna). The numbers behave like a
real sweep: a trial's skill is a smooth function of its learning rate and gamma plus luck that
does not carry over from validation to test. Tests use real sweeps instead (``tests/conftest.py``).

    python bench/make_day.py /tmp/multirun/2026-11-28 --trials 40 30 30
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hpo_record import job as job_record  # noqa: E402
from hpo_record.files import (  # noqa: E402
    EQUITY_FILE,
    EVAL_CURVE_FILE,
    HYDRA_DIR,
    MULTIRUN_FILE,
    RESULTS_FILE,
    STUDY_DB_FILE,
)
from hpo_app.metrics import METRIC_NAMES, compute_metrics  # noqa: E402

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_BEST_LR = {"ppo": 3e-4, "dqn": 1e-4, "a2c": 7e-4}
_BASE_SKILL = {"ppo": 0.13, "dqn": 0.08, "a2c": 0.10}


@dataclass(frozen=True)
class SweepSpec:
    model: str = "ppo"
    n_trials: int = 20
    time: str = "10-00-00"
    seed: int = 0
    pruned_frac: float = 0.15
    n_failed: int = 1
    eval_points: int = 6
    eval_every: int = 5000
    n_bars: int = 1500


def search_space(model: str) -> Any:
    """The model's search space as the sweeper parses it from ``conf/search_space/<model>.yaml``."""
    from hydra_plugins.hpo_sweeper.api import search_space as parsed

    return parsed(yaml.safe_load((REPO / "conf" / "search_space" / f"{model}.yaml").read_text()))


def _market(n_bars: int, rng: np.random.Generator) -> dict[str, dict[str, np.ndarray]]:
    """Returns, standardised returns and dates per segment of one regime-switching series."""
    regimes = n_bars // 60 + 1
    mus, sigmas = rng.normal(0.0003, 0.0008, regimes), rng.uniform(0.007, 0.02, regimes)
    idx = np.arange(n_bars) // 60
    r = rng.normal(mus[idx], sigmas[idx])
    dates = np.datetime_as_string(np.busday_offset(np.datetime64("2010-01-04"), np.arange(n_bars), roll="forward"))
    n_train, n_val = int(n_bars * 0.6), int(n_bars * 0.2)
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, n_bars)}
    return {seg: {"r": r[a + 1:b], "z": r[a + 1:b] / sigmas[idx[a + 1:b]], "dates": dates[a:b]}
            for seg, (a, b) in bounds.items()}


def _trade(seg: dict[str, np.ndarray], skill: float, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    signal = skill * seg["z"] + noise
    pos = np.where(np.abs(signal) > 0.4, np.sign(signal), 0.0)
    return pos, pos * seg["r"] - 5e-4 * np.abs(np.diff(pos, prepend=0.0))


def _baselines(market: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {"buy_and_hold": {}, "flat": {}}
    for seg, m in market.items():
        ones = np.ones_like(m["r"])
        bh = compute_metrics(m["r"] - 5e-4 * np.abs(np.diff(ones, prepend=0.0)), ones, 252.0)
        flat = compute_metrics(np.zeros_like(m["r"]), np.zeros_like(m["r"]), 252.0)
        out["buy_and_hold"].update({f"{seg}/{k}": v for k, v in bh.items()})
        out["flat"].update({f"{seg}/{k}": v for k, v in flat.items()})
    return out


def _skill(model: str, p: dict[str, Any]) -> float:
    gamma = float(p.get("model.gamma", 0.99))
    s = _BASE_SKILL[model] - 0.06 * (math.log10(p["model.learning_rate"]) - math.log10(_BEST_LR[model])) ** 2
    return s - 0.04 * (math.log10(1.0 - gamma) + 2.0) ** 2 + 0.015 * math.log2(p.get("model.net_width", 64) / 32)


def _dump(obj: Any, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        yaml.dump(obj, f, Dumper=_Dumper, sort_keys=False)


def _hydra(sweep_dir: Path, spec: SweepSpec, task: list[str], job_num: int | None) -> dict[str, Any]:
    """What a job's .hydra/hydra.yaml holds that readers use (and multirun.yaml's hydra node)."""
    return {
        "sweep": {"dir": str(sweep_dir), "subdir": "${hydra.job.num}"},
        "sweeper": {"_target_": "hydra_plugins.hpo_sweeper.hpo_sweeper.HpoSweeper", "study_name": spec.model,
                    "direction": "maximize", "n_trials": spec.n_trials, "params": None},
        "launcher": {"_target_": "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"},
        "mode": "MULTIRUN", "overrides": {"hydra": [], "task": task},
        "job": {"name": "__main__", "num": "???" if job_num is None else job_num, "config_name": "config"},
        "runtime": {"config_sources": [{"path": str(REPO / "conf"), "schema": "file", "provider": "main"}]},
    }


def write_sweep(sweep_dir: Path, spec: SweepSpec) -> Path:
    """One sweep directory: job directories, optuna.db, optimization_results.yaml, multirun.yaml."""
    import warnings

    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    space = search_space(spec.model)
    rng = np.random.default_rng(spec.seed)
    market = _market(spec.n_bars, np.random.default_rng(1000))
    baselines = _baselines(market)
    sampler = optuna.samplers.RandomSampler(seed=spec.seed)
    draft = optuna.create_study(sampler=sampler, direction="maximize")
    params = [draft.ask(space.distributions).params for _ in range(spec.n_trials)]
    true = np.array([_skill(spec.model, p) for p in params])
    skill_val, skill_test = true + rng.normal(0, 0.03, len(true)), 0.8 * true + rng.normal(0, 0.03, len(true))
    order = rng.permutation(spec.n_trials)
    failed = set(order[: spec.n_failed].tolist())
    pruned = set(i for i in np.argsort(skill_val) if i not in failed and i >= 3)
    pruned = set(list(pruned)[: int(round(spec.pruned_frac * spec.n_trials))])
    ramp = (1.0 - np.exp(-3.0 * np.arange(1, spec.eval_points + 1) / spec.eval_points)) / (1.0 - math.exp(-3.0))
    task_fixed = [f"model={spec.model}", "hpo=standard"]
    scratch = Path(tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    study = optuna.create_study(study_name=spec.model, storage=f"sqlite:///{scratch / STUDY_DB_FILE}",
                                direction="maximize")
    study.set_metric_names(["val/sharpe"])
    trials = []
    for i, p in enumerate(params):
        job = sweep_dir / str(i)
        (job / HYDRA_DIR).mkdir(parents=True, exist_ok=True)
        task = space.overrides(p) + task_fixed
        _dump(task, job / HYDRA_DIR / "overrides.yaml")
        _dump({"seed": 0, "model": {"name": spec.model, **{k.split(".", 1)[1]: v for k, v in p.items()}}},
              job / HYDRA_DIR / "config.yaml")
        _dump({"hydra": _hydra(sweep_dir, spec, task, i)}, job / HYDRA_DIR / "hydra.yaml")
        trng = np.random.default_rng([spec.seed, i])
        noises = {seg: trng.normal(0, 1, len(m["r"])) for seg, m in market.items()}
        stop = int(trng.integers(1, spec.eval_points - 1)) if i in pruned or i in failed else spec.eval_points
        rows = ["timesteps,objective," + ",".join(f"val/{m}" for m in METRIC_NAMES)]
        for k in range(stop):
            pos, net = _trade(market["val"], skill_val[i] * ramp[k], noises["val"])
            m = compute_metrics(net, pos, 252.0)
            rows.append(f"{(k + 1) * spec.eval_every},{m['sharpe']!r}," + ",".join(repr(m[x]) for x in METRIC_NAMES))
        (job / EVAL_CURVE_FILE).write_text("\n".join(rows) + "\n")
        trial_info = {"number": i, "study": spec.model}
        attrs = {"job_num": i, "job_dir": str(job)}
        if i in failed:
            error = f"TrainingDiverged: training diverged: non-finite weights after {stop * spec.eval_every} steps"
            job_record.write(job, job_record.failed(error, trial=trial_info, model=spec.model, seed=i))
            trials.append(optuna.trial.create_trial(params=p, distributions=space.distributions,
                                                    state=TrialState.FAIL, user_attrs={**attrs, "error": error}))
            continue
        skills = {"train": 1.5 * skill_val[i], "val": skill_val[i], "test": skill_test[i]}
        skills = {k: v * ramp[stop - 1] for k, v in skills.items()}
        metrics: dict[str, float] = {}
        nets: dict[str, np.ndarray] = {}
        equity = ["segment,timestamp,position,agent,buy_and_hold,flat"]
        for seg, m in market.items():
            pos, net = _trade(m, skills[seg], noises[seg])
            nets[seg] = net
            metrics.update({f"{seg}/{k}": v for k, v in compute_metrics(net, pos, 252.0).items()})
            agent = np.concatenate(([1.0], np.cumprod(np.maximum(1.0 + net, 0.0))))
            bh = np.concatenate(([1.0], np.cumprod(1.0 + m["r"])))
            equity += [f"{seg},{d},{q},{a:.6f},{b:.6f},1.0" for d, q, a, b in
                       zip(m["dates"], [str(int(x)) for x in pos] + [""], agent, bh)]
        (job / EQUITY_FILE).write_text("\n".join(equity) + "\n")
        state = "pruned" if i in pruned else "complete"
        value = metrics["val/sharpe"]
        job_record.write(job, job_record.JobRecord(
            state=state, model=spec.model, objective=job_record.Objective(("val/sharpe",), ("maximize",), (value,)),
            metrics=metrics, baselines=baselines, timesteps=stop * spec.eval_every, seconds=stop * 3.3, seed=i,
            periods_per_year=252.0, data_source="synthetic", trial=trial_info,
            val_returns=[float(x) for x in nets["val"]]))  # as the engine records them (schema 2)
        trials.append(optuna.trial.create_trial(
            params=p, distributions=space.distributions, user_attrs=attrs,
            state=TrialState.PRUNED if i in pruned else TrialState.COMPLETE,
            value=None if i in pruned else value,
            intermediate_values={k + 1: float(r.split(",")[1]) for k, r in enumerate(rows[1:])}))
    study.add_trials(trials)
    shutil.move(str(scratch / STUDY_DB_FILE), str(sweep_dir / STUDY_DB_FILE))
    shutil.rmtree(scratch, ignore_errors=True)
    _write_sweep_files(sweep_dir, spec, space, task_fixed)
    return sweep_dir


def _write_sweep_files(sweep_dir: Path, spec: SweepSpec, space: Any, task: list[str]) -> None:
    """multirun.yaml and optimization_results.yaml, from the study as the sweeper writes them."""
    import optuna

    from hydra_plugins.hpo_sweeper.api import results

    study = optuna.load_study(study_name=spec.model, storage=f"sqlite:///{sweep_dir / STUDY_DB_FILE}")
    _dump({"hydra": _hydra(sweep_dir, spec, task, None), "model": {"name": spec.model},
           "objective": {"metric": "val/sharpe", "direction": "maximize"}}, sweep_dir / MULTIRUN_FILE)
    _dump(results(study, url=f"sqlite:///{sweep_dir / STUDY_DB_FILE}", space=space, n_trials=spec.n_trials,
                  metrics=["val/sharpe"]), sweep_dir / RESULTS_FILE)


def day_of_sweeps(n_trials: list[int]) -> list[SweepSpec]:
    """A PPO, a DQN and an A2C sweep, one hour apart, as a user runs them in one day."""
    models = ("ppo", "dqn", "a2c")
    return [SweepSpec(model=models[i % 3], n_trials=n, time=f"{10 + i:02d}-00-00", seed=i) for i, n in enumerate(n_trials)]


def write_day(date_dir: Path, specs: list[SweepSpec]) -> list[Path]:
    return [write_sweep(date_dir / s.time, s) for s in specs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("date_dir", type=Path)
    parser.add_argument("--trials", type=int, nargs="+", default=[40, 30, 30])
    args = parser.parse_args(argv)
    for path in write_day(args.date_dir, day_of_sweeps(args.trials)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
