"""Read what sweeps leave on disk into one tidy table of trials (files only, no live process).

The file names and formats are defined in :mod:`hpo_app.artifacts`; this module only reads them.

Vocabulary: a *sweep directory* holds ``multirun.yaml`` and/or ``optimization_results.yaml``
and/or job directories (integer names, each with ``.hydra/``); a *date directory* holds sweep
directories. One row of the trial table is one job directory.

Reading is done with fast paths (``json``, ``csv``, ``yaml.CSafeLoader``) because a day of sweeps
can hold thousands of job directories; Hydra's override grammar parser is used only for the few
sweep-level overrides, where its exact semantics matter (``tag(log, interval(...))``).
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from hpo_app.artifacts import (
    BASELINES,
    EQUITY_FILE,
    ERROR_FILE,
    EVAL_CURVE_FILE,
    HYDRA_DIR,
    METRICS_FILE,
    MULTIRUN_FILE,
    RESULTS_FILE,
    STATE_COMPLETE,
    STATE_FAILED,
    STATE_PRUNED,
    STUDY_DB_FILE,
)

_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

STATE_RUNNING = "running"
STATE_INCOMPLETE = "incomplete"
STATE_CORRUPT = "corrupt"
STATES: tuple[str, ...] = (
    STATE_COMPLETE,
    STATE_PRUNED,
    STATE_FAILED,
    STATE_RUNNING,
    STATE_INCOMPLETE,
    STATE_CORRUPT,
)
"""Every state a row of the trial table can have, in display order."""

RUNNING_WINDOW_SECONDS = 600.0
"""A job directory without a metrics file whose newest file is younger than this is running."""

PARAM_PREFIX = "params_"
"""Prefix of parameter columns in the trial table (Optuna's ``trials_dataframe`` convention)."""

SWEEP_ONLY_GROUPS: tuple[str, ...] = ("hpo", "scheduler")
"""Config groups that only configure a sweep; dropped from the re-run command with ``hydra``."""

HYDRA_OVERRIDES_PARAMS = "hydra.sweeper.params"


class NoSweepError(ValueError):
    """A path given to the report holds no sweep directory."""


@dataclass(frozen=True)
class ParamSpec:
    """One searched parameter, as ``optimization_results.yaml`` ``search_space`` describes it."""

    name: str
    type: str  # "float", "int" or "categorical"
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None

    @property
    def is_categorical(self) -> bool:
        return self.type == "categorical"


@dataclass
class SweepInfo:
    """What is known about one sweep directory besides its trials."""

    name: str
    path: Path
    model: str | None = None
    study_name: str | None = None
    objective_metrics: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    search_space: dict[str, ParamSpec] = field(default_factory=dict)
    search_space_source: str = "none"
    fixed_params: dict[str, Any] = field(default_factory=dict)
    task_overrides: tuple[str, ...] = ()
    reported: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    study_db: pd.DataFrame | None = None  # trials of optuna.db: trial, db_state, db_value, job_num

    @property
    def multi_objective(self) -> bool:
        return len(self.objective_metrics) > 1

    @property
    def params(self) -> list[str]:
        return list(self.search_space)

    @property
    def param_columns(self) -> list[str]:
        return [PARAM_PREFIX + p for p in self.search_space]

    def direction(self, i: int = 0) -> str:
        return self.directions[i] if i < len(self.directions) else "maximize"


@dataclass
class Multirun:
    """Everything read from the given paths: sweeps, one row per trial, and the learning curves."""

    sweeps: list[SweepInfo]
    trials: pd.DataFrame
    curves: pd.DataFrame

    def sweep(self, name: str) -> SweepInfo:
        for s in self.sweeps:
            if s.name == name:
                return s
        raise KeyError(name)


# --------------------------------------------------------------------------- discovery


def _is_job_dir(path: Path) -> bool:
    return path.name.isdigit() and path.is_dir()


def is_sweep_dir(path: Path) -> bool:
    """True for a directory with a multirun/results file or a numbered job dir with ``.hydra/``."""
    path = Path(path)
    if not path.is_dir():
        return False
    if (path / MULTIRUN_FILE).is_file() or (path / RESULTS_FILE).is_file():
        return True
    with os.scandir(path) as it:
        for entry in it:
            if entry.name.isdigit() and entry.is_dir() and os.path.isdir(os.path.join(entry.path, HYDRA_DIR)):
                return True
    return False


def find_sweep_dirs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Sweep directories in the given paths: each path is a sweep, a date dir, or a multirun root.

    Searches at most two levels below each path. Raises :class:`NoSweepError` naming the first path
    that is missing or holds no sweep.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise NoSweepError(f"{raw}: no such directory")
        if not path.is_dir():
            raise NoSweepError(f"{raw}: not a directory")
        sweeps = _sweeps_below(path.resolve(), depth=2)
        if not sweeps:
            raise NoSweepError(
                f"{raw}: no sweep found (expected {MULTIRUN_FILE}, {RESULTS_FILE} or numbered job "
                f"directories with {HYDRA_DIR}/, here or in its subdirectories)"
            )
        found.extend(s for s in sweeps if s not in found)
    return found


def _sweeps_below(path: Path, depth: int) -> list[Path]:
    if is_sweep_dir(path):
        return [path]
    if depth == 0:
        return []
    out: list[Path] = []
    for child in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        out.extend(_sweeps_below(child, depth - 1))
    return out


def sweep_labels(sweep_dirs: Sequence[Path]) -> list[str]:
    """Short unique labels: ``<date>/<time>`` (the last two path parts), longer if needed."""
    n = 2
    while True:
        labels = ["/".join(p.parts[-n:]) for p in sweep_dirs]
        if len(set(labels)) == len(labels) or n >= max(len(p.parts) for p in sweep_dirs):
            return labels
        n += 1


# --------------------------------------------------------------------------- small readers


def read_yaml(path: Path) -> Any:
    """Parse a YAML file with the C loader when available."""
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_YamlLoader)


