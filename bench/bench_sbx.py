"""SBX (the JAX port of stable-baselines3) against SB3 for the default PPO: is a JAX backend worth it?

Issue #23 measured SBX's PPO at 3.3-3.7 times SB3's steps per CPU-second with 8 environments, against
SB3 with one, and left open whether its compilation (once per model) leaves anything for a 30k-step
trial, and whether JAX's persistent compilation cache pays it. This runs both backends side by side
on the project's own training env and default PPO (the same hyperparameters, network and rollout
sizes), each in a fresh process, taking turns:

- ``sb3``: stable-baselines3 as the project trains it;
- ``sbx, cold cache``: SBX with an empty JAX compilation cache (what a new machine, or a new
  network shape, pays);
- ``sbx, warm cache``: SBX again with the cache the cold run filled (JAX still traces each function).

Per run, CPU seconds: the imports and data, building the model, the first 2,048 steps (where JAX
compiles), the steady steps per CPU-second of the remaining steps, and the whole. SBX is not one of the
project's dependencies: install it in the project's environment first (it brings jax, flax, optax)::

    pip install sbx-rl==0.28.0
    python bench/bench_sbx.py            # about 5 minutes here; writes docs/benchmarks.md's trial-sbx
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.docs_section import write_section  # noqa: E402

RUN_SCRIPT = """
import inspect, json, logging, os, sys, time
start_cpu = time.process_time()
backend, steps, cache = sys.argv[1], int(sys.argv[2]), sys.argv[3]
import torch
torch.set_num_threads(1)
if backend == "sbx":
    import jax
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    import flax.linen
    from sbx import PPO
else:
    from stable_baselines3 import PPO
from hydra import compose, initialize_config_dir
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv
logging.disable(logging.WARNING)
import hpo_app.schema
from hpo_app.app import engine_from_config
from hpo_app.models import model_kwargs
from hpo_app.training import AgentRun
with initialize_config_dir(config_dir=sys.argv[4]):
    cfg = compose("config", overrides=["model=ppo", *sys.argv[5:]])
engine = engine_from_config(cfg, __import__("pathlib").Path("/dev/null"))
agent = AgentRun(engine.prepare(), engine.env_spec, engine.model_spec, engine.train_spec, 0)
env = make_vec_env(lambda: agent.segment_env("train", training=True), n_envs=engine.env_spec.n_envs, seed=0,
                   vec_env_cls=DummyVecEnv)
kwargs = {k: v for k, v in model_kwargs(engine.model_spec).items() if v is not None}
if backend == "sbx":
    kwargs["policy_kwargs"]["activation_fn"] = getattr(flax.linen, engine.model_spec.activation)
    accepted = inspect.signature(PPO.__init__).parameters
    kwargs = {k: v for k, v in kwargs.items() if k in accepted}
marks = [time.process_time()]
model = PPO(env=env, seed=0, verbose=0, **kwargs)
marks.append(time.process_time())
model.learn(2048)
marks.append(time.process_time())
model.learn(steps - 2048, reset_num_timesteps=False)
marks.append(time.process_time())
print(json.dumps({"start": marks[0] - start_cpu, "build": marks[1] - marks[0], "first": marks[2] - marks[1],
                  "steady": (steps - 2048) / (marks[3] - marks[2]), "whole": marks[3] - start_cpu}))
"""

VARIANTS = ("sb3", "sbx, cold cache", "sbx, warm cache")
SHAPES = {"4 envs x 128 steps (the default)": (), "8 envs x 64 steps": ("env.n_envs=8", "model.n_steps=64")}


def one_run(backend: str, cache: Path, steps: int, overrides: tuple[str, ...]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}
    proc = subprocess.run([sys.executable, "-c", RUN_SCRIPT, backend, str(steps), str(cache), str(REPO / "conf"),
                           *overrides], env=env, check=True, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(repeats: int, steps: int, work: Path) -> str:
    rows = []
    for shape, overrides in SHAPES.items():
        runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
        for i in range(repeats):
            cache = work / f"cache-{len(rows)}-{i}"  # empty: the cold run fills it, the warm one reads it
            runs["sb3"].append(one_run("sb3", cache, steps, overrides))
            runs["sbx, cold cache"].append(one_run("sbx", cache, steps, overrides))
            runs["sbx, warm cache"].append(one_run("sbx", cache, steps, overrides))
        whole_sb3 = np.median([r["whole"] for r in runs["sb3"]])
        for variant, results in runs.items():
            med = {k: float(np.median([r[k] for r in results])) for k in results[0]}
            rows.append(f"| {shape} | {variant} | {med['start']:.1f} | {med['build']:.1f} | {med['first']:.1f} | "
                        f"{med['steady']:,.0f} | {med['whole']:.1f} | x{whole_sb3 / med['whole']:.2f} |")
    return "\n".join([
        f"PPO with the project's defaults on its training env ({steps:,} steps, seed 0, one thread), SB3 against SBX 0.28",
        f"(JAX), each run a fresh process, medians of {repeats} runs taking turns. CPU seconds: start-up (imports, data),",
        "building the model, the first 2,048 steps (where JAX compiles), then the steady steps per CPU-second and the",
        "whole run; speed-up: SB3's whole CPU time over the variant's. A cold cache is an empty JAX persistent",
        "compilation cache; a warm one was filled by the cold run before it. Command: `pip install sbx-rl==0.28.0`,",
        "then `python bench/bench_sbx.py`.", "",
        "| rollout | backend | start-up | build | first 2,048 steps | steady steps per CPU-s | whole run | speed-up |",
        "|---|---|---|---|---|---|---|---|", *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30000)
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    try:
        import sbx  # noqa: F401
    except ImportError:
        sys.exit("error: SBX is not installed here: pip install sbx-rl==0.28.0 (it is not one of the project's dependencies)")
    text = measure(args.repeats, args.steps, Path(tempfile.mkdtemp(prefix="bench-sbx-")))
    write_section(args.docs, "trial-sbx", text)
    print(text)


if __name__ == "__main__":
    main()
