"""What a config value may be, written beside its key: :func:`key` declares a schema field with its
default, its meaning and its range (a :class:`Rule`), which :mod:`hpo_app.checks`, ``--help`` and
docs/configuration.md read back. ``hpo_app.schema`` and ``hpo_app.model_schema`` are the only users.

The ranges are the libraries' own: stable-baselines3's (PPO asserts ``batch_size > 1`` and a
rollout of more than one step for its advantage normalization; ``clip_range_vf`` must be positive
or null; DQN's ``train_freq`` must be a positive integer; probabilities, discount factors and GAE
lambdas are in [0, 1]), torch's (learning rates >= 0; a zero rate trains nothing, so > 0 here) and
this project's (fractions of the data, a stationary AR(1) market, costs >= 0, networks of at most 16
layers of 4,096 units, learning rates of at most 1). A value outside them
would otherwise come back from deep inside torch as a traceback, or, worse, train silently (a
discount factor above 1 gives NaN logits; a negative buffer size was accepted). Types are
OmegaConf's: a structured config refuses ``model.n_steps=2.5`` when Hydra composes it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RULE = "rule"  # the metadata key of a schema field that holds its Rule


@dataclass(frozen=True)
class Rule:
    """What a value may be, and what it means: a number (``integer``: a whole one) in a range,
    a boolean, one of some words, or anything (``kind="any"``: checked by its own code)."""

    what: str  # the value's meaning, for people: one line
    kind: str = "number"  # number, integer, bool, choice, text, any
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself excluded
    high_open: bool = False
    optional: bool = False  # null allowed
    also: tuple[float, ...] = ()  # values allowed outside the range (e.g. -1: "as many as collected")
    options: tuple[str, ...] = ()  # kind "choice": the allowed words
    pattern: str = ""  # kind "text": a regular expression the whole value must match (empty: any text)
    shape: str = ""  # kind "text" with a pattern: the allowed values, for people

    def allowed(self) -> str:
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(self.options)
        if self.kind == "text" and self.shape:
            return self.shape + (" (or null)" if self.optional else "")
        if self.kind in ("text", "any"):
            return "a value" + (" (or null)" if self.optional else "")
        noun = "an integer" if self.kind == "integer" else "a number"
        if self.low is not None and self.high is not None:
            text = (f"{noun} in {'(' if self.low_open else '['}{number(self.low)}, "
                    f"{number(self.high)}{')' if self.high_open else ']'}")
        elif self.low is not None:
            text = f"{noun} {'>' if self.low_open else '>='} {number(self.low)}"
        elif self.high is not None:
            text = f"{noun} {'<' if self.high_open else '<='} {number(self.high)}"
        else:
            text = noun
        extras = [number(v) for v in self.also] + (["null"] if self.optional else [])
        return text + (f" (or {' or '.join(extras)})" if extras else "")

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if self.kind == "any":
            return True
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "choice":
            return value in self.options
        if self.kind == "text":
            return isinstance(value, str) and (not self.pattern or re.fullmatch(self.pattern, value) is not None)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.kind == "integer" and not isinstance(value, int):
            return False
        if value in self.also:
            return True
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))


def key(default: Any, rule: Rule) -> Any:
    """A schema field: its default (a list is copied per instance) and its rule."""
    if isinstance(default, list):
        copy: Callable[[], Any] = lambda: list(default)  # noqa: E731
        return dataclasses.field(default_factory=copy, metadata={RULE: rule})
    return dataclasses.field(default=default, metadata={RULE: rule})


def rules_of(schema: type) -> dict[str, Rule]:
    """``{field: rule}`` of a schema dataclass (fields without a rule are left out)."""
    return {f.name: f.metadata[RULE] for f in dataclasses.fields(schema) if RULE in f.metadata}


def default_of(schema: type, name: str) -> Any:
    """The schema's default of field ``name`` (``dataclasses.MISSING`` when it has none)."""
    for f in dataclasses.fields(schema):
        if f.name == name:
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            return f.default
    raise KeyError(name)


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def shown(value: Any) -> str:
    """A value as a user would write it on the command line (4.0 stays 4.0)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, str) else str(value)


def fault(key_name: str, value: Any, rule: Rule) -> str:
    return f"{key_name}={shown(value)}: must be {rule.allowed()} ({rule.what})"
