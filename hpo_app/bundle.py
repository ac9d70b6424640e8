"""The agent bundle: a trained agent as a directory that runs on new prices without the project's
sweep or config (issue #24). ``python -m hpo_app.export`` writes one, ``python -m hpo_app.apply``
and :func:`hpo_app.api.load_agent` use one.

A bundle holds ``model.zip`` (the stable-baselines3 model), ``config.yaml`` (the run's composed
config) and ``bundle.json``: the features and their training-only scaler (mean, std, clip), the
observation layout, what each action means, the environment's settings (costs, shorting), the bar
frequency, and provenance (the run, the sweep and trial, the data with a hash of its bytes, the
segments' dates, package versions). The scaler is the one the agent was trained with (the last
walk-forward fold's, for a walk-forward run), rebuilt from the run's own config and data exactly.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from hpo_app.features import FEATURE_NAMES, compute_features, fold_view, warmup_bars
from hpo_record import files
from hpo_record import job as job_record

BUNDLE_FILE = "bundle.json"
CONFIG_FILE = "config.yaml"
FORMAT = "hpo-app agent bundle"
VERSION = 1
ACTION_NAMES = {-1.0: "short", 0.0: "flat", 1.0: "long"}
PACKAGES = ("hpo-app", "stable-baselines3", "torch", "gymnasium", "numpy", "pandas")


class BundleError(ValueError):
    """A directory that is not a bundle, or data that does not fit it; the message is one line."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    spec: dict[str, Any]  # bundle.json

    @property
    def features(self) -> list[str]:
        return list(self.spec["features"]["names"])

    @property
    def window(self) -> int:
        return int(self.spec["observation"]["window"])

    @property
    def positions(self) -> list[float]:
        return [float(a["position"]) for a in self.spec["actions"]]

    def scale(self, prices: pd.DataFrame) -> np.ndarray:
        """The bundle's features of ``prices``, scaled with the training scaler (never refitted)."""
        raw = compute_features(prices)[self.features].to_numpy(dtype=np.float64)
        scaler = self.spec["features"]["scaler"]
        scaled = np.clip((raw - np.asarray(scaler["mean"])) / np.asarray(scaler["std"]), -scaler["clip"], scaler["clip"])
        return np.nan_to_num(scaled, nan=0.0).astype(np.float32)


def read(path: str | Path) -> Bundle:
    path = Path(path)
    try:
        spec = json.loads((path / BUNDLE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path}: not an agent bundle (no {BUNDLE_FILE}; make one with python -m hpo_app.export)") from None
    except (OSError, ValueError) as err:
        raise BundleError(f"{path / BUNDLE_FILE}: unreadable ({err})") from None
    if spec.get("format") != FORMAT or not (path / files.MODEL_FILE).is_file():
        raise BundleError(f"{path}: not an agent bundle ({BUNDLE_FILE} of another format, or no {files.MODEL_FILE})")
    return Bundle(path, spec)


def write(job_dir: Path, out: Path, provenance: dict[str, Any]) -> Bundle:
    """The bundle of the agent a job trained (its ``model.zip``), in ``out``."""
    from hpo_app.app import engine_from_config
    from hpo_app.validation import make_folds

    model = job_dir / files.MODEL_FILE
    if not model.is_file():
        raise BundleError(f"{job_dir}: no {files.MODEL_FILE} (the run kept no model: train.save_model=false, or it "
                          "did not complete)")
    config = OmegaConf.load(job_dir / files.HYDRA_DIR / "config.yaml")
    engine = engine_from_config(config, Path("/dev/null"))
    prepared = engine.prepare()
    folds = make_folds(engine.validation, prepared.segments)
    if engine.validation.kind == "walkforward":  # the job's model is the last fold's agent
        prepared = fold_view(prepared, folds[-1].train, folds[-1].val)
    record = job_record.read(job_dir)
    env = engine.env_spec
    positions = [-1.0, 0.0, 1.0] if env.allow_short else [0.0, 1.0]
    spec = {
        "format": FORMAT, "version": VERSION, "model": engine.model_spec.name,
        "features": {"names": list(prepared.feature_names), "all": list(FEATURE_NAMES),
                     "scaler": {"mean": prepared.scaler_mean.tolist(), "std": prepared.scaler_std.tolist(), "clip": 10.0,
                                "fitted_on": _dates(prepared, prepared.segments["train"])},
                     "warmup_bars": warmup_bars()},
        "observation": {"window": env.window, "size": env.window * len(prepared.feature_names) + 1,
                        "layout": "the features of bars t-window+1 .. t flattened oldest first, then the position "
                                  "held before the decision"},
        "actions": [{"action": i, "position": p, "meaning": ACTION_NAMES[p]} for i, p in enumerate(positions)],
        "env": {"cost_bps": env.cost_bps, "allow_short": env.allow_short},
        "periods_per_year": prepared.periods_per_year,
        "decision": "the position at bar t is held from close[t] to close[t+1]; costs are paid on each change",
        "metrics": record.metrics,
        "provenance": {**provenance, "job_dir": str(job_dir.resolve()), "data": _data(engine.data_spec, prepared),
                       "segments": record.segments, "seed": record.seed, "trial": record.trial,
                       "packages": _versions()},
    }
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, out / files.MODEL_FILE)
    (out / CONFIG_FILE).write_text(OmegaConf.to_yaml(config))
    (out / BUNDLE_FILE).write_text(json.dumps(spec, indent=2))
    return Bundle(out, spec)


def _dates(prepared: Any, bounds: tuple[int, int]) -> list[str]:
    return [str(prepared.index[bounds[0]]), str(prepared.index[bounds[1]])]


def _data(data: Any, prepared: Any) -> dict[str, Any]:
    """Where the data came from, with a hash of its bytes (the file's, or the generated closes')."""
    out: dict[str, Any] = {"source": prepared.source, "bars": len(prepared.close)}
    if data.source == "csv":
        out["file"] = str(data.path)
        out["sha256"] = hashlib.sha256(Path(str(data.path)).read_bytes()).hexdigest()
    else:
        out["sha256_of_closes"] = hashlib.sha256(np.ascontiguousarray(prepared.close).tobytes()).hexdigest()
    return out


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
