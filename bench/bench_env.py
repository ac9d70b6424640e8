"""Benchmark of the trading environment and of SB3 training on it.

Measures, on the default configuration (``python -m hpo_app``'s data, env and model configs,
composed by Hydra; torch on one thread, as a trial with ``resources.cpus_per_trial=1``):

(a) raw ``TradingEnv`` steps per second: random actions (drawn beforehand, so that only the
    environment is timed), ``reset`` at the end of each episode, on the training segment;
(b) the share of SB3 training time spent inside the environment: SB3 trains on the env wrapped
    in a timing wrapper that adds up the wall time of ``step`` and ``reset``; the share is that
    time over the wall time of ``model.learn``;
(c) SB3 training steps per second per algorithm (environment steps / wall time of ``learn``).

Each figure is the best of ``--repeat`` runs (the machine is shared: the best run is the least
disturbed one). Prints a table and writes it to ``docs/benchmarks.md`` under "Environment and
SB3 training speed", between ``<!-- bench:env:start -->`` and ``<!-- bench:env:end -->`` (the
rest of the file is left alone).

    python bench/bench_env.py                       # about 2 minutes, writes docs/benchmarks.md
    python bench/bench_env.py --train-steps 2048 --no-write
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import stable_baselines3
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hpo_app.app import engine_from_config  # noqa: E402
from hpo_app.engine import TrainingEngine  # noqa: E402
from hpo_app.features import PreparedData  # noqa: E402
from hpo_app.models import build_model  # noqa: E402
from hpo_app.trading_env import TradingEnv  # noqa: E402
from hpo_app.training import AgentRun  # noqa: E402
from bench.docs_section import write_section  # noqa: E402

HEADING = "## Environment and SB3 training speed"
ALGORITHMS = ("ppo", "dqn", "a2c")


def compose_config(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(REPO / "conf")):
        return compose("config", overrides=overrides)


_OUT = tempfile.TemporaryDirectory(prefix="bench-env-")  # where an engine would write (it is not run)


def engine(cfg: DictConfig) -> TrainingEngine:
    """The app's engine for a config (its data, features and env as a run builds them)."""
    return engine_from_config(cfg, Path(_OUT.name))


def train_env(cfg: DictConfig, seed: int) -> tuple[TradingEnv, PreparedData]:
    """The training environment exactly as a run builds it (train segment, random episodes, the
    selected features, training-only reward scale and noise), and its data."""
    e = engine(cfg)
    prepared = e.prepare()
    return AgentRun(prepared, e.env_spec, e.model_spec, e.train_spec, seed).segment_env("train", training=True), prepared


@dataclass
class Clock:
    """Wall time and CPU time (of this thread) of what happened between start() and stop()."""

    wall: float = 0.0
    cpu: float = 0.0

    def start(self) -> None:
        self._wall0, self._cpu0 = time.perf_counter(), time.thread_time()

    def stop(self) -> None:
        self.wall += time.perf_counter() - self._wall0
        self.cpu += time.thread_time() - self._cpu0


class TimingWrapper(gymnasium.Wrapper):
    """Adds up the wall and CPU time spent in the wrapped environment's ``step`` and ``reset``."""

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        self.clock = Clock()

    def step(self, action: Any) -> Any:
        self.clock.start()
        result = self.env.step(action)
        self.clock.stop()
        return result

    def reset(self, **kwargs: Any) -> Any:
        self.clock.start()
        result = self.env.reset(**kwargs)
        self.clock.stop()
        return result


@dataclass(frozen=True)
class Timing:
    name: str
    steps: int
    total: Clock  # the whole loop, or model.learn
    env: Clock  # inside TradingEnv.step / reset

    @property
    def per_second(self) -> float:
        return self.steps / self.total.wall

    @property
    def per_cpu_second(self) -> float:
        return self.steps / self.total.cpu

    @property
    def env_share(self) -> float:
        return self.env.wall / self.total.wall

    @property
    def env_cpu_share(self) -> float:
        return self.env.cpu / self.total.cpu


def time_raw_env(env: TradingEnv, n_steps: int, seed: int) -> Timing:
    """``env`` alone under random actions (drawn beforehand), reset at the end of each episode."""
    actions = np.random.default_rng(seed).integers(env.action_space.n, size=n_steps).tolist()
    env.reset(seed=seed)
    clock = Clock()
    clock.start()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    clock.stop()
    return Timing("raw TradingEnv, random actions", n_steps, clock, clock)


def time_training(algorithm: str, n_steps: int, seed: int) -> Timing:
    cfg = compose_config([f"model={algorithm}", f"seed={seed}"])
    env = TimingWrapper(train_env(cfg, seed)[0])
    model = build_model(engine(cfg).model_spec, env, seed=seed)
    env.clock = Clock()  # count only what learn() does
    clock = Clock()
    clock.start()
    model.learn(total_timesteps=n_steps)
    clock.stop()
    return Timing(f"SB3 {algorithm.upper()} learn", int(model.num_timesteps), clock, env.clock)


def warm_up(seed: int) -> None:
    """Pay torch's one-time costs (lazy imports, first backward pass) before anything is timed."""
    for algorithm in ALGORITHMS:
        cfg = compose_config([f"model={algorithm}"])
        conf = dataclasses.replace(engine(cfg).model_spec,
                                   **{"ppo": {"n_steps": 64}, "a2c": {}, "dqn": {"learning_starts": 32}}[algorithm])
        model = build_model(conf, train_env(cfg, seed)[0], seed=seed)
        model.learn(total_timesteps=128)


