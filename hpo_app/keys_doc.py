"""The table of every config key, read from the schema: ``--help`` shows it for the command's options,
and docs/configuration.md is this module's output (``python -m hpo_app.keys_doc > docs/configuration.md``;
a test fails when the page and the schema differ)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from omegaconf import MISSING

from hpo_app.model_schema import MODEL_SCHEMAS
from hpo_app.rules import RULE, Rule, shown
from hpo_app.schema import GROUP_SCHEMAS, AppConf


@dataclass(frozen=True)
class KeyRow:
    key: str  # dotted, as on the command line
    default: Any
    rule: Rule

    @property
    def default_text(self) -> str:
        if self.default == MISSING:
            return "(set by the option)"
        return shown(self.default).strip("'") if not isinstance(self.default, list) else str(self.default)


def _default(f: dataclasses.Field) -> Any:  # type: ignore[type-arg]
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def rows(schema: type, prefix: str) -> Iterator[KeyRow]:
    """The keys of one schema dataclass (``name`` and nested schemas left out)."""
    for f in dataclasses.fields(schema):
        if RULE in f.metadata:
            yield KeyRow(f"{prefix}.{f.name}" if prefix else f.name, _default(f), f.metadata[RULE])


def app_rows() -> Iterator[KeyRow]:
    """Every key of the run but the model's, in the order of ``conf/config.yaml``."""
    yield from rows(AppConf, "")
    for group, schema in GROUP_SCHEMAS.items():
        yield from rows(schema, group)


def model_rows(name: str) -> Iterator[KeyRow]:
    yield from rows(MODEL_SCHEMAS[name], "model")


def _table(items: Iterator[KeyRow]) -> list[str]:
    lines = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for row in items:
        lines.append(f"| `{row.key}` | `{row.default_text}` | {row.rule.allowed()} | {row.rule.what} |")
    return lines


def markdown() -> str:
    """docs/configuration.md."""
    out = [
        "# Configuration reference",
        "",
        "Every key a run reads, with its default, what it may be and what it means, generated from the",
        "schema (`hpo_app/schema.py`, `hpo_app/model_schema.py`) by `python -m hpo_app.keys_doc >",
        "docs/configuration.md`; a test fails when this page and the schema differ. Set any key on the",
        "command line (`python -m hpo_app env.cost_bps=2`), or in a config file of your own",
        "(`--config-dir my_conf`). The options of each group (`data=csv`, `model=dqn`, `hpo=standard`...)",
        "override some of these defaults: `python -m hpo_app --help` lists the options, `--cfg job` prints",
        "the values a command would use. A value outside its range stops the run before any training",
        "with one line naming the key; a value of the wrong type is refused by Hydra, naming the key.",
        "",
        "## The run",
        "",
        *_table(app_rows()),
    ]
    for name, schema in MODEL_SCHEMAS.items():
        doc = (schema.__doc__ or "").strip()
        out += ["", f"## `model={name}`: {doc}", "",
                "`null`: stable-baselines3's own default (the argument is not passed).", "",
                *_table(model_rows(name))]
    out += ["", "The sweeper's keys (`hydra.sweeper.*`): [sweeper.md](sweeper.md).", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(), end="")
