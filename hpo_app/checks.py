"""Every value a run is built from, checked before any training against the rules written beside
its key in the schema (``hpo_app.schema``, ``hpo_app.model_schema``): one line naming the key, the
value and what is allowed. The rules that tie several keys together are here, each once.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hpo_app.model_schema import MODEL_SCHEMAS, ModelConf
from hpo_app.rules import fault, number, rules_of
from hpo_app.schema import SEED_MAX, AppConf
from hpo_app.specs import ConfigError


def check_node(conf: Any, prefix: str) -> None:
    """Raise ConfigError for the first field of schema instance ``conf`` outside its rule."""
    for name, rule in rules_of(type(conf)).items():
        value = getattr(conf, name)
        if name == "train_freq" and isinstance(value, (list, tuple)):  # DQN: [n, step] or [n, episode]
            if not (len(value) == 2 and rule.accepts(value[0]) and value[1] in ("step", "episode")):
                raise ConfigError(fault(f"{prefix}.{name}", list(value), rule))
        elif not rule.accepts(value):
            raise ConfigError(fault(f"{prefix}.{name}" if prefix else name, value, rule))


def check_model(conf: ModelConf) -> None:
    """The model's values against its algorithm's schema."""
    if conf.name not in MODEL_SCHEMAS:
        raise ConfigError(f"model.name={conf.name!r}: unknown algorithm (choose from {', '.join(MODEL_SCHEMAS)})")
    check_node(conf, "model")


def check_run(*, seed: int, data: Any, env: Any, train: Any, validation: Any, resources: Any,
              model: ModelConf) -> None:
    """Every value of one run, and the rules between keys."""
    seed_rule = rules_of(AppConf)["seed"]
    if not seed_rule.accepts(seed):
        raise ConfigError(fault("seed", seed, seed_rule))
    for prefix, node in (("train", train), ("resources", resources), ("data", data), ("env", env),
                         ("validation", validation)):
        check_node(node, prefix)
    check_model(model)
    from hpo_app.features import feature_columns

    feature_columns(env.features)
    if seed + train.n_seeds - 1 > SEED_MAX:
        raise ConfigError(f"seed={seed}, train.n_seeds={train.n_seeds}: the runs' seeds seed ... seed+n_seeds-1 "
                          "must stay below 2**32")
    if data.source == "csv" and not data.path:
        raise ConfigError("data.path: required with data=csv (data.path=prices.csv)")
    for name in ("n_bars", "seed"):
        if data.source != "csv" and getattr(data, name) is None:
            raise ConfigError(f"data.{name}=null: data={data.source} generates its bars, it needs a number")
    if data.train_frac + data.val_frac >= 1:
        raise ConfigError(f"data.train_frac={number(data.train_frac)}, data.val_frac={number(data.val_frac)}: "
                          "their sum must be below 1 (the rest is the test segment)")
    if train.init_from:
        check_continuable(validation.kind, train.n_seeds, f"train.init_from={train.init_from}")


def check_continuable(kind: str, n_seeds: int, what: str) -> None:
    """A run that continues a saved agent (``train.init_from``, every interval of ``scheduler=pbt``)
    trains one agent: holdout validation, one seed."""
    if kind != "holdout" or n_seeds != 1:
        raise ConfigError(f"{what} with validation={kind} and train.n_seeds={n_seeds}: it continues one agent's "
                          "saved model, so it needs validation=holdout and train.n_seeds=1")


def unknown_key(schema: type, values: dict[str, Any], prefix: str) -> None:
    """Raise ConfigError naming the first key of ``values`` that ``schema`` does not have."""
    names = {f.name for f in dataclasses.fields(schema)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{prefix}{'.' if prefix else ''}{unknown[0]}: unknown key (known: {', '.join(sorted(names))})")