def machine_facts() -> dict[str, str]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return {
        "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "CPU": f"{platform.processor() or platform.machine()}, nproc {affinity} (os.cpu_count {os.cpu_count()})",
        "load average (1, 5, 15 min) at start": load,
        "torch threads": str(torch.get_num_threads()),
        "versions": (
            f"Python {platform.python_version()}, torch {torch.__version__}, "
            f"stable-baselines3 {stable_baselines3.__version__}, gymnasium {gymnasium.__version__}, "
            f"numpy {np.__version__}"
        ),
    }


def run(env_steps: int, train_steps: int, repeat: int, seed: int) -> tuple[dict[str, Any], list[Timing]]:
    torch.set_num_threads(1)
    facts: dict[str, Any] = machine_facts()
    cfg = compose_config([])
    env, prepared = train_env(cfg, seed)
    timings = [min((time_raw_env(env, env_steps, seed) for _ in range(repeat)), key=lambda t: t.total.wall)]
    facts["env_desc"] = (
        f"data={cfg.data.source}, {cfg.data.n_bars} bars, window {cfg.env.window}, features {cfg.env.features} "
        f"({len(prepared.feature_names)}: {', '.join(prepared.feature_names)}) "
        f"(observation {env.observation_space.shape[0]} floats), episodes of {cfg.env.episode_length} steps "
        f"on the train segment ({prepared.segments['train'][1] - prepared.segments['train'][0]} bars)"
    )
    models = {m: compose_config([f"model={m}"]) for m in ALGORITHMS}
    p, d, a = models["ppo"].model, models["dqn"].model, models["a2c"].model
    facts["model_desc"] = (
        f"PPO n_steps {p.n_steps} x {p.n_epochs} epochs; DQN learning_starts {d.learning_starts}, train_freq "
        f"{d.train_freq}, reward x{models['dqn'].env.reward_scale:g}; A2C n_steps {a.n_steps}; "
        + ", ".join(f"{m.upper()} {c.model.net_width}x{c.model.net_depth}" for m, c in models.items()) + " MLPs")
    warm_up(seed)
    for algorithm in ALGORITHMS:
        runs = [time_training(algorithm, train_steps, seed) for _ in range(repeat)]
        timings.append(min(runs, key=lambda t: t.total.wall))
    return facts, timings


def table(timings: list[Timing]) -> str:
    lines = [
        "| measurement | steps | wall s | CPU s | steps/s (wall) | steps per CPU-s | time in env (wall) | CPU in env |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, t in enumerate(timings):
        label = "(a)" if i == 0 else "(b, c)"
        lines.append(
            f"| {label} {t.name} | {t.steps:,} | {t.total.wall:.2f} | {t.total.cpu:.2f} | "
            f"{t.per_second:,.0f} | {t.per_cpu_second:,.0f} | {100 * t.env_share:.1f} % | "
            f"{100 * t.env_cpu_share:.1f} % |"
        )
    return "\n".join(lines)


def section(facts: dict[str, Any], timings: list[Timing], command: str) -> str:
    trainings = timings[1:]
    most_env = max(trainings, key=lambda t: t.env_share)
    if most_env.env_share < 0.2:
        verdict = (
            "the environment is not the bottleneck: SB3's policy forward passes, buffers and "
            "gradient steps are, so a faster environment would barely speed up a trial."
        )
    else:
        verdict = "the environment takes a sizable share of training time: speeding it up pays."
    fact_lines = "\n".join(
        f"- {key}: {facts[key]}"
        for key in ("date", "CPU", "load average (1, 5, 15 min) at start", "torch threads", "versions")
    )
    return f"""{HEADING}

Reproduce from the repository root: `{command}` (best of {facts['repeat']} runs per figure).

{table(timings)}

- Environment: {facts['env_desc']}, built as a run builds it. Models: `conf/model/<name>.yaml` as
  shipped ({facts['model_desc']}), CPU, torch on one thread, after a warm-up that pays torch's
  one-time costs.
- "time in env" is the time inside `TradingEnv.step`/`reset` (a timing wrapper under SB3's
  Monitor and DummyVecEnv) over the time of `model.learn`. At most {100 * most_env.env_share:.1f} %
  ({most_env.name}): {verdict}
- The machine is shared with other jobs (load average below): wall-clock rates depend on how busy
  it was; "steps per CPU-s" (steps over the CPU time of the benchmark's thread) is what one
  dedicated core delivers, and is the figure to size presets and tests from.

{fact_lines}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-steps", type=int, default=100_000, help="raw environment steps per run")
    parser.add_argument("--train-steps", type=int, default=8192, help="SB3 training steps per algorithm and run")
    parser.add_argument("--repeat", type=int, default=2, help="runs per figure; the best is kept")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    facts, timings = run(args.env_steps, args.train_steps, args.repeat, args.seed)
    facts["env_steps"], facts["repeat"] = args.env_steps, args.repeat
    command = "python bench/bench_env.py" + "".join(
        f" --{name.replace('_', '-')} {getattr(args, name)}"
        for name in ("env_steps", "train_steps", "repeat", "seed")
        if getattr(args, name) != parser.get_default(name)
    )
    print(table(timings))
    for key in ("CPU", "load average (1, 5, 15 min) at start", "torch threads", "versions"):
        print(f"{key}: {facts[key]}")
    print(f"total {time.perf_counter() - started:.0f} s")
    if not args.no_write:
        write_section(args.out, "env", section(facts, timings, command))
        print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
