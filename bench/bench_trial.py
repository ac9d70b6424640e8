"""Training throughput of a whole trial, before and after vectorized training (issue #23).

profile  where a trial's CPU time goes, per model, with the defaults before (one env, one forward
         pass per bar to evaluate) and now: SB3's rollouts (policy forward passes, env steps,
         buffers), SB3's gradient steps, the evaluations on validation and the final scores, saving
         the model, preparing the data, and the process's start-up (imports, Hydra) as the whole
         command's CPU time minus the engine's.
speed    steps per CPU-second of ``model.learn`` (in this process, after a warm-up) and of a whole
         trial (``python -m hpo_app`` as a process: start to record written), per model, before and
         after, taking turns (A B A B ...), medians of ``--repeats`` runs.
sweep    ``hpo=standard`` (PPO) before and after, one after the other: trials per hour, and the
         slots' time outside training per trial (the sweep's span times its slots, less the engines'
         own seconds).

"Before" runs the code of ``--baseline DIR`` (a checkout of the commit before vectorization) with its
defaults, the old ones; "now" this checkout with its defaults (for ``model.learn`` both run on this
checkout, "before" with the old defaults as overrides). Writes docs/benchmarks.md's sections
``trial-profile``, ``trial-speed``, ``trial-sweep``, whatever they show.

    git worktree add /tmp/before 8403beb
    python bench/bench_trial.py --baseline /tmp/before --part profile   # about 5 minutes here
    python bench/bench_trial.py --baseline /tmp/before --part speed     # about 10 minutes here
    python bench/bench_trial.py --baseline /tmp/before --part sweep     # about 10 minutes here
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_vec import OLD  # noqa: E402
from bench.docs_section import write_section  # noqa: E402

MODELS = ("ppo", "dqn", "a2c")
# cProfile's cumulative time of these functions, by category (the names exist before and after).
CATEGORIES = {
    "rollouts (forward passes, env steps, buffers)": ("collect_rollouts",),
    "gradient steps": ("train",),
    "evaluations and final scores": ("metrics",),
    "saving the model": ("save",),
    "data and features": ("prepare",),
}
PROFILE_SCRIPT = """
import cProfile, json, logging, pstats, sys, time
from pathlib import Path
import torch
from hydra import compose, initialize_config_dir
logging.disable(logging.WARNING)
torch.set_num_threads(1)
import hpo_app
try:
    import hpo_app.schema
except ImportError:
    pass
from hpo_app.app import engine_from_config
conf = Path(hpo_app.__file__).resolve().parents[1] / "conf"
with initialize_config_dir(config_dir=str(conf)):
    cfg = compose("config", overrides=sys.argv[2:])
engine = engine_from_config(cfg, Path(sys.argv[1]))
profile = cProfile.Profile()
start = time.process_time()
profile.enable()
result = engine.run()
profile.disable()
total = time.process_time() - start
stats = {}
for (file, line, name), (cc, nc, tt, ct, callers) in pstats.Stats(profile).stats.items():
    stats[name] = max(stats.get(name, 0.0), ct)
print(json.dumps({"total": total, "steps": result.timesteps, "functions": stats}))
"""


def _env(code: Path) -> dict[str, str]:
    """The environment that runs ``code``'s modules (an editable install maps ``hpo_app.conf`` to this
    checkout's conf/, so each command also names its config directory with --config-path)."""
    return {**os.environ, "PYTHONPATH": str(code), "PYTHONHASHSEED": "0"}


