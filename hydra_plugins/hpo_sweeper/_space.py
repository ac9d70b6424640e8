"""The search space: Hydra sweep overrides in, Optuna distributions and a trial's overrides out.

The space is ``hydra.sweeper.params`` followed by the command line's overrides; of several
overrides of one key the last wins (``model.gamma=0.99`` pins a searched key,
``x=choice(1, 2)`` searches a fixed one). The grammar is the released sweeper's:
``choice(...)`` is categorical, ``range(a, b, step)`` an integer or stepped float range without
``b`` (as in Hydra and Python), ``interval(a, b)`` continuous, ``tag(log, interval(a, b))`` on a
log scale.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, ValueType
from optuna.distributions import BaseDistribution, CategoricalDistribution

from hpo_record.job import one_line

from hydra_plugins.hpo_sweeper import _private


class SearchSpaceError(ValueError):
    """A search space that cannot work; the message is one line naming the override."""


@dataclass(frozen=True)
class SearchSpace:
    distributions: dict[str, BaseDistribution]  # searched: name -> distribution
    fixed: dict[str, str]  # pinned: name -> value, as written
    passthrough: tuple[str, ...] = ()  # overrides passed to every job as they are (~key)

    def overrides(self, params: Mapping[str, Any]) -> list[str]:
        """A trial's overrides: its sampled values, then the fixed ones."""
        return [f"{name}={value}" for name, value in params.items()] + [
            f"{name}={value}" for name, value in self.fixed.items()
        ] + list(self.passthrough)

    def representative(self) -> list[str]:
        """Overrides of one plausible trial (first choice, low end), to check the config with."""
        return self.overrides({name: _representative(d) for name, d in self.distributions.items()})

    def extremes(self) -> list[list[str]]:
        """Overrides of the trials that, with ``representative()``, put every parameter at each
        of its choices and at both ends of its range: the k-th takes each parameter's k-th
        choice (its last, past the end) and every range's high end."""
        sizes = [len(d.choices) for d in self.distributions.values() if isinstance(d, CategoricalDistribution)]
        count = max([2, *sizes]) - 1
        return [self.overrides({name: _representative(d, k) for name, d in self.distributions.items()})
                for k in range(1, count + 1)]

    def grid(self) -> dict[str, list[Any]]:
        """The grid sampler's points; every parameter must be discrete."""
        continuous = [n for n, d in self.distributions.items() if not _is_discrete(d)]
        if continuous:
            raise SearchSpaceError(
                f"sampler=grid needs discrete parameters; {', '.join(continuous)} "
                f"{'is an interval' if len(continuous) == 1 else 'are intervals'} "
                "(use choice(...) or range(...), or another sampler)"
            )
        return {name: list(_private.grid_choices(d)) for name, d in self.distributions.items()}

    def describe(self) -> dict[str, dict[str, Any]]:
        """The space as plain data (for the results file)."""
        return {name: _describe(d) for name, d in self.distributions.items()}


def parse(params: Sequence[str], arguments: Sequence[str]) -> SearchSpace:
    """The space from the config's ``params`` and the command line's ``arguments``."""
    distributions: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    passthrough: list[str] = []
    for text, override in _last_wins(_parsed(list(params) + list(arguments))):
        if override.is_delete():
            passthrough.append(text)
            continue
        if override.value_type == ValueType.GLOB_CHOICE_SWEEP:
            raise SearchSpaceError(f"{text}: glob() is not a search space here: name the options with choice(a, b)")
        try:
            value = _private.create_optuna_distribution_from_override(override)
        except Exception as err:  # noqa: BLE001 - Hydra and Optuna raise several types
            raise SearchSpaceError(f"{text}: {one_line(err)}") from None
        name = override.get_key_element()
        if isinstance(value, BaseDistribution):
            if isinstance(value, CategoricalDistribution) and not value.choices:
                raise SearchSpaceError(f"{name}: empty choice()")
            distributions[name] = value
        else:
            fixed[name] = value
    return SearchSpace(distributions, fixed, tuple(passthrough))


def last_wins(overrides: list[str]) -> list[str]:
    """Of several overrides of one key, keep the last (in the position of the last)."""
    return [text for text, _ in _last_wins(_parsed(overrides))]


def _parsed(overrides: list[str]) -> list[tuple[str, Override]]:
    """Each override with its parse, one at a time so that an error names its override."""
    parser = OverridesParser.create()
    out = []
    for text in overrides:
        try:
            (override,) = parser.parse_overrides([text])
        except Exception as err:  # noqa: BLE001 - the parser raises several types
            cause = err.__cause__ or err
            raise SearchSpaceError(f"{text}: {one_line(cause)}") from None
        out.append((text, override))
    return out


def _last_wins(parsed: list[tuple[str, Override]]) -> list[tuple[str, Override]]:
    by_key: dict[str, tuple[str, Override]] = {}
    for text, override in parsed:
        by_key.pop(override.key_or_group, None)
        by_key[override.key_or_group] = (text, override)
    return list(by_key.values())


def grid_size(grid: Mapping[str, Sequence[Any]]) -> int:
    return math.prod(len(v) for v in grid.values())


def _is_discrete(dist: BaseDistribution) -> bool:
    return isinstance(dist, CategoricalDistribution) or getattr(dist, "step", None) is not None


def _representative(dist: BaseDistribution, k: int = 0) -> Any:
    """The k-th point of a parameter: its k-th choice (the last, past the end), its low end for
    k = 0 and its high end otherwise."""
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[min(k, len(dist.choices) - 1)]
    return getattr(dist, "low" if k == 0 else "high")


def _describe(dist: BaseDistribution) -> dict[str, Any]:
    if isinstance(dist, CategoricalDistribution):
        return {"type": "categorical", "choices": [_plain(c) for c in dist.choices]}
    out: dict[str, Any] = {
        "type": "int" if type(dist).__name__.startswith("Int") else "float",
        "low": _plain(dist.low),  # type: ignore[attr-defined]
        "high": _plain(dist.high),  # type: ignore[attr-defined]
        "log": bool(getattr(dist, "log", False)),
    }
    step = getattr(dist, "step", None)
    if step is not None:
        out["step"] = _plain(step)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def quoted(value: str) -> str:
    """``value`` as a quoted string of Hydra's override grammar (no interpolation inside)."""
    escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)  # Hydra: \' is a quote
    escaped = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, escaped)  # and \\ before the closing one
    return "'" + escaped.replace("${", "\\${") + "'"  # OmegaConf: \${ is not interpolated