def parse_override_value(text: str) -> Any:
    """Value of a ``key=value`` override, as Hydra's grammar reads a plain (non-sweep) value.

    A fast path for bulk reading: ints, floats (``1e-05``, ``inf``), ``true``/``false``,
    ``null``; quoted strings, lists and dicts via YAML; anything else is the string itself.
    """
    s = text.strip()
    if s == "":
        return ""
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        pass
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    if s[0] in "'\"[{":
        try:
            return yaml.load(s, Loader=_YamlLoader)
        except yaml.YAMLError:
            return s
    return s


def split_override(override: str) -> tuple[str, str, str]:
    """``(prefix, key, value_text)`` of an override string: ``+a.b=3`` -> ``("+", "a.b", "3")``."""
    prefix = ""
    for p in ("++", "+", "~"):
        if override.startswith(p):
            prefix = p
            override = override[len(p) :]
            break
    key, sep, value = override.partition("=")
    return prefix, key.strip(), value if sep else ""


def is_sweep_only_override(override: str) -> bool:
    """True for overrides that configure the sweep, not the trained agent (``hpo=``, ``hydra.*``)."""
    _, key, _ = split_override(override)
    group = key.split("@", 1)[0]
    if group == "hydra" or group.startswith(("hydra.", "hydra/")):
        return True
    return group in SWEEP_ONLY_GROUPS


def rerun_overrides(job_overrides: Sequence[str]) -> list[str]:
    """A job's task overrides minus the sweep-only ones: what re-runs the trial as a single run."""
    return [o for o in job_overrides if not is_sweep_only_override(o)]


# --------------------------------------------------------------------------- sweep level


def _spec_from_results(name: str, raw: Any) -> ParamSpec:
    if not isinstance(raw, Mapping) or "type" not in raw:
        raise ValueError(f"search_space[{name}] is not a mapping with a 'type'")
    kind = str(raw["type"])
    if kind == "categorical":
        return ParamSpec(name, "categorical", choices=tuple(raw.get("choices") or ()))
    if kind not in ("float", "int"):
        raise ValueError(f"search_space[{name}] has unknown type {kind!r}")
    return ParamSpec(
        name,
        kind,
        low=float(raw["low"]),
        high=float(raw["high"]),
        log=bool(raw.get("log", False)),
        step=None if raw.get("step") is None else float(raw["step"]),
    )