def whole_trial(code: Path, model: str, overrides: tuple[str, ...], out: Path) -> tuple[float, float, int]:
    """CPU seconds, wall seconds and steps of ``python -m hpo_app`` run from ``code`` (its job record's
    ``seconds``: the engine's own wall time)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hpo_app", "--config-path", str(code / "conf"), f"model={model}", *overrides,
                    f"hydra.run.dir={out}",
                    "resources.cpus_per_trial=1"], cwd=out.parent, env=_env(code), check=True,
                   capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, int(json.loads((out / "metrics.json").read_text())["timesteps"])


def profile_one(code: Path, model: str, overrides: tuple[str, ...], out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROFILE_SCRIPT, str(out), f"model={model}", *overrides],
                          cwd=out.parent, env=_env(code), check=True, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def part_profile(baseline: Path, work: Path) -> str:
    rows = []
    for model in MODELS:
        for label, code, overrides in (("before", baseline, ()), ("now", REPO, ())):
            prof = profile_one(code, model, overrides, work / f"profile-{model}-{label}")
            _, wall, _ = whole_trial(code, model, overrides, work / f"whole-{model}-{label}")
            engine = float(json.loads((work / f"whole-{model}-{label}" / "metrics.json").read_text())["seconds"])
            shares = {cat: sum(prof["functions"].get(n, 0.0) for n in names) for cat, names in CATEGORIES.items()}
            shares["rest of the engine"] = prof["total"] - sum(shares.values())
            total = sum(shares.values())
            cells = " | ".join(f"{100 * shares[c] / total:.0f} %" for c in shares)
            rows.append(f"| {model.upper()} {label} | {total:.1f} s | {cells} | {wall - engine:.1f} s |")
    heads = [*CATEGORIES, "rest of the engine", "process start-up (wall, not profiled)"]
    return "\n".join([
        "One default trial (30k steps, planted-edge market, one thread): the engine's CPU seconds under",
        "cProfile and the share of each part (cumulative times; a profiled trial runs slower than an",
        "unprofiled one), and the process's start-up outside the engine (imports, Hydra; the whole",
        "command's wall time minus the engine's own, unprofiled). Command:",
        "`python bench/bench_trial.py --baseline DIR --part profile`.", "",
        f"| trial | CPU | {' | '.join(heads)} |", "|---" * (len(heads) + 2) + "|", *rows])


LEARN_SCRIPT = """
import json, logging, sys, time
from pathlib import Path
import torch
from hydra import compose, initialize_config_dir
logging.disable(logging.WARNING)
torch.set_num_threads(1)
import hpo_app.schema
from hpo_app.app import engine_from_config
from hpo_app.training import AgentRun
with initialize_config_dir(config_dir=sys.argv[1]):
    cfg = compose("config", overrides=sys.argv[3:])
engine = engine_from_config(cfg, Path("/dev/null"))
agent = AgentRun(engine.prepare(), engine.env_spec, engine.model_spec, engine.train_spec, 0)
model = agent.build()
model.learn(2048)  # warm-up: torch's one-time costs, DQN's learning_starts
start = time.process_time()
model.learn(int(sys.argv[2]), reset_num_timesteps=False)
print(json.dumps({"cpu": time.process_time() - start, "steps": int(sys.argv[2])}))
"""


def learn_speed(model: str, overrides: tuple[str, ...], steps: int) -> float:
    proc = subprocess.run([sys.executable, "-c", LEARN_SCRIPT, str(REPO / "conf"), str(steps), f"model={model}",
                           *overrides], env=_env(REPO), check=True, capture_output=True, text=True)
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return data["steps"] / data["cpu"]


def part_speed(baseline: Path, work: Path, repeats: int) -> str:
    rows = []
    for model in MODELS:
        learn = {"before": [], "now": []}
        trial = {"before": [], "now": []}
        for i in range(repeats):
            for label, code in (("before", baseline), ("now", REPO)):
                learn[label].append(learn_speed(model, OLD[model] if label == "before" else (), 20000))
                cpu, _, steps = whole_trial(code, model, (), work / f"speed-{model}-{label}-{i}")
                trial[label].append(steps / cpu)
        lb, ln = np.median(learn["before"]), np.median(learn["now"])
        tb, tn = np.median(trial["before"]), np.median(trial["now"])
        rows.append(f"| {model.upper()} | {lb:,.0f} | {ln:,.0f} | x{ln / lb:.1f} | {tb:,.0f} | {tn:,.0f} | x{tn / tb:.1f} |")
    return "\n".join([
        f"Steps per CPU-second, medians of {repeats} runs taking turns, one thread. `model.learn`: 20k steps",
        "after a 2k-step warm-up, in a process of its own, on this checkout (before: the old defaults).",
        "Whole trial: `python -m hpo_app model=<m>` from start to record written (imports, Hydra, data,",
        "training, evaluations, scores, saving), before on the baseline's code with its defaults.",
        "Command: `python bench/bench_trial.py --baseline DIR --part speed`.", "",
        "| model | learn before | learn now | ratio | whole trial before | whole trial now | ratio |",
        "|---|---|---|---|---|---|---|", *rows])


SLOTS = os.cpu_count() or 1  # Ray's CPUs on this machine, one per trial (resources.cpus_per_trial: 1)
SAME_RECIPE = ("validation=holdout", "train.eval_every=3000", "hydra.sweeper.control=false",
               "hydra.sweeper.confirm.top_k=0")
"""``hpo=standard`` as it was before (holdout objective, evaluations every 3,000 steps for the median
pruner, no control, no confirmation), on today's code: the same search, run faster or not."""


