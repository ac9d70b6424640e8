"""``python -m hpo_app --help``: the app's own help page, built from its config files and the schema.

Hydra renders ``hydra.help.template`` (set in ``conf/config.yaml``). The part of it that lists
the config groups is the interpolation ``${hpo_help_groups:${hydra:runtime.choices}}``, resolved
here: every option of every group of ``conf/``, with the first line of its file's leading comment
as its meaning and the option the command would use marked. The list is read from the files, so
it cannot drift from them; a test checks that every option has a meaning. The keys and their
meanings (``${hpo_help_keys:...}``) are read from the schema the same way.
"""

from __future__ import annotations

import importlib.resources
import textwrap
from collections.abc import Mapping
from typing import Any

from omegaconf import OmegaConf

CONF_PACKAGE = "hpo_app.conf"

# The groups in the order a user meets them, each with what choosing it means.
GROUPS = {
    "model": "the agent (stable-baselines3)",
    "data": "the market",
    "env": "the trading environment (observation, costs, positions, regularization)",
    "validation": "how the validation objective is measured",
    "objective": "the validation metric a run returns and a sweep optimizes",
    "hpo": "a sweep preset (trials, budget, pruning); use with -m",
    "search_space": "the parameters a sweep searches (follows model by default)",
    "sampler": "how Optuna chooses the next trial",
    "scheduler": "pruning: stop unpromising trials early",
    "logger": "experiment tracking (TensorBoard, MLflow)",
}

WIDTH = 100


def meaning(text: str) -> str:
    """The first sentence of a config file's leading comment (past ``# @package``), one line."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        body = stripped.lstrip("#").strip()
        if body.startswith("@package"):
            continue
        if not body and lines:
            break
        lines.append(body)
    return _first_sentence(" ".join(lines)).rstrip(".")


_ABBREVIATIONS = ("al.", "e.g.", "i.e.", "etc.", "vs.")


def _first_sentence(text: str) -> str:
    """``text`` up to its first ``. ``, ``; `` or ``: ` `` outside parentheses (never inside an
    abbreviation such as "et al.")."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth > 0:
            continue
        if text.startswith((". ", "; ", ": `"), i) and not text[: i + 1].endswith(_ABBREVIATIONS):
            return text[:i]
    return text


def options() -> dict[str, dict[str, str]]:
    """``{group: {option: meaning}}`` for the groups of :data:`GROUPS`, from the shipped files."""
    root = importlib.resources.files(CONF_PACKAGE)
    out: dict[str, dict[str, str]] = {}
    for group in GROUPS:
        files = sorted((p for p in root.joinpath(group).iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name)
        out[group] = {p.name[: -len(".yaml")]: meaning(p.read_text(encoding="utf-8")) for p in files}
    return out


def groups_text(choices: Any = None) -> str:
    """The groups and their options as help text; ``choices`` marks the options in use."""
    chosen: Mapping[str, Any] = {}
    if choices is not None:
        chosen = OmegaConf.to_container(choices) if OmegaConf.is_config(choices) else dict(choices)  # type: ignore[assignment]
    lines = []
    for group, opts in options().items():
        lines.append(f"  {group}: {GROUPS[group]}")
        width = max(len(o) for o in opts)
        for option, text in opts.items():
            mark = "*" if chosen.get(group) == option else " "
            head = f"    {mark} {option.ljust(width)}  "
            wrapped = textwrap.wrap(text or "-", WIDTH - len(head)) or ["-"]
            lines.append(head + wrapped[0])
            lines += [" " * len(head) + w for w in wrapped[1:]]
    return "\n".join(lines)


def keys_text(choices: Any = None) -> str:
    """Every key of the run (the chosen model's) and its meaning, from the schema (``hpo_app.keys_doc``)."""
    from hpo_app.keys_doc import app_rows, model_rows

    chosen: Mapping[str, Any] = {}
    if choices is not None:
        chosen = OmegaConf.to_container(choices) if OmegaConf.is_config(choices) else dict(choices)  # type: ignore[assignment]
    model = str(chosen.get("model") or "ppo")
    rows = [*app_rows(), *(model_rows(model) if model in ("ppo", "dqn", "a2c") else [])]
    width = max(len(r.key) for r in rows)
    lines = []
    for row in rows:
        head = f"  {row.key.ljust(width)}  "
        wrapped = textwrap.wrap(row.rule.what, WIDTH - len(head)) or ["-"]
        lines.append(head + wrapped[0])
        lines += [" " * len(head) + w for w in wrapped[1:]]
    return "\n".join(lines)


def register() -> None:
    if not OmegaConf.has_resolver("hpo_help_groups"):
        OmegaConf.register_resolver("hpo_help_groups", groups_text)
    if not OmegaConf.has_resolver("hpo_help_keys"):
        OmegaConf.register_resolver("hpo_help_keys", keys_text)