def _specs_from_sweep_overrides(overrides: Sequence[str]) -> tuple[dict[str, ParamSpec], dict[str, Any]]:
    """Search space and fixed params from sweep-grammar overrides, as the Optuna sweeper maps them."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    specs: dict[str, ParamSpec] = {}
    fixed: dict[str, Any] = {}
    parser = OverridesParser.create()
    for line in overrides:
        try:
            ov = parser.parse_override(line)
        except Exception:  # noqa: BLE001 - an unparsable override is skipped, the report goes on
            continue
        key = ov.key_or_group
        if ov.is_delete() or is_sweep_only_override(line) or "." not in key and not ov.is_sweep_override():
            continue
        value = ov.value()
        if isinstance(value, ChoiceSweep) or (isinstance(value, RangeSweep) and value.shuffle):
            specs[key] = ParamSpec(key, "categorical", choices=tuple(ov.sweep_iterator()))
        elif isinstance(value, RangeSweep):
            is_int = all(isinstance(v, int) for v in (value.start, value.stop, value.step))
            specs[key] = ParamSpec(
                key,
                "int" if is_int else "float",
                float(value.start),
                float(value.stop),
                step=float(value.step),
            )
        elif isinstance(value, IntervalSweep):
            is_int = isinstance(value.start, int) and isinstance(value.end, int)
            specs[key] = ParamSpec(
                key,
                "int" if is_int else "float",
                float(value.start),
                float(value.end),
                log="log" in value.tags,
            )
        elif not ov.is_sweep_override():
            fixed[key] = value
    return specs, fixed


def read_sweep_info(path: Path, name: str) -> SweepInfo:
    """Sweep-level facts from ``optimization_results.yaml``, falling back to ``multirun.yaml``."""
    info = SweepInfo(name=name, path=path)
    multirun: Mapping[str, Any] = {}
    if (path / MULTIRUN_FILE).is_file():
        try:
            loaded = read_yaml(path / MULTIRUN_FILE)
            if not isinstance(loaded, Mapping):
                raise ValueError("not a mapping")
            multirun = loaded
        except Exception as e:  # noqa: BLE001
            info.problems.append(f"{MULTIRUN_FILE} unreadable: {_one_line(e)}")
    hydra_node = multirun.get("hydra") if isinstance(multirun.get("hydra"), Mapping) else {}
    overrides_node = hydra_node.get("overrides") if isinstance(hydra_node.get("overrides"), Mapping) else {}
    task = overrides_node.get("task") or []
    info.task_overrides = tuple(str(o) for o in task) if isinstance(task, list) else ()
    model_node = multirun.get("model")
    if isinstance(model_node, Mapping) and model_node.get("name"):
        info.model = str(model_node["name"])

    results: Mapping[str, Any] = {}
    if (path / RESULTS_FILE).is_file():
        try:
            loaded = read_yaml(path / RESULTS_FILE)
            if not isinstance(loaded, Mapping):
                raise ValueError(f"expected a mapping, got {type(loaded).__name__}")
            results = loaded
        except Exception as e:  # noqa: BLE001
            info.problems.append(f"{RESULTS_FILE} unreadable: {_one_line(e)}")
    elif (path / MULTIRUN_FILE).is_file():
        info.problems.append(f"no {RESULTS_FILE} (sweep running or interrupted?)")

    if results:
        info.study_name = _opt_str(results.get("study_name"))
        info.objective_metrics = _str_tuple(results.get("objective_metrics"))
        info.directions = _str_tuple(results.get("directions"))
        fixed = results.get("fixed_params")
        info.fixed_params = (
            {split_override(str(k))[1]: v for k, v in fixed.items()} if isinstance(fixed, Mapping) else {}
        )
        for key in ("best_trial", "best_value", "best_params", "n_trials", "counts", "solutions"):
            if key in results:
                info.reported[key] = results[key]
        space = results.get("search_space")
        if isinstance(space, Mapping):
            try:
                # Optuna names an added key as its override does (`+model.target_kl`); the
                # job's overrides and the table use the key itself.
                info.search_space = {
                    split_override(str(k))[1]: _spec_from_results(split_override(str(k))[1], v)
                    for k, v in space.items()
                }
                info.search_space_source = RESULTS_FILE
            except (ValueError, KeyError, TypeError) as e:
                info.problems.append(f"{RESULTS_FILE} search_space unusable: {_one_line(e)}")

    if not info.search_space and hydra_node:
        sweeper = hydra_node.get("sweeper") if isinstance(hydra_node.get("sweeper"), Mapping) else {}
        params = sweeper.get("params") if isinstance(sweeper.get("params"), Mapping) else {}
        lines = [f"{k}={v}" for k, v in params.items() if v is not None]
        # Command-line overrides win over the config's params, as in the sweeper.
        lines += [o for o in info.task_overrides if not is_sweep_only_override(o)]
        specs, fixed = _specs_from_sweep_overrides(lines)
        if specs:
            info.search_space = specs
            info.search_space_source = f"{MULTIRUN_FILE} ({HYDRA_OVERRIDES_PARAMS} and sweep overrides)"
            info.fixed_params = {k: v for k, v in fixed.items() if k in params} or info.fixed_params
    if not info.objective_metrics:
        objective = multirun.get("objective")
        if isinstance(objective, Mapping):
            info.objective_metrics = _str_tuple(objective.get("metric"))
            info.directions = _str_tuple(objective.get("direction"))
    return info


def _str_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return (str(value),)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _one_line(e: BaseException | str) -> str:
    text = str(e).strip().splitlines()
    msg = text[0] if text else ""
    if isinstance(e, BaseException):
        msg = f"{type(e).__name__}: {msg}" if msg else type(e).__name__
    return msg[:200]


_SQLITE_HEADER = b"SQLite format 3\x00"
_DB_STATES = {
    "COMPLETE": STATE_COMPLETE,
    "PRUNED": STATE_PRUNED,
    "FAIL": STATE_FAILED,
    "RUNNING": STATE_RUNNING,
    "WAITING": "waiting",
}


def read_study_db(path: Path, study_name: str | None = None) -> pd.DataFrame:
    """Trials of the persisted Optuna study (sqlite, no server): trial, db_state, db_value, job_num.

    Uses ``optuna.load_study``; raises ValueError with a one-line reason when the file is not a
    study database (it is never created or changed here: the SQLite header is checked first).
    """
    with open(path, "rb") as f:
        if f.read(16) != _SQLITE_HEADER:
            raise ValueError("not an SQLite database")
    import warnings

    import optuna

    storage = f"sqlite:///{path}"
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if study_name is None:
                names = [s.study_name for s in optuna.study.get_all_study_summaries(storage)]
                if len(names) != 1:
                    raise ValueError(f"{len(names)} studies in the file and no study name to choose one")
                study_name = names[0]
            trials = optuna.load_study(study_name=study_name, storage=storage).get_trials(deepcopy=False)
    except ValueError:
        raise
    except Exception as e:  # noqa: BLE001 - sqlalchemy/optuna errors become one line
        raise ValueError(_one_line(e)) from e
    finally:
        optuna.logging.set_verbosity(verbosity)
    rows = [
        {
            "trial": t.number,
            "db_state": _DB_STATES.get(t.state.name, t.state.name.lower()),
            "db_value": float(t.values[0]) if t.values else math.nan,
            "job_num": t.user_attrs.get("job_num"),
        }
        for t in trials
    ]
    return pd.DataFrame(rows, columns=["trial", "db_state", "db_value", "job_num"])


# --------------------------------------------------------------------------- job level


def _newest_mtime(path: Path) -> float:
    newest = 0.0
    stack = [str(path)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
    return newest or path.stat().st_mtime


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].strip()[:200] if lines else ""


def _float_or_nan(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _read_metrics(row: dict[str, Any], metrics: Mapping[str, Any], job_dir: Path, issues: list[str]) -> None:
    """Fill ``row`` from a parsed metrics.json (raises TypeError/ValueError when it is malformed)."""
    state = str(metrics.get("state"))
    row["state"] = state if state in (STATE_COMPLETE, STATE_PRUNED, STATE_FAILED) else STATE_CORRUPT
    if row["state"] == STATE_CORRUPT:
        issues.append(f"{METRICS_FILE} has unknown state {state!r}")
    trial = metrics.get("trial")
    if isinstance(trial, Mapping) and trial.get("number") is not None:
        row["trial"] = int(trial["number"])
        row["study"] = _opt_str(trial.get("study"))
    row["model"] = _opt_str(metrics.get("model"))
    objective = metrics.get("objective") if isinstance(metrics.get("objective"), Mapping) else {}
    values = objective.get("values")
    values = values if isinstance(values, list) else ([] if values is None else [values])
    for i, v in enumerate(values):
        row["objective" if i == 0 else f"objective_{i}"] = _float_or_nan(v)
    for k, v in (metrics.get("metrics") or {}).items():
        row[str(k)] = _float_or_nan(v)
    baselines = metrics.get("baselines") or {}
    for b in BASELINES:
        for k, v in (baselines.get(b) or {}).items():
            row[f"{b}/{k}"] = _float_or_nan(v)
    for k in ("timesteps", "seconds", "seed"):
        row[k] = _float_or_nan(metrics.get(k))
    if metrics.get("error"):
        row["error"] = _one_line(str(metrics["error"]))
    if row["state"] == STATE_FAILED and not row.get("error") and (job_dir / ERROR_FILE).is_file():
        row["error"] = _last_line(job_dir / ERROR_FILE)
    if row["state"] == STATE_COMPLETE and math.isnan(row.get("objective", math.nan)):
        issues.append("complete but no objective value")


def read_job(job_dir: Path, info: SweepInfo, now: float | None = None) -> dict[str, Any]:
    """One row of the trial table from one job directory (never raises for a broken directory)."""
    row: dict[str, Any] = {"sweep": info.name, "job_num": int(job_dir.name), "job_dir": str(job_dir)}
    issues: list[str] = []
    hydra_dir = job_dir / HYDRA_DIR
    has_hydra = hydra_dir.is_dir()
    overrides: list[str] = []
    if has_hydra:
        try:
            loaded = read_yaml(hydra_dir / "overrides.yaml")
            overrides = [str(o) for o in loaded] if isinstance(loaded, list) else []
        except FileNotFoundError:
            issues.append(f"no {HYDRA_DIR}/overrides.yaml")
        except Exception as e:  # noqa: BLE001
            issues.append(f"{HYDRA_DIR}/overrides.yaml unreadable: {_one_line(e)}")
    else:
        issues.append(f"no {HYDRA_DIR}/ (parameters unknown)")
    row["overrides"] = overrides

    metrics: Mapping[str, Any] | None = None
    metrics_path = job_dir / METRICS_FILE
    try:
        with open(metrics_path, encoding="utf-8") as f:
            loaded = json.load(f)
        if not isinstance(loaded, Mapping) or "state" not in loaded:
            raise ValueError("not a metrics object with a 'state'")
        metrics = loaded
    except FileNotFoundError:
        pass
    except (ValueError, UnicodeDecodeError) as e:
        row["state"] = STATE_CORRUPT
        issues.append(f"{METRICS_FILE} unreadable: {_one_line(e)}")

    if metrics is not None:
        try:
            _read_metrics(row, metrics, job_dir, issues)
        except (TypeError, ValueError, AttributeError) as e:
            row["state"] = STATE_CORRUPT
            issues.append(f"{METRICS_FILE} malformed: {_one_line(e)}")
    elif "state" not in row:
        if (job_dir / ERROR_FILE).is_file():
            row["state"] = STATE_FAILED
            row["error"] = _last_line(job_dir / ERROR_FILE)
            issues.append(f"no {METRICS_FILE}, {ERROR_FILE} present")
        else:
            age = (time.time() if now is None else now) - _newest_mtime(job_dir)
            row["state"] = STATE_RUNNING if age < RUNNING_WINDOW_SECONDS else STATE_INCOMPLETE
            issues.append(f"no {METRICS_FILE}")

    if row.get("trial") is None:
        row["trial"] = row["job_num"]
    if not row.get("model") and has_hydra:
        row["model"] = _model_from_config(hydra_dir / "config.yaml") or info.model

    values = {}
    for o in overrides:
        _, key, text = split_override(o)
        values[key] = text
    for p in info.search_space:
        if p in values:
            row[PARAM_PREFIX + p] = parse_override_value(values[p])
    if issues:
        row["issue"] = "; ".join(issues)
    return row


def _model_from_config(path: Path) -> str | None:
    try:
        cfg = read_yaml(path)
    except Exception:  # noqa: BLE001
        return None
    model = cfg.get("model") if isinstance(cfg, Mapping) else None
    return _opt_str(model.get("name")) if isinstance(model, Mapping) else None


def read_eval_curve(path: Path) -> tuple[list[str], list[list[float]]] | None:
    """Header and float rows of an ``eval_curve.csv``; None when missing or unreadable."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)
            rows = [[_float_or_nan(x) for x in r] for r in reader if len(r) == len(header)]
    except (OSError, StopIteration, csv.Error, UnicodeDecodeError):
        return None
    return header, rows


