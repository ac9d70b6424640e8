"""``python -m hpo_app --help``: the app's own help page, built from its config files.

Hydra renders ``hydra.help.template`` (set in ``conf/config.yaml``). The part of it that lists
the config groups is the interpolation ``${hpo_help_groups:${hydra:runtime.choices}}``, resolved
here: every option of every group of ``conf/``, with the first line of its file's leading comment
as its meaning and the option the command would use marked. The list is read from the files, so
it cannot drift from them; a test checks that every option has a meaning.
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
    joined = " ".join(lines)
    for end in (". ", ": `", "; "):
        if end in joined:
            joined = joined.split(end, 1)[0]
    return joined.rstrip(".")


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


def register() -> None:
    if not OmegaConf.has_resolver("hpo_help_groups"):
        OmegaConf.register_resolver("hpo_help_groups", groups_text)
