"""The command that re-runs a trial as a single run, checked with Hydra's compose API.

The job's task overrides (its ``.hydra/overrides.yaml``) minus the sweep-only ones (``hpo=``,
``scheduler=``, ``sampler=``, ``hydra.*``) are not always enough: a sweep preset (``conf/hpo/*.yaml``, ``# @package _global_``) also sets task
keys such as ``train.total_timesteps``, and dropping it would change the trained agent. So the
overrides are composed with the job's own config tree (``hydra.runtime.config_sources`` in its
``.hydra/hydra.yaml``), compared with the job's ``.hydra/config.yaml`` (what the trial really ran),
and every task key that differs is pinned with an explicit override. The result is composed again
to check that it gives the job's configuration; the summary says whether it was verified.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hpo_record.files import HYDRA_DIR

RERUN_PREFIX = "python -m hpo_app"
SWEEP_ONLY_GROUPS: tuple[str, ...] = ("hpo", "scheduler", "sampler")
"""Config groups that only configure a sweep; dropped from the re-run command with ``hydra``."""
_PLAIN = re.compile(r"^[A-Za-z_/\-\.\+\*\$%@?|:0-9][A-Za-z0-9_/\-\.\+\*\$%@?|:]*$")


@dataclass
class Rerun:
    """A re-run command: the kept overrides, the pinned ones, and how far it was checked."""

    overrides: list[str]
    pins: list[str] = field(default_factory=list)
    verified: bool = False
    status: str = ""

    @property
    def command(self) -> str:
        return " ".join([RERUN_PREFIX, *(shlex.quote(o) for o in [*self.overrides, *self.pins])])


def read_yaml(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def is_sweep_only(override: str) -> bool:
    """True for overrides that configure the sweep, not the trained agent (``hpo=``, ``hydra.*``)."""
    key = override.lstrip("+~").split("=", 1)[0].strip().split("@", 1)[0]
    return key == "hydra" or key.startswith(("hydra.", "hydra/")) or key in SWEEP_ONLY_GROUPS


def parse_override_value(text: str) -> Any:
    """A plain override value as Hydra reads it (ints, floats, booleans, null, quoted strings)."""
    s = text.strip()
    for convert in (int, float):
        try:
            return convert(s)
        except ValueError:
            pass
    if s.lower() in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[s.lower()]
    if s[:1] in ("'", '"', "[", "{"):
        try:
            return yaml.safe_load(s)
        except yaml.YAMLError:
            return s
    return s


def hydra_value(value: Any) -> str:
    """A Python value written in Hydra's override grammar (what ``key=<this>`` parses back to)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _PLAIN.match(text) and parse_override_value(text) == text:
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, Mapping) and node:
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