def read_equity(job_dir: str | os.PathLike[str]) -> pd.DataFrame | None:
    """The ``equity.csv`` of a job (columns per the contract), or None when missing/unreadable."""
    path = Path(job_dir) / EQUITY_FILE
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError):
        return None
    needed = {"segment", "agent", "buy_and_hold"}
    if not needed <= set(df.columns):
        return None
    if "timestamp" in df.columns:
        df["timestamp"] = pd.to_datetime(df["timestamp"], errors="coerce")
    return df


# --------------------------------------------------------------------------- the table


def load_sweep(
    path: Path, name: str | None = None, now: float | None = None
) -> tuple[SweepInfo, list[dict[str, Any]], pd.DataFrame]:
    """Sweep info, trial rows and long-format learning curves of one sweep directory."""
    path = Path(path)
    info = read_sweep_info(path, name or "/".join(path.parts[-2:]))
    job_dirs = sorted((p for p in path.iterdir() if _is_job_dir(p)), key=lambda p: int(p.name))
    rows = [_read_job_safely(j, info, now) for j in job_dirs]

    if not info.objective_metrics:
        # No sweep-level file said what the objective was: take it from the trials' metrics files.
        for j in job_dirs:
            try:
                with open(j / METRICS_FILE, encoding="utf-8") as f:
                    obj = json.load(f).get("objective") or {}
                info.objective_metrics = _str_tuple(obj.get("metrics"))
                info.directions = _str_tuple(obj.get("directions"))
                break
            except Exception:  # noqa: BLE001
                continue
    if not info.directions:
        info.directions = ("maximize",) * max(1, len(info.objective_metrics))
        info.problems.append("objective direction unknown, assumed maximize")
    if not info.model:
        models = Counter(r.get("model") for r in rows if r.get("model"))
        info.model = models.most_common(1)[0][0] if models else None
    if not info.study_name:
        studies = Counter(r.get("study") for r in rows if r.get("study"))
        info.study_name = studies.most_common(1)[0][0] if studies else None
    for r in rows:
        if not r.get("model"):
            r["model"] = info.model
    if (path / STUDY_DB_FILE).is_file():
        try:
            info.study_db = read_study_db(path / STUDY_DB_FILE, info.study_name)
        except (OSError, ValueError) as e:
            info.problems.append(f"{STUDY_DB_FILE} unreadable: {_one_line(str(e))}")

    return info, rows, _read_curves(info.name, rows)


