"""What makes a sweep the same sweep: recorded when its study starts, compared on resume.

A resumed sweep must ask the same question as the one it continues, or its trials stop being
comparable: another model, objective, search space or market would be mixed into one study and
one report. The identity is:

- ``config``: every key of a representative trial's composed config (the application's part, not
  ``hydra``), flattened to ``a.b.c`` and JSON-encoded, minus the searched keys (their values
  differ by trial) and the keys of ``hydra.sweeper.resume_ignore`` (a key, or a prefix of keys:
  what a user may change between two runs of one sweep, such as the CPUs a trial takes);
- ``space``: each searched parameter's distribution (but those of ``resume_ignore``: widening a
  range that the best trials press against is a change a user may mean);
- ``directions`` and ``metrics``: the objective;
- ``ignore``: the ``resume_ignore`` list it was made with. A resume compares only what neither
  list ignores: a key added to ``resume_ignore`` on resume is ignored in the recorded identity
  too, and a key the sweep ignored stays ignored when a resume's list leaves it out.

It is stored in the study's user attribute ``sweep_identity`` (``hpo_record.study.ATTR_IDENTITY``) as plain data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

MAX_SHOWN = 3  # differences named in the one-line refusal


def identity(config: DictConfig, space: Any, directions: list[str], metrics: list[str],
             ignore: Iterable[str]) -> dict[str, Any]:
    task = {k: v for k, v in config.items() if k != "hydra"}
    try:
        plain = OmegaConf.to_container(OmegaConf.create(task), resolve=True)
    except Exception:  # noqa: BLE001 - an interpolation only a job can resolve: compare it as written
        plain = OmegaConf.to_container(OmegaConf.create(task), resolve=False)
    searched = {_key(name) for name in space.distributions}
    prefixes = [str(p) for p in ignore]
    kept = _kept(prefixes)
    flat = {
        key: json.dumps(_number(value), sort_keys=True)
        for key, value in _flatten(plain)
        if key not in searched and kept(key)
    }
    return {
        "config": flat,
        "space": {_key(name): _describe(d) for name, d in space.describe().items() if kept(_key(name))},
        "directions": list(directions),
        "metrics": list(metrics),
        "ignore": prefixes,
    }


def _kept(prefixes: Iterable[str]) -> Any:
    prefixes = list(prefixes)

    def kept(key: str) -> bool:
        return not any(key == p or key.startswith(p + ".") for p in prefixes)

    return kept


def differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """How ``current`` differs from ``recorded``, one short phrase each: the objective, then
    changed values, then the search space, then keys that only one of them has. Keys under
    either side's ``ignore`` list are left out of both."""
    kept = _kept([*(current.get("ignore") or []), *(recorded.get("ignore") or [])])
    out = []
    if recorded.get("directions") != current.get("directions") or recorded.get("metrics") != current.get("metrics"):
        out.append(f"objective {_objective(current)} here, {_objective(recorded)} in the sweep")
    old = {k: v for k, v in (recorded.get("config") or {}).items() if kept(k)}
    new = {k: v for k, v in (current.get("config") or {}).items() if kept(k)}
    out += [f"{key} is {_show(new[key])} here, {_show(old[key])} in the sweep"
            for key in sorted(set(old) & set(new)) if old[key] != new[key]]
    old_space = {k: v for k, v in (recorded.get("space") or {}).items() if kept(k)}
    new_space = {k: v for k, v in (current.get("space") or {}).items() if kept(k)}
    for name in sorted(set(old_space) | set(new_space)):
        if name not in old_space:
            out.append(f"{name} is searched here, not in the sweep")
        elif name not in new_space:
            out.append(f"{name} is searched in the sweep, not here")
        elif old_space[name] != new_space[name]:
            out.append(f"{name} is searched in {new_space[name]} here, {old_space[name]} in the sweep")
    out += [f"{key}={_show(new[key])} is set here, not in the sweep" for key in sorted(set(new) - set(old))]
    out += [f"{key}={_show(old[key])} is in the sweep, not here" for key in sorted(set(old) - set(new))]
    return out


def refusal(differ: list[str], where: str, study_name: str) -> str:
    shown = "; ".join(differ[:MAX_SHOWN]) + (f"; and {len(differ) - MAX_SHOWN} more" if len(differ) > MAX_SHOWN else "")
    return (
        f"hydra.sweeper.resume=true: this command is not the sweep of study {study_name!r} in {where}: "
        f"{shown}. Resume with the sweep's own settings, start a new sweep (another hydra.sweep.dir), "
        "or, if the change is meant, add the key to hydra.sweeper.resume_ignore"
    )


def _objective(ident: Mapping[str, Any]) -> str:
    metrics = ident.get("metrics") or ["value"] * len(ident.get("directions") or [])
    return ", ".join(f"{d} {m}" for d, m in zip(ident.get("directions") or [], metrics))


def _show(encoded: str) -> str:
    value = json.loads(encoded)
    return value if isinstance(value, str) else json.dumps(value)


def _number(value: Any) -> Any:
    """``0`` and ``0.0`` are one value (the command line may write either)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _key(name: str) -> str:
    return name.lstrip("+~")


def _describe(described: Any) -> str:
    if isinstance(described, Mapping):
        if "choices" in described:
            return "choice(" + ", ".join(str(c) for c in described["choices"]) + ")"
        scale = ", log" if described.get("log") else ""
        step = f", step {described['step']}" if described.get("step") not in (None, 1) else ""
        return f"[{described.get('low')}, {described.get('high')}]{scale}{step}"
    return str(described)


def _flatten(value: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, value