def _task_leaves(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Leaves of a task config, without the sweep-only groups (they do not change the agent)."""
    return {k: v for k, v in _flatten(cfg).items() if k.split(".", 1)[0] not in SWEEP_ONLY_GROUPS}


def config_differences(target: Mapping[str, Any], composed: Mapping[str, Any]) -> list[str]:
    """Overrides that turn ``composed`` into ``target`` (task keys only)."""
    want, have = _task_leaves(target), _task_leaves(composed)
    pins = []
    for key, value in want.items():
        if key not in have:
            pins.append(f"++{key}={hydra_value(value)}")
        elif have[key] != value or type(have[key]) is not type(value):
            pins.append(f"{key}={hydra_value(value)}")
    pins += [f"~{key}" for key in have if key not in want]
    return pins


def _config_source(hydra_cfg: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(schema, path, config_name) of the job's primary config, from its .hydra/hydra.yaml."""
    node = hydra_cfg.get("hydra", hydra_cfg)
    runtime = node.get("runtime") or {}
    name = (node.get("job") or {}).get("config_name")
    for source in runtime.get("config_sources") or []:
        if source.get("provider") == "main" and source.get("schema") in ("file", "pkg") and name:
            return str(source["schema"]), str(source["path"]), str(name)
    return None


def rerun_inputs(job_dir: str | Path) -> list[Any] | None:
    """What :func:`rerun_for_job` reads (for the report's cache): the job's ``.hydra`` files and
    the files of the config directory it composes with (None: a config file is being written)."""
    from .cache import Uncacheable, tree_stats

    hydra_dir = Path(job_dir) / HYDRA_DIR
    inputs: list[Any] = [str(job_dir)]
    for name in ("overrides.yaml", "config.yaml", "hydra.yaml"):
        try:
            inputs.append((hydra_dir / name).read_bytes())
        except OSError:
            inputs.append(None)
    try:
        source = _config_source(read_yaml(hydra_dir / "hydra.yaml") or {})
    except Exception:  # noqa: BLE001 - unreadable: rerun_for_job says so
        source = None
    inputs.append(source)
    folder = Path(source[1]) if source is not None and source[0] == "file" else None
    if source is not None and source[0] == "pkg":
        import importlib.util

        try:
            spec = importlib.util.find_spec(source[1].replace("/", "."))
            folder = Path(next(iter(spec.submodule_search_locations or []))) if spec else None
        except (ImportError, ValueError, StopIteration):
            folder = None
    if folder is not None and folder.is_dir():
        try:
            inputs.append(tree_stats(folder))
        except (OSError, Uncacheable):  # a config being edited: not cached
            return None
    return inputs


def rerun_for_job(job_dir: str | Path, verify: bool = True) -> Rerun | None:
    """The single-run command of a job, with pins and verified by composing when possible; None
    when the job has no readable ``.hydra/overrides.yaml``."""
    try:
        job_overrides = [str(o) for o in read_yaml(Path(job_dir) / HYDRA_DIR / "overrides.yaml")]
    except Exception:  # noqa: BLE001 - missing or unreadable: no command
        return None
    kept = [o for o in job_overrides if not is_sweep_only(o)]
    result = Rerun(overrides=kept)
    if not verify:
        result.status = "not checked"
        return result
    hydra_dir = Path(job_dir) / HYDRA_DIR
    try:
        target = read_yaml(hydra_dir / "config.yaml")
        source = _config_source(read_yaml(hydra_dir / "hydra.yaml") or {})
    except Exception as e:  # noqa: BLE001
        result.status = f"not checked: the job's .hydra files are unreadable ({type(e).__name__})"
        return result
    if source is None or not isinstance(target, Mapping):
        result.status = "not checked: the job's .hydra/hydra.yaml names no config directory"
        return result
    schema, path, name = source
    if schema == "file" and not Path(path).is_dir():
        result.status = f"not checked: its config directory {path} is not here"
        return result
    try:
        from hydra import compose, initialize_config_dir, initialize_config_module
        from omegaconf import OmegaConf

        import hpo_app.schema  # noqa: F401 - registers the schemas the app's configs start from

        init = (
            initialize_config_dir(config_dir=path)
            if schema == "file"
            else initialize_config_module(config_module=path)
        )
        with init:
            composed = OmegaConf.to_container(compose(name, overrides=kept), resolve=False)
            pins = config_differences(target, composed)  # type: ignore[arg-type]
            again = OmegaConf.to_container(compose(name, overrides=[*kept, *pins]), resolve=False)
    except Exception as e:  # noqa: BLE001 - the config tree changed since the sweep, etc.
        result.status = f"not verified: composing with {path} failed ({type(e).__name__}: {str(e)[:120]})"
        return result
    result.pins = pins
    left = config_differences(target, again)  # type: ignore[arg-type]
    if left:
        result.status = f"not verified: {len(left)} key(s) still differ from the job's config ({left[0]})"
        return result
    result.verified = True
    pinned = f", with {len(pins)} key(s) pinned that the sweep-only groups had set" if pins else ""
    result.status = f"verified: composes with {path} to the job's .hydra/config.yaml{pinned}"
    return result