def _read_job_safely(job_dir: Path, info: SweepInfo, now: float | None) -> dict[str, Any]:
    """:func:`read_job`, and a 'corrupt' row instead of an exception for what it did not foresee."""
    try:
        return read_job(job_dir, info, now)
    except Exception as e:  # noqa: BLE001 - one odd directory must not stop the report
        return {
            "sweep": info.name,
            "job_num": int(job_dir.name),
            "trial": int(job_dir.name),
            "job_dir": str(job_dir),
            "state": STATE_CORRUPT,
            "model": info.model,
            "overrides": [],
            "issue": f"unreadable job directory: {_one_line(e)}",
        }


def _read_curves(sweep: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The learning curves of a sweep's jobs in long format (sweep, trial, state, then the CSV's columns).

    Built column by column (no DataFrame per trial): thousands of small files stay fast.
    """
    columns: dict[str, list[Any]] = {"sweep": [], "trial": [], "state": []}
    n = 0
    for r in rows:
        curve = read_eval_curve(Path(r["job_dir"]) / EVAL_CURVE_FILE)
        r["n_evals"] = 0 if curve is None else len(curve[1])
        if not r["n_evals"]:
            continue
        header, values = curve  # type: ignore[misc]
        k = len(values)
        columns["sweep"] += [sweep] * k
        columns["trial"] += [r["trial"]] * k
        columns["state"] += [r["state"]] * k
        for j, name in enumerate(header):
            if name in ("sweep", "trial", "state"):
                continue
            column = columns.setdefault(name, [math.nan] * n)
            column.extend(v[j] for v in values)
        n += k
        for column in columns.values():
            if len(column) < n:
                column.extend([math.nan] * (n - len(column)))
    return pd.DataFrame(columns)


def load_multirun(paths: Iterable[str | os.PathLike[str]]) -> Multirun:
    """Find the sweeps in ``paths`` and read them (raises :class:`NoSweepError`)."""
    sweep_dirs = find_sweep_dirs(paths)
    labels = sweep_labels(sweep_dirs)
    now = time.time()
    infos: list[SweepInfo] = []
    rows: list[dict[str, Any]] = []
    curves: list[pd.DataFrame] = []
    for path, label in zip(sweep_dirs, labels):
        info, sweep_rows, sweep_curves = load_sweep(path, label, now)
        infos.append(info)
        rows.extend(sweep_rows)
        curves.append(sweep_curves)
    return Multirun(
        sweeps=infos, trials=tidy_trials(rows, infos), curves=pd.concat(curves, ignore_index=True)
    )


def load_sweeps(paths: Iterable[str | os.PathLike[str]]) -> pd.DataFrame:
    """The tidy trial table of every sweep found in ``paths``: one row per job directory."""
    return load_multirun(paths).trials


FIRST_COLUMNS = ("sweep", "model", "trial", "job_num", "state", "objective")
LAST_COLUMNS = ("timesteps", "seconds", "seed", "n_evals", "study", "error", "issue", "job_dir", "overrides")


def tidy_trials(rows: list[dict[str, Any]], infos: Sequence[SweepInfo]) -> pd.DataFrame:
    """Rows -> one DataFrame with a stable column order.

    Order: identity and state, objective(s), parameters, metrics by segment, baselines, bookkeeping.
    """
    df = pd.DataFrame.from_records(rows)
    for c in FIRST_COLUMNS + LAST_COLUMNS:
        if c not in df.columns:
            df[c] = (
                pd.Series([None] * len(df), dtype=object)
                if c in ("error", "issue", "study", "model")
                else math.nan
            )
    objectives = sorted(
        (c for c in df.columns if c.startswith("objective_")), key=lambda c: int(c.split("_")[1])
    )
    params: list[str] = []
    for info in infos:
        params.extend(c for c in info.param_columns if c not in params)
    for c in params:
        if c not in df.columns:
            df[c] = math.nan
    params += sorted(c for c in df.columns if c.startswith(PARAM_PREFIX) and c not in params)
    seg_metrics = [
        c for seg in ("val", "test", "train") for c in sorted(df.columns) if c.startswith(seg + "/")
    ]
    base = [c for b in BASELINES for c in sorted(df.columns) if c.startswith(b + "/")]
    taken = (
        set(FIRST_COLUMNS) | set(LAST_COLUMNS) | set(objectives) | set(params) | set(seg_metrics) | set(base)
    )
    other = [c for c in df.columns if c not in taken]
    order = list(FIRST_COLUMNS) + objectives + params + seg_metrics + base + other + list(LAST_COLUMNS)
    df = df[order]
    df["trial"] = df["trial"].astype("int64")
    df["job_num"] = df["job_num"].astype("int64")
    df["n_evals"] = df["n_evals"].fillna(0).astype("int64")
    df["state"] = pd.Categorical(df["state"], categories=list(STATES))
    for c in params:
        values = [r[c] for r in rows if r.get(c) is not None]
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            df[c] = df[c].astype("Int64")  # integer parameters stay integers beside missing values
    return df.sort_values(["sweep", "trial", "job_num"], kind="stable").reset_index(drop=True)