def part_sweep(baseline: Path, work: Path) -> str:
    import optuna

    rows = []
    for label, code, extra in (("before", baseline, ()), ("now, the same search", REPO, SAME_RECIPE),
                               ("now, hpo=standard as it is", REPO, ())):
        sweep = work / f"sweep-{len(rows)}"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hpo_app", "--config-path", str(code / "conf"), "-m", "model=ppo",
                        "hpo=standard", *extra, f"hydra.sweep.dir={sweep}"],
                       cwd=work, env=_env(code), check=True, capture_output=True)
        wall = time.perf_counter() - started
        trials, starts, ends, engine, steps, runs = [], [], [], 0.0, 0, 0
        for name in optuna.study.get_all_study_names(f"sqlite:///{sweep / 'optuna.db'}"):
            study = optuna.load_study(study_name=name, storage=f"sqlite:///{sweep / 'optuna.db'}")
            for t in study.trials:
                if t.datetime_complete is None:
                    continue
                record = json.loads((Path(t.user_attrs["job_dir"]) / "metrics.json").read_text())
                steps += int(record["timesteps"])
                runs += max(1, len(record.get("folds") or []))
                engine += float(record["seconds"] or 0)
                starts.append(t.datetime_start)
                ends.append(t.datetime_complete)
                trials.append(t)
        # The slots' time from the first trial asked to the last one told, less the engines' own
        # seconds: what each trial costs beside its training (job start-up in a warm Ray worker, the
        # driver's asks and tells, slots idle while the race waits for the search to end).
        outside = (SLOTS * (max(ends) - min(starts)).total_seconds() - engine) / len(trials)
        rows.append(f"| {label} | {wall / 60:.1f} min | {len(trials)} | {runs} | {3600 * len(trials) / wall:.0f} | "
                    f"{3600 * runs / wall:.0f} | {steps / wall:,.0f} | {outside:.1f} s |")
    return "\n".join([
        "`python -m hpo_app -m model=ppo hpo=standard` on this 2-core machine (2 trials in parallel on Ray), one after",
        "the other: before (the baseline's code and preset: 40 holdout trials, median pruning); now with the same",
        f"search ({' '.join(SAME_RECIPE)}); and now as the preset is (40 trials on 4 walk-forward folds, then the",
        "top 5 and the control raced on 3 seeds). Trials include the confirmation's runs; a walk-forward trial is",
        "one training run per fold it reached. Outside training: the slots' time from the first trial asked to the",
        f"last one told ({SLOTS} slots), less the engines' own seconds, per trial. Command:",
        "`python bench/bench_trial.py --baseline DIR --part sweep`.", "",
        "| code | wall | trials | training runs | trials per hour | runs per hour | steps per second | outside training, per trial |",
        "|---|---|---|---|---|---|---|---|", *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout of the code before")
    parser.add_argument("--part", choices=("profile", "speed", "sweep"), required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-trial-"))
    text = {"profile": lambda: part_profile(args.baseline.resolve(), work),
            "speed": lambda: part_speed(args.baseline.resolve(), work, args.repeats),
            "sweep": lambda: part_sweep(args.baseline.resolve(), work)}[args.part]()
    write_section(args.docs, f"trial-{args.part}", text)
    print(text)


if __name__ == "__main__":
    main()
